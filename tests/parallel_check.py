"""Data-parallel train steps == the single-device train step, on 8 forced CPU devices.

Run as a script in a fresh process (``tests/test_parallel.py`` does this), because the
device count must be fixed before JAX is imported::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 JAX_PLATFORMS=cpu python tests/parallel_check.py [CONFIG ...]

For each configuration (a recipe, a fresh ``TrainState`` and one global batch) it runs
``STEPS`` train steps three ways, each called as ``step(state, batch, step=i)``:

(a) ``steps.make_train_step(recipe)`` (jit on one device),
(b) ``parallel.jit_train_step(mesh, recipe)`` with ``parallel.replicate``\\ d state and a
    ``parallel.shard_batch``\\ ed batch over the 8-device Mesh,
(c) ``parallel.pmap_train_step(recipe)`` with ``replicate_for_pmap(pmap_state(state))`` and a
    ``split_for_pmap`` batch,

and checks that every leaf of every network's params / collections / opt_state / ema_params /
ema_collections, ``extra``, ``step``, ``rng`` and every metric of every step agree (and that the
pmap state is identical on all devices, the mesh state replicated, the trained networks moved).
Exits 0 when they do; otherwise prints each mismatch and exits 1.

Configurations: DCGAN with BatchNorm in G and D and ACGAN's class losses (labels in the batch,
aux head); WGAN-GP style penalties (gp eager + r1 lazy every 2: the Dmain-only and the Dmain+Dreg
variants both run); DiffAugment ("color", "translation", "cutout") + instance noise (per-example
keys of the global batch) + DRAGAN (global std and noise); relativistic average loss (global
batch means) with historical averaging (``extra``) and n_critic=2 (two real batches per step);
the toy cycle GAN of ``tests/cycle_toy.py`` (4 networks); CycleGAN with its image pools;
StyleGAN2-ADA; pix2pix (BatchNorm U-Net with dropout, its G phase training through the forward
pass its D phase kept).

Adam divides by sqrt(v): a gradient component that is exactly zero in exact arithmetic but a
rounding residue in float32 (e.g. D's output bias under a relativistic loss, whose D loss is
invariant to adding a constant to every logit) becomes a step of ~lr whose sign depends on the
reduction order, so sharded and unsharded runs then differ by ~lr. Those configurations use SGD.

Run time is compile time (~45 small programs, each run twice): the check sets XLA:CPU flags that
compile ~5x faster (``FAST_COMPILE_XLA_FLAGS``) and compiles the configurations ahead of time in
``WORKERS`` threads, while the main thread runs the multi-device steps one configuration at a
time (two programs with collectives running at once can deadlock XLA:CPU's in-process
all-reduce). ``python tests/parallel_check.py cycle_toy dcgan_bn_acgan`` checks only those.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import time
import traceback
from pathlib import Path

NUM_DEVICES = 8
GLOBAL_BATCH = 16
STEPS = 2
RTOL = 1e-5
ATOL = 1e-5
IMAGE = (16, 16, 1)
#: configurations checked concurrently
WORKERS = int(os.environ.get("PARALLEL_CHECK_WORKERS", "0")) or max(1, min(4, os.cpu_count() or 1))
#: The check compiles ~45 small programs and runs each twice: compile time is all that counts.
#: These XLA:CPU flags cut it about 5x (every way of running uses the same flags, so the
#: comparison is unaffected); PARALLEL_CHECK_XLA_FLAGS overrides them ("" for XLA's defaults,
#: e.g. with a jaxlib that no longer knows one of them: unknown XLA flags abort the process).
FAST_COMPILE_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false --xla_llvm_disable_expensive_passes=true"
CONFIGS = ("dcgan_bn_acgan", "mlp_gp_r1_lazy", "dcgan_diffaug_noise_dragan", "mlp_relativistic_hist_n_critic2", "cycle_toy",
           "cyclegan_pool", "stylegan2_ada", "pix2pix_kept")


def main(argv: list[str]) -> int:
    flags = os.environ.get("XLA_FLAGS", "")
    if f"--xla_force_host_platform_device_count={NUM_DEVICES}" not in flags:
        print(f"FAIL: run with XLA_FLAGS=--xla_force_host_platform_device_count={NUM_DEVICES} (got {flags!r})")
        return 2
    extra = os.environ.get("PARALLEL_CHECK_XLA_FLAGS", FAST_COMPILE_XLA_FLAGS)
    if extra:
        os.environ["XLA_FLAGS"] = f"{flags} {extra}"
    selected = tuple(argv) or CONFIGS
    unknown = set(selected) - set(CONFIGS)
    if unknown:
        print(f"FAIL: unknown configurations {sorted(unknown)}; choose from {CONFIGS}")
        return 2

    import jax
    import numpy as np
    import optax

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import cycle_toy

    from gan_jax import parallel, regularizers, steps
    from gan_jax.engine import EMA
    from gan_jax.models import (
        DCGANDiscriminator,
        DCGANGenerator,
        MLPDiscriminator,
        MLPGenerator,
    )
    from gan_jax.recipes.classic import ClassicSpec, classic_gan, classic_recipe
    from gan_jax.regularizers import Penalty

    devices = jax.devices()
    print(f"backend={jax.default_backend()} devices={len(devices)} local_devices={jax.local_device_count()} "
          f"XLA_FLAGS={os.environ['XLA_FLAGS']!r} workers={WORKERS}")
    if len(devices) != NUM_DEVICES or jax.default_backend() != "cpu":
        print(f"FAIL: expected {NUM_DEVICES} CPU devices, got {devices}")
        return 2
    mesh = parallel.make_mesh()
    print(f"mesh axis_names={mesh.axis_names} shape={dict(mesh.shape)} size={mesh.devices.size}")
    if mesh.devices.size != NUM_DEVICES or mesh.axis_names != (parallel.DATA_AXIS,):
        print(f"FAIL: make_mesh() gave {mesh}")
        return 2

    # ------------------------------------------------------------------------- configurations
    # Each returns (recipe, state, batch, notes); notes: what the configuration must exercise.

    def classic(seed, generator, discriminator, tx, spec, data_shape):
        # jitted initialisation: one compilation instead of one per initialiser (same values)
        state = jax.jit(lambda rng: classic_gan(generator=generator, discriminator=discriminator, g_tx=tx, d_tx=tx, spec=spec,
                                                data_shape=data_shape, rng=rng)[1])(jax.random.PRNGKey(seed))
        return classic_recipe(spec), state

    def images(seed, k=1):
        shape = (GLOBAL_BATCH, *IMAGE) if k == 1 else (k, GLOBAL_BATCH, *IMAGE)
        return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)

    def points(seed, k=1):
        shape = (GLOBAL_BATCH, 2) if k == 1 else (k, GLOBAL_BATCH, 2)
        return np.random.default_rng(seed).normal(size=shape).astype(np.float32)

    def dcgan_g(**kw):
        return DCGANGenerator(image_shape=IMAGE, width=4, **kw)

    def mlp_g():
        return MLPGenerator(output_shape=(2,), hidden=(16, 16), output_activation="linear")

    def dcgan_bn_acgan():
        # BatchNorm in G and D (statistics over the global batch) and ACGAN's class losses
        spec = ClassicSpec(z_dim=16, ema=EMA(0.9), num_classes=4, aux_weight=1.0)
        recipe, state = classic(0, dcgan_g(num_classes=4), DCGANDiscriminator(width=4, batch_norm=True, aux_classes=4),
                                steps.adam(1e-3), spec, IMAGE)
        y = np.random.default_rng(0).integers(0, 4, (GLOBAL_BATCH,)).astype(np.int32)
        return recipe, state, {"x": images(0), "y": y}, {"batch_stats": ("G", "D"), "ema_collections": ("G",),
                                                         "metric_steps": {"loss/d_aux": (0, 1), "loss/g_aux": (0, 1)}}

    def mlp_gp_r1_lazy():
        # gp in Dmain every step, r1 in a lazy Dreg phase (steps 0, 2, ...): both compiled variants run.
        # Adam is safe here: D's output-bias gradient is exactly 0 (the Wasserstein loss has 16 x 1/16
        # minus 16 x 1/16, exact in any order; the penalties do not depend on the bias at all).
        spec = ClassicSpec(z_dim=4, loss="wasserstein", ema=None, d_penalties=(
            Penalty("gp", regularizers.gradient_penalty, 10.0), Penalty("r1", regularizers.r1_penalty, 5.0, every=2)))
        recipe, state = classic(2, mlp_g(), MLPDiscriminator(hidden=(16, 16)), steps.adam(1e-2), spec, (2,))
        return recipe, state, {"x": points(2)}, {"metric_steps": {"penalty/gp": (0, 1), "penalty/r1": (0,)}, "lazy": ("Dreg",), "variants": 2}

    def dcgan_diffaug_noise_dragan():
        # DiffAugment and instance noise draw per-example keys of the global batch; DRAGAN (on what D
        # sees: augmented, noisy reals) its noise and its std over the global batch. D without
        # BatchNorm (per-example input gradients).
        spec = ClassicSpec(z_dim=16, ema=EMA(0.9), augment=("color", "translation", "cutout"), instance_noise=0.1,
                           instance_noise_anneal=10, d_penalties=(Penalty("dragan", regularizers.dragan_penalty, 10.0),))
        recipe, state = classic(4, dcgan_g(), DCGANDiscriminator(width=4, batch_norm=False), steps.adam(1e-3), spec, IMAGE)
        return recipe, state, {"x": images(4)}, {"batch_stats": ("G",), "metric_steps": {"penalty/dragan": (0, 1)}}

    def mlp_relativistic_hist_n_critic2():
        # SGD: the relativistic D loss is invariant to a constant added to every logit, so the
        # gradient of D's output bias is exactly 0 in exact arithmetic (Adam would amplify its
        # rounding residue to ~lr). Two D updates per step, each on its own real batch.
        spec = ClassicSpec(z_dim=4, loss="relativistic_avg", n_critic=2, ema=EMA(0.5), hist_weight=0.1)
        recipe, state = classic(5, mlp_g(), MLPDiscriminator(hidden=(16, 16)), optax.sgd(0.1), spec, (2,))
        return recipe, state, {"x": points(5, k=2)}, {"extra": ("hist",), "batches_per_step": 2,
                                                     "metric_steps": {"penalty/d_hist": (0, 1)}}

    def cycle():
        state = jax.jit(lambda rng: cycle_toy.make_cycle_toy(rng, hidden=(16, 16), ema=EMA(0.5))[1])(jax.random.PRNGKey(7))
        recipe = cycle_toy.cycle_recipe()
        return recipe, state, cycle_toy.sample_batch(np.random.default_rng(7), GLOBAL_BATCH), {"nets": ("G_ab", "G_ba", "D_a", "D_b")}

    def cyclegan_pool():
        # CycleGAN: ResNet generators and PatchGANs with InstanceNorm, fakes shared between phases and
        # the image pools (4 images < the global batch of 16: the pools fill at step 0, swap at step 1)
        from gan_jax.models.translation import PatchGANDiscriminator, ResNetGenerator
        from gan_jax.recipes.translation import CycleGANSpec, cyclegan

        spec = CycleGANSpec(pool_size=4)
        tx = optax.sgd(1e-2)
        # ngf 4, not 2: with 2 channels, InstanceNorm over nearly constant maps amplified float reassociation
        # to 3e-4 relative in G_ba's step-1 gradient on an AMD EPYC (with or without the pool), beyond rtol
        g, d = ResNetGenerator(out_channels=1, ngf=4, n_blocks=1), PatchGANDiscriminator(ndf=2, n_layers=2, norm="instance")
        build = lambda rng: cyclegan(generators=(g, g), discriminators=(d, d), g_tx=tx, d_tx=tx, spec=spec, shape_a=IMAGE, shape_b=IMAGE,
                                     rng=rng)
        recipe, state = build(jax.random.PRNGKey(8))[0], jax.jit(lambda rng: build(rng)[1])(jax.random.PRNGKey(8))
        return recipe, state, {"a": images(8), "b": images(9)}, {"nets": ("G_ab", "G_ba", "D_a", "D_b"), "extra": ("pools",)}

    def pix2pix_kept():
        # pix2pix: a U-Net with BatchNorm (global statistics under pmap) and dropout (keys of the global
        # batch), D on concat(source, image); Gmain trains through the G forward pass Dmain kept
        # (ctx.apply_kept / ctx.replay: a pullback made in one phase, used in the next)
        from gan_jax.models.translation import PatchGANDiscriminator, UNetGenerator
        from gan_jax.recipes.translation import Pix2PixSpec, pix2pix

        shape = (32, 32, 1)
        g = UNetGenerator(out_channels=1, num_downs=5, ngf=2, norm="batch", dropout=0.5)
        d = PatchGANDiscriminator(ndf=2, n_layers=2, norm="batch")
        tx = optax.sgd(1e-2)
        build = lambda rng: pix2pix(generator=g, discriminator=d, g_tx=tx, d_tx=tx, spec=Pix2PixSpec(), shape_a=shape, shape_b=shape, rng=rng)
        recipe, state = build(jax.random.PRNGKey(11))[0], jax.jit(lambda rng: build(rng)[1])(jax.random.PRNGKey(11))
        rng = np.random.default_rng(11)
        batch = {k: rng.integers(0, 256, (GLOBAL_BATCH, *shape), dtype=np.uint8) for k in "ab"}
        return recipe, state, batch, {"nets": ("G", "D")}

    def stylegan2_ada():
        # StyleGAN2-ADA: minibatch std over the global batch (all_gather under pmap), style mixing, noise
        # inputs, w_avg / pl_mean / ADA's p in extra (global means), lazy Greg and Dreg every 2 steps,
        # R1 and the path length through second-order gradients, p adjusted after every step
        from gan_jax.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator, num_ws
        from gan_jax.recipes.stylegan2 import StyleGAN2Spec, stylegan2

        spec = StyleGAN2Spec(z_dim=8, num_ws=num_ws(16), batch_size=GLOBAL_BATCH, g_reg_every=2, d_reg_every=2, ema=EMA(0.9),
                             augment="ada", augment_p=0.5, ada_interval=1, ada_kimg=0.1)
        g = StyleGAN2Generator(image_shape=IMAGE, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=4)
        d = StyleGAN2Discriminator(resolution=16, channel_base=64, channel_max=4, mbstd_group=4)
        tx = optax.sgd(1e-2)
        build = lambda rng: stylegan2(generator=g, discriminator=d, g_tx=tx, d_tx=tx, spec=spec, image_shape=IMAGE, rng=rng)
        recipe, state = build(jax.random.PRNGKey(9))[0], jax.jit(lambda rng: build(rng)[1])(jax.random.PRNGKey(9))
        return recipe, state, {"x": images(10)}, {"extra": ("w_avg", "pl_mean", "ada"), "lazy": ("Greg", "Dreg"), "variants": 2,
                                                  "metric_steps": {"loss/g_pl": (0,), "penalty/r1": (0,)}}

    makers = {"dcgan_bn_acgan": dcgan_bn_acgan, "mlp_gp_r1_lazy": mlp_gp_r1_lazy,
              "dcgan_diffaug_noise_dragan": dcgan_diffaug_noise_dragan,
              "mlp_relativistic_hist_n_critic2": mlp_relativistic_hist_n_critic2, "cycle_toy": cycle, "cyclegan_pool": cyclegan_pool,
              "stylegan2_ada": stylegan2_ada, "pix2pix_kept": pix2pix_kept}

    # ------------------------------------------------------------------------- comparison

    def arrays(state):
        """Every array of the state, by name (the networks' static modules differ under pmap)."""
        return {
            "step": state.step,
            "rng": state.rng,
            "extra": state.extra,
            "nets": {
                name: {"params": net.params, "collections": net.collections, "opt_state": net.opt_state,
                       "ema_params": net.ema_params, "ema_collections": net.ema_collections}
                for name, net in state.nets.items()
            },
        }

    def compare(out, config, what, ref, got):
        ref_leaves, ref_def = jax.tree_util.tree_flatten_with_path(ref)
        got_leaves, got_def = jax.tree_util.tree_flatten_with_path(got)
        if ref_def != got_def:
            out.fail(f"[{config}] {what}: tree structure differs:\n  {ref_def}\n  {got_def}")
            return
        worst = 0.0
        for (path, a), (_, b) in zip(ref_leaves, got_leaves):
            a, b = np.asarray(a), np.asarray(b)
            name = f"[{config}] {what}{jax.tree_util.keystr(path)}"
            if a.shape != b.shape or a.dtype != b.dtype:
                out.fail(f"{name}: shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
                continue
            if not np.allclose(a, b, rtol=RTOL, atol=ATOL):
                diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
                out.fail(f"{name}: max abs diff {diff.max():.3g} (ref max |x| {np.abs(a).max():.3g})")
            elif a.size and np.issubdtype(a.dtype, np.floating):
                worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
        out.print(f"  [{config}] {what}: {len(ref_leaves)} leaves compared, max abs diff {worst:.3g}")

    def moved(before, after):
        return any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))

    class Report:
        """One configuration's printed lines and failures (configurations run in threads)."""

        def __init__(self):
            self.lines: list[str] = []
            self.failures: list[str] = []

        def print(self, line):
            self.lines.append(line)

        def fail(self, line):
            self.failures.append(line)

    def prepare(config):
        """Everything but the multi-device runs: the configuration, the three steps compiled for
        every variant the run needs (ahead of time), and the single-device run (a)."""
        out = Report()
        t0 = time.perf_counter()
        recipe, state, batch, notes = makers[config]()
        k = recipe.batches_per_step
        out.print(f"{config}: recipe {recipe.name!r} phases {[p.name for p in recipe.phases]}, networks {sorted(state.nets)}, "
                  f"global batch {({n: (v.shape, str(v.dtype)) for n, v in batch.items()})}, batches_per_step={k}")
        for net in notes.get("batch_stats", ()):
            if "batch_stats" not in state.nets[net].collections:
                out.fail(f"[{config}] expected BatchNorm statistics in {net}'s collections")
        for net in notes.get("ema_collections", ()):
            if not state.nets[net].ema_collections:
                out.fail(f"[{config}] expected EMA collections in {net}")
        for key in notes.get("extra", ()):
            if key not in state.extra:
                out.fail(f"[{config}] expected {key!r} in state.extra")
        if k != notes.get("batches_per_step", 1):
            out.fail(f"[{config}] batches_per_step is {k}, expected {notes.get('batches_per_step', 1)}")
        if tuple(p.name for p in recipe.lazy_phases) != notes.get("lazy", ()):
            out.fail(f"[{config}] lazy phases {[p.name for p in recipe.lazy_phases]}, expected {notes.get('lazy', ())}")
        if sorted(state.nets) != sorted(notes.get("nets", ("G", "D"))):
            out.fail(f"[{config}] networks {sorted(state.nets)}, expected {sorted(notes.get('nets', ('G', 'D')))}")
        variants = sorted({recipe.active_at(i) for i in range(STEPS)}, key=sorted)
        if len(variants) != notes.get("variants", 1):
            out.fail(f"[{config}] {len(variants)} compiled variants in {STEPS} steps, expected {notes.get('variants', 1)}")

        # (a) one device (not donated: ``state`` is the start of (b) and (c) too)
        step_a = steps.make_train_step(recipe, donate=False)
        # (b) jit over the mesh: replicated state, sharded batch
        step_b = parallel.jit_train_step(mesh, recipe)
        s_b = parallel.replicate(mesh, state)
        batch_b = parallel.shard_batch(mesh, batch, k)
        # (c) pmap: axis-named state, one copy per device, batch split along a device axis
        step_c = parallel.pmap_train_step(recipe)
        s_c = parallel.replicate_for_pmap(parallel.pmap_state(state))
        batch_c = parallel.split_for_pmap(batch, NUM_DEVICES, k)
        # Compile ahead of time (the jit caches keep the executables); in this thread, while the
        # main thread runs another configuration.
        for active in variants:
            step_a.variant(active).lower(state, batch).compile()
            step_b.variant(active).lower(s_b, batch_b).compile()
            step_c.variant(active).lower(s_c, batch_c).compile()

        s_a, metrics_a = state, []
        for i in range(STEPS):
            s_a, m = step_a(s_a, batch, step=i)
            metrics_a.append(m)
        jax.block_until_ready((s_a, metrics_a))
        return {"config": config, "out": out, "t0": t0, "recipe": recipe, "state": state, "batch": batch, "notes": notes, "k": k,
                "s_a": s_a, "metrics_a": metrics_a, "step_b": step_b, "s_b": s_b, "batch_b": batch_b, "step_c": step_c, "s_c": s_c,
                "batch_c": batch_c}

    def finish(config, out, t0, recipe, state, batch, notes, k, s_a, metrics_a, step_b, s_b, batch_b, step_c, s_c, batch_c) -> Report:
        """The multi-device runs (b) and (c), one at a time, and the comparisons."""
        for name, v in batch_b.items():
            shard_shape = v.sharding.shard_shape(v.shape)
            full = batch[name].shape
            expected = (full[0] // NUM_DEVICES, *full[1:]) if k == 1 else (k, full[1] // NUM_DEVICES, *full[2:])
            if shard_shape != expected or len(v.sharding.device_set) != NUM_DEVICES:
                out.fail(f"[{config}] shard_batch[{name!r}]: shard shape {shard_shape}, expected {expected}")
        metrics_b = []
        for i in range(STEPS):
            s_b, m = step_b(s_b, batch_b, step=i)
            metrics_b.append(m)
        for path, leaf in jax.tree_util.tree_flatten_with_path(arrays(s_b))[0]:
            if not leaf.sharding.is_fully_replicated or len(leaf.sharding.device_set) != NUM_DEVICES:
                out.fail(f"[{config}] jit_train_step output {jax.tree_util.keystr(path)} is not replicated over the mesh: {leaf.sharding}")
                break

        metrics_c = []
        for i in range(STEPS):
            s_c, m = step_c(s_c, batch_c, step=i)
            metrics_c.append(m)
        # every device holds the same state after the steps
        for path, x in jax.tree_util.tree_flatten_with_path(arrays(s_c))[0]:
            x = np.asarray(x)
            if x.shape[0] != NUM_DEVICES or not all(np.array_equal(x[0], x[i]) for i in range(NUM_DEVICES)):
                out.fail(f"[{config}] pmap state differs across devices at {jax.tree_util.keystr(path)}")
        # device 0's copy, on the host (parallel.unreplicate would compile a slice per leaf shape)
        s_c = jax.tree.map(lambda x: np.asarray(x)[0], arrays(s_c))
        metrics_c = [jax.tree.map(lambda x: np.asarray(x)[0], m) for m in metrics_c]

        ref = arrays(s_a)
        compare(out, config, "jit_mesh state", ref, arrays(s_b))
        compare(out, config, "pmap state", ref, s_c)
        for i in range(STEPS):
            compare(out, config, f"jit_mesh metrics[step {i}]", metrics_a[i], metrics_b[i])
            compare(out, config, f"pmap metrics[step {i}]", metrics_a[i], metrics_c[i])

        # sanity: the steps did something, and what the configuration is about ran
        if int(s_a.step) != STEPS:
            out.fail(f"[{config}] single-device step is {int(s_a.step)}, expected {STEPS}")
        updated = sorted({n for p in recipe.phases for n in p.updates})
        initial = arrays(state)
        for name in updated:
            if not moved(initial["nets"][name]["params"], ref["nets"][name]["params"]):
                out.fail(f"[{config}] {name} parameters did not change")
        for metric, expected_steps in notes.get("metric_steps", {}).items():
            got = tuple(i for i in range(STEPS) if metric in metrics_a[i])
            if got != expected_steps:
                out.fail(f"[{config}] metric {metric!r} at steps {got}, expected {expected_steps}")
        out.print(f"  [{config}] trained {updated}; {time.perf_counter() - t0:.1f} s since its start")
        return out

    # XLA:CPU compiles a program on one core and releases the GIL meanwhile, so worker threads
    # build and compile the configurations concurrently. Programs with collectives must not run
    # concurrently (the in-process CPU all-reduce can deadlock), so the main thread runs every
    # multi-device step, one configuration after the other, in order.
    failures: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(prepare, config) for config in selected]
        for config, future in zip(selected, futures):
            try:
                out = finish(**future.result())
            except Exception:  # noqa: BLE001 -- report it with the other configurations' results
                print(f"{config}: raised\n{traceback.format_exc()}", flush=True)
                failures.append(f"[{config}] raised (traceback above)")
                continue
            for line in out.lines:
                print(line, flush=True)
            failures += out.failures

    if failures:
        print(f"FAIL: {len(failures)} mismatches between single-device and data-parallel steps (rtol={RTOL}, atol={ATOL}):")
        for f in failures:
            print("  " + f)
        return 1
    print(f"OK: single-device, jit+mesh and pmap train steps agree for {len(selected)} configurations")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
