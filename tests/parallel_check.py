"""Data-parallel train steps == the single-device train step, on 8 forced CPU devices.

Run as a script in a fresh process (``tests/test_parallel.py`` does this), because the
device count must be fixed before JAX is imported::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 JAX_PLATFORMS=cpu python tests/parallel_check.py

For each configuration it runs ``STEPS`` train steps on one global batch three ways:

(a) ``jax.jit(steps.train_step)`` on one device,
(b) ``parallel.jit_train_step(make_mesh())`` with a replicated state and a sharded batch,
(c) ``parallel.pmap_train_step()`` with ``replicate_for_pmap(pmap_state(state))`` and a split batch,

and checks that parameters, optimizer states, BatchNorm statistics, EMA parameters and
every metric agree. Exits 0 when they do; otherwise prints each mismatch and exits 1.
"""

from __future__ import annotations

import os
import sys

NUM_DEVICES = 8
GLOBAL_BATCH = 16
STEPS = 2
RTOL = 1e-5
ATOL = 1e-5


def main() -> int:
    flags = os.environ.get("XLA_FLAGS", "")
    if f"--xla_force_host_platform_device_count={NUM_DEVICES}" not in flags:
        print(f"FAIL: run with XLA_FLAGS=--xla_force_host_platform_device_count={NUM_DEVICES} (got {flags!r})")
        return 2

    import jax
    import numpy as np

    from gan_jax import parallel, steps
    from gan_jax.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
    from gan_jax.state import GANSpec, adam, create_state

    devices = jax.devices()
    print(f"backend={jax.default_backend()} devices={len(devices)} local_devices={jax.local_device_count()}")
    if len(devices) != NUM_DEVICES or jax.default_backend() != "cpu":
        print(f"FAIL: expected {NUM_DEVICES} CPU devices, got {devices}")
        return 2
    mesh = parallel.make_mesh()
    print(f"mesh axis_names={mesh.axis_names} shape={dict(mesh.shape)} size={mesh.devices.size}")
    if mesh.devices.size != NUM_DEVICES or mesh.axis_names != (parallel.DATA_AXIS,):
        print(f"FAIL: make_mesh() gave {mesh}")
        return 2

    def dcgan():
        shape = (16, 16, 1)
        g_tx = d_tx = adam(1e-3)
        # jitted initialisation: one compilation instead of one per initialiser (same values)
        state = jax.jit(
            lambda rng: create_state(
                generator=DCGANGenerator(image_shape=shape, width=8),
                discriminator=DCGANDiscriminator(width=8, batch_norm=True),
                g_tx=g_tx,
                d_tx=d_tx,
                spec=GANSpec(z_dim=16, loss="nonsaturating", ema_decay=0.9),
                data_shape=shape,
                rng=rng,
            )
        )(jax.random.PRNGKey(0))
        x = np.random.default_rng(0).integers(0, 256, (GLOBAL_BATCH, *shape), dtype=np.uint8)
        return state, {"x": x}, 1

    def mlp():
        n_critic = 2
        state = create_state(
            generator=MLPGenerator(output_shape=(2,), hidden=(16, 16), output_activation="linear"),
            discriminator=MLPDiscriminator(hidden=(16, 16)),
            g_tx=adam(1e-2),
            d_tx=adam(1e-2),
            spec=GANSpec(z_dim=4, loss="least_squares", n_critic=n_critic, ema_decay=0.5),
            data_shape=(2,),
            rng=jax.random.PRNGKey(1),
        )
        x = np.random.default_rng(1).normal(size=(n_critic, GLOBAL_BATCH, 2)).astype(np.float32)
        return state, {"x": x}, n_critic

    def arrays(state):
        return {
            "step": state.step,
            "g_params": state.g_params,
            "d_params": state.d_params,
            "g_state": state.g_state,
            "d_state": state.d_state,
            "g_opt_state": state.g_opt_state,
            "d_opt_state": state.d_opt_state,
            "ema_params": state.ema_params,
            "rng": state.rng,
        }

    failures: list[str] = []

    def compare(config, what, ref, got):
        ref_leaves, ref_def = jax.tree_util.tree_flatten_with_path(ref)
        got_leaves, got_def = jax.tree_util.tree_flatten_with_path(got)
        if ref_def != got_def:
            failures.append(f"[{config}] {what}: tree structure differs:\n  {ref_def}\n  {got_def}")
            return
        worst = 0.0
        for (path, a), (_, b) in zip(ref_leaves, got_leaves):
            a, b = np.asarray(a), np.asarray(b)
            name = f"[{config}] {what}{jax.tree_util.keystr(path)}"
            if a.shape != b.shape or a.dtype != b.dtype:
                failures.append(f"{name}: shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
                continue
            if not np.allclose(a, b, rtol=RTOL, atol=ATOL):
                diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
                failures.append(f"{name}: max abs diff {diff.max():.3g} (ref max |x| {np.abs(a).max():.3g})")
            elif a.size and np.issubdtype(a.dtype, np.floating):
                worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
        print(f"  [{config}] {what}: {len(ref_leaves)} leaves compared, max abs diff {worst:.3g}")

    for config, make in (("dcgan_bn", dcgan), ("mlp_n_critic2", mlp)):
        state, batch, n_critic = make()
        rng = jax.random.PRNGKey(42)
        print(f"{config}: global batch {batch['x'].shape} {batch['x'].dtype}, n_critic={n_critic}")
        if config == "dcgan_bn" and not (state.g_state and state.d_state):
            failures.append(f"[{config}] expected BatchNorm statistics in both G and D")

        # (a) one device
        single = jax.jit(steps.train_step)
        s_a, metrics_a = state, []
        for _ in range(STEPS):
            s_a, m = single(s_a, batch, rng)
            metrics_a.append(m)

        # (b) jit over the mesh: replicated state and rng, sharded batch
        step_b = parallel.jit_train_step(mesh, n_critic=n_critic)
        s_b = parallel.replicate(mesh, state)
        rng_b = parallel.replicate(mesh, rng)
        batch_b = parallel.shard_batch(mesh, batch, n_critic=n_critic)
        shard_shape = batch_b["x"].sharding.shard_shape(batch_b["x"].shape)
        expected_shard = (GLOBAL_BATCH // NUM_DEVICES, *batch["x"].shape[1:]) if n_critic == 1 else (
            n_critic, GLOBAL_BATCH // NUM_DEVICES, *batch["x"].shape[2:])
        if shard_shape != expected_shard or len(batch_b["x"].sharding.device_set) != NUM_DEVICES:
            failures.append(f"[{config}] shard_batch: shard shape {shard_shape}, expected {expected_shard}")
        metrics_b = []
        for _ in range(STEPS):
            s_b, m = step_b(s_b, batch_b, rng_b)
            metrics_b.append(m)
        leaf = jax.tree.leaves(s_b.d_params)[0]
        if not leaf.sharding.is_fully_replicated or len(leaf.sharding.device_set) != NUM_DEVICES:
            failures.append(f"[{config}] jit_train_step output is not replicated over the mesh: {leaf.sharding}")

        # (c) pmap: axis-named state, one copy per device, batch split along a device axis
        step_c = parallel.pmap_train_step()
        s_c = parallel.replicate_for_pmap(parallel.pmap_state(state))
        batch_c = parallel.split_for_pmap(batch, NUM_DEVICES, n_critic=n_critic)
        metrics_c = []
        for _ in range(STEPS):
            s_c, m = step_c(s_c, batch_c, rng)
            metrics_c.append(m)
        # every device holds the same state after the step
        for path, x in jax.tree_util.tree_flatten_with_path(arrays(s_c))[0]:
            x = np.asarray(x)
            if x.shape[0] != NUM_DEVICES or not all(np.array_equal(x[0], x[i]) for i in range(NUM_DEVICES)):
                failures.append(f"[{config}] pmap state differs across devices at {jax.tree_util.keystr(path)}")
        s_c = parallel.unreplicate(s_c)
        metrics_c = [parallel.unreplicate(m) for m in metrics_c]

        ref = arrays(s_a)
        compare(config, "jit_mesh state", ref, arrays(s_b))
        compare(config, "pmap state", ref, arrays(s_c))
        for i in range(STEPS):
            compare(config, f"jit_mesh metrics[step {i}]", metrics_a[i], metrics_b[i])
            compare(config, f"pmap metrics[step {i}]", metrics_a[i], metrics_c[i])
        # sanity: the steps did something
        if int(s_a.step) != STEPS:
            failures.append(f"[{config}] single-device step is {int(s_a.step)}, expected {STEPS}")
        moved = any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(s_a.d_params), jax.tree.leaves(state.d_params)))
        if not moved:
            failures.append(f"[{config}] D parameters did not change")

    if failures:
        print(f"FAIL: {len(failures)} mismatches between single-device and data-parallel steps (rtol={RTOL}, atol={ATOL}):")
        for f in failures:
            print("  " + f)
        return 1
    print("OK: single-device, jit+mesh and pmap train steps agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
