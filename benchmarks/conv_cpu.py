"""DCGAN-64 convolutions on XLA:CPU: ``lax`` convolution vs the formulations of
``gan_jax.models.fast_conv`` (Winograd, col2im), per layer and for the whole train step.

    python benchmarks/conv_cpu.py layers [--batch 64] [--reps 7] [--impls xla,winograd,col2im] [--modes fwd_bwd,fwd]
    python benchmarks/conv_cpu.py step [--batch 64] [--reps 5] [--k 2] [--variants jit,jit_fast,eager]
        [--g-impl auto] [--d-impl auto] [--out results.jsonl]
    python benchmarks/conv_cpu.py --quick {layers,step}      # tiny sizes, a smoke run
    python benchmarks/conv_cpu.py --quick step --variants jit,jit_fast   # without PyTorch

``layers``: for every convolution of DCGAN-64 (width 64, batch ``--batch``) -- the
generator's four ``UpConv2x`` layers (4x4x512 -> 8x8x256, ..., 32x32x64 -> 64x64x3; the
inner 2x2 stride-1 convolution is what changes) and the discriminator's four
``Conv(4x4, stride 2, pad 1)`` layers (64x64x3 -> 32x32x64, ..., 8x8x256 -> 4x4x512) --
one jit-compiled call of the layer for each ``impl`` (``FastUpConv2x(impl=...)`` /
``FastConv(impl=...)``; ``xla`` is exactly what ``UpConv2x`` / ``nn.Conv`` compute;
``col2im`` exists for the up-sampling layers only and is skipped for D's). Modes:
``fwd_bwd`` = output + the VJP w.r.t. params and input for a fixed random cotangent; ``fwd`` = output only; ``wgrad`` = output + params VJP only (D in the D
update); ``dgrad`` = output + input VJP only (D in the G update). All impls of one layer
and mode are compiled and warmed up first, then timed in ``--reps`` interleaved rounds
(xla, winograd, ..., xla, winograd, ...); one JSON line per (layer, mode, impl) with the
median, min, ``speedup_vs_xla`` (= median xla / median impl, same rounds) and the max
abs / relative difference of the output and every gradient against ``xla``, and
``auto_picks``: what ``impl="auto"`` compiles to on the CPU.

``step``: the full train step of ``benchmarks/step_throughput.py`` (one D update on a real
and a fake batch, one G update, Adam, EMA) for
``jit`` (the default ``DCGANGenerator`` / ``DCGANDiscriminator``, ``conv_impl="auto"``),
``jit_fast`` (the same models with ``conv_impl=--g-impl`` / ``--d-impl``, i.e.
``FastUpConv2x(impl=...)`` / ``FastConv(impl=...)``; same parameter tree, checked;
``fast:xla:xla`` is ``lax``'s convolutions everywhere) and the PyTorch ``eager`` step
of ``benchmarks/torch_dcgan.py``, in one process, round-robin (``--reps`` rounds of
``--k`` steps each). ``--variants`` may name several fast variants as
``fast:<g impl>:<d impl>`` (``jit_fast`` = ``fast:<--g-impl>:<--d-impl>``). One JSON line
per variant plus a ``step_summary`` line with the images/s ratios (every fast variant vs
``jit`` and ``eager``, and ``jit`` vs ``eager``) as the ratio of the medians and as the
median of the per-round ratios (a ratio taken within one round shares its background
load). The machine this was written on is shared: look at ``loadavg``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax.models import dcgan  # noqa: E402
from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from gan_jax.models.fast_conv import FastConv, FastUpConv2x, auto_impl, auto_upconv_impl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


# ----------------------------------------------------------------------------- per-layer


def dcgan64_layers(batch: int, width: int = 64, size: int = 64) -> list[dict[str, Any]]:
    """Every convolution of DCGAN-``size`` (G: UpConv2x stages; D: 4x4 stride-2 convs)."""
    base, n = dcgan._stages(size)
    layers = []
    ch, hw = width * 2 ** (n - 1), base
    for i in range(n):
        out = 3 if i == n - 1 else ch // 2
        layers.append({"layer": f"G.up{i}", "kind": "up", "in_shape": (batch, hw, hw, ch), "features": out, "use_bias": i == n - 1})
        ch, hw = out, hw * 2
    cin, hw = 3, size
    for i in range(n):
        out = width * 2**i
        layers.append({"layer": f"D.conv{i}", "kind": "down", "in_shape": (batch, hw, hw, cin), "features": out, "use_bias": i == 0})
        cin, hw = out, hw // 2
    return layers


def _module(spec: dict[str, Any], impl: str):
    if spec["kind"] == "up":
        return FastUpConv2x(spec["features"], use_bias=spec["use_bias"], impl=impl)
    return FastConv(spec["features"], (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=spec["use_bias"], impl=impl)


def _fn(module, mode: str):
    def run(params, x, ct):
        if mode == "fwd":
            return module.apply(params, x)
        if mode == "wgrad":
            y, vjp = jax.vjp(lambda p: module.apply(p, x), params)
        elif mode == "dgrad":
            y, vjp = jax.vjp(lambda x: module.apply(params, x), x)
        else:
            y, vjp = jax.vjp(lambda p, x: module.apply(p, x), params, x)
        return y, vjp(ct)

    return jax.jit(run)


def run_layers(args) -> None:
    rng = np.random.default_rng(0)
    impls_arg = [s for s in args.impls.split(",") if s]
    for spec in dcgan64_layers(args.batch, args.width, args.size):
        if args.only and not any(spec["layer"] == o for o in args.only.split(",")):
            continue
        x = jnp.asarray(rng.standard_normal(spec["in_shape"]), jnp.float32)
        ref_mod = _module(spec, "xla")
        params = ref_mod.init(jax.random.key(0), x)
        if spec["use_bias"]:  # non-zero bias, so its gradient path is exercised too
            params = jax.tree_util.tree_map(lambda p: p, params)
            params["params"]["bias"] = jnp.asarray(rng.standard_normal(params["params"]["bias"].shape), jnp.float32)
        y0 = ref_mod.apply(params, x)
        ct = jnp.asarray(rng.standard_normal(y0.shape), jnp.float32)
        impls = [i for i in impls_arg if not (spec["kind"] == "down" and i == "col2im")]  # col2im: up-sampling only
        if "xla" not in impls:
            impls = ["xla"] + impls
        k_shape = (2, 2, spec["in_shape"][-1], 4 * spec["features"]) if spec["kind"] == "up" else (4, 4, spec["in_shape"][-1], spec["features"])
        if spec["kind"] == "up":
            auto_choice = auto_upconv_impl(spec["in_shape"], spec["features"], backend="cpu")
        else:
            auto_choice = auto_impl(spec["in_shape"], k_shape, (2, 2), backend="cpu")
        for mode in [m for m in args.modes.split(",") if m]:
            compiled, outs = {}, {}
            for impl in impls:
                f = _fn(_module(spec, impl), mode)
                t0 = time.perf_counter()
                compiled[impl] = f.lower(params, x, ct).compile()
                outs[impl] = jax.block_until_ready(compiled[impl](params, x, ct))  # warm-up
                compiled[impl].compile_s = time.perf_counter() - t0
            times = {i: [] for i in impls}
            load0 = [round(v, 2) for v in os.getloadavg()]
            for _ in range(args.reps):
                for impl in impls:
                    t0 = time.perf_counter()
                    jax.block_until_ready(compiled[impl](params, x, ct))
                    times[impl].append(time.perf_counter() - t0)
            load1 = [round(v, 2) for v in os.getloadavg()]
            ref = jax.tree_util.tree_leaves(outs["xla"])
            t_xla = statistics.median(times["xla"])
            for impl in impls:
                leaves = jax.tree_util.tree_leaves(outs[impl])
                abs_d = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(leaves, ref))
                rel_d = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))) for a, b in zip(leaves, ref))
                med = statistics.median(times[impl])
                print(
                    json.dumps(
                        {
                            "bench": "layer",
                            "layer": spec["layer"],
                            "in_shape": spec["in_shape"],
                            "features": spec["features"],
                            "mode": mode,
                            "impl": impl,
                            "auto_picks": auto_choice,
                            "seconds_median": round(med, 5),
                            "seconds_min": round(min(times[impl]), 5),
                            "speedup_vs_xla": round(t_xla / med, 3),
                            "max_abs_diff": float(f"{abs_d:.3g}"),
                            "max_rel_diff": float(f"{rel_d:.3g}"),
                            "reps": args.reps,
                            "loadavg": [load0, load1],
                        }
                    ),
                    flush=True,
                )


# ----------------------------------------------------------------------------- whole step


class JaxStep:
    framework = "jax"

    def __init__(self, name: str, size: int, width: int, batch: int, k: int, g_impl: str, d_impl: str):
        self.name, self.size, self.width, self.batch, self.k = name, size, width, batch, k
        if name.startswith("fast:"):  # fast:<g impl>:<d impl>
            g_impl, d_impl = name.split(":")[1:3]
        self.g_impl, self.d_impl = g_impl, d_impl
        if name == "jit_fast":
            self.name = f"fast:{g_impl}:{d_impl}"
        self.steps_per_block = k

    def models(self):
        shape = (self.size, self.size, 3)
        if self.name.startswith("fast"):
            return DCGANGenerator(image_shape=shape, width=self.width, conv_impl=self.g_impl), DCGANDiscriminator(width=self.width, conv_impl=self.d_impl)
        return DCGANGenerator(image_shape=shape, width=self.width), DCGANDiscriminator(width=self.width)

    def setup(self) -> None:
        sys.path.insert(0, HERE)
        from step_throughput import BETAS, EMA_DECAY, LR, Z_DIM

        from gan_jax import steps

        g, d = self.models()
        shape = (self.size, self.size, 3)
        spec = steps.ClassicSpec(z_dim=Z_DIM, loss="nonsaturating", n_critic=1, ema=steps.EMA(EMA_DECAY))
        recipe, self.state = steps.classic_gan(
            generator=g, discriminator=d, g_tx=steps.adam(LR, *BETAS), d_tx=steps.adam(LR, *BETAS), spec=spec, data_shape=shape, rng=jax.random.key(0)
        )
        x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (self.batch, *shape)), jnp.float32)
        self.args = ({"x": x},)
        t0 = time.perf_counter()
        self.compiled = jax.jit(steps.train_step_fn(recipe), donate_argnums=0).lower(self.state, *self.args).compile()
        self.compile_s = time.perf_counter() - t0

    def block(self) -> None:
        state = self.state
        for _ in range(self.k):
            state, metrics = self.compiled(state, *self.args)
        jax.block_until_ready((state, metrics))
        self.state = state


def check_same_params(size: int, width: int, g_impl: str, d_impl: str) -> dict[str, Any]:
    """The ``conv_impl`` variants have the parameter tree and initial values of the default
    models, and the same outputs (up to float32 summation order) for the same parameters."""
    shape = (size, size, 3)
    z = jnp.asarray(np.random.default_rng(0).standard_normal((2, 100)), jnp.float32)
    x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (2, *shape)), jnp.float32)
    pairs = {
        "g": (DCGANGenerator(image_shape=shape, width=width), DCGANGenerator(image_shape=shape, width=width, conv_impl=g_impl), z),
        "d": (DCGANDiscriminator(width=width), DCGANDiscriminator(width=width, conv_impl=d_impl), x),
    }
    out = {}
    for key, (ref, fast, inp) in pairs.items():
        v_ref, v_fast = ref.init(jax.random.key(0), inp), fast.init(jax.random.key(0), inp)
        same_tree = jax.tree_util.tree_structure(v_ref) == jax.tree_util.tree_structure(v_fast)
        same_init = same_tree and all(bool(jnp.array_equal(a, b)) for a, b in zip(jax.tree_util.tree_leaves(v_ref), jax.tree_util.tree_leaves(v_fast)))
        y_ref, _ = ref.apply(v_ref, inp, mutable=["batch_stats"])
        y_fast, _ = fast.apply(v_ref, inp, mutable=["batch_stats"])
        out[key] = {"same_param_tree": same_tree, "same_init": same_init, "max_abs_diff_output": float(f"{float(jnp.max(jnp.abs(y_ref - y_fast))):.3g}")}
    return out


def run_step(args) -> None:
    sys.path.insert(0, HERE)
    names = [v for v in args.variants.split(",") if v]
    if "eager" in names:
        import torch
        from step_throughput import TorchVariant

        torch.set_num_threads(len(os.sched_getaffinity(0)))
    fast_impls = sorted({(n.split(":")[1], n.split(":")[2]) if n.startswith("fast:") else (args.g_impl, args.d_impl) for n in names if n.startswith("fast") or n == "jit_fast"})
    for g_impl, d_impl in fast_impls:
        check = check_same_params(args.size, args.width, g_impl, d_impl)
        print(json.dumps({"bench": "step_check", "g_impl": g_impl, "d_impl": d_impl, **check}), flush=True)
    variants = []
    for name in names:
        if name == "eager":
            v = TorchVariant("eager", args.size, args.width, args.batch, args.k)
        else:
            v = JaxStep(name, args.size, args.width, args.batch, args.k, args.g_impl, args.d_impl)
        v.setup()
        v.block()  # warm-up
        v.times = []
        variants.append(v)
        print(f"# {name}: set up", file=sys.stderr, flush=True)
    load0 = [round(x, 2) for x in os.getloadavg()]
    for r in range(args.reps):
        for v in variants:
            t0 = time.perf_counter()
            v.block()
            v.times.append((time.perf_counter() - t0) / v.steps_per_block)
        print(f"# round {r + 1}/{args.reps}: " + ", ".join(f"{v.name} {v.times[-1]:.3f}" for v in variants), file=sys.stderr, flush=True)
    load1 = [round(x, 2) for x in os.getloadavg()]
    med = {}
    lines = []
    for v in variants:
        sps = statistics.median(v.times)
        med[v.name] = sps
        rec = {
            "bench": "step",
            "model": f"dcgan{args.size}",
            "width": args.width,
            "batch": args.batch,
            "framework": v.framework,
            "variant": v.name,
            "g_impl": getattr(v, "g_impl", None) if v.name.startswith("fast") else None,
            "d_impl": getattr(v, "d_impl", None) if v.name.startswith("fast") else None,
            "images_per_sec": round(args.batch / sps, 3),
            "seconds_per_step": round(sps, 5),
            "seconds_per_step_all": [round(t, 5) for t in v.times],
            "compile_s": round(getattr(v, "compile_s", 0) or 0, 2),
            "reps": args.reps,
            "steps_per_rep": v.steps_per_block,
            "loadavg": [load0, load1],
        }
        lines.append(rec)
    summary = {"bench": "step_summary", "model": f"dcgan{args.size}", "batch": args.batch, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "loadavg": [load0, load1], "ratios": {}}
    times = {v.name: v.times for v in variants}
    # images/s ratio a/b = median time b / median time a; also the median of the per-round ratios
    pairs = [(a, b) for a in med if a.startswith("fast") for b in ("jit", "eager") if b in med] + ([("jit", "eager")] if "jit" in med and "eager" in med else [])
    for a, b in pairs:
        summary["ratios"][f"{a} vs {b}"] = {
            "of_medians": round(med[b] / med[a], 3),
            "per_round_median": round(statistics.median(tb / ta for ta, tb in zip(times[a], times[b])), 3),
        }
    for rec in lines + [summary]:
        line = json.dumps(rec)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("layers", "step"))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--size", type=int, default=64, choices=sorted(dcgan.SUPPORTED_SIZES))
    p.add_argument("--reps", type=int, default=None, help="timed rounds (layers: 7, step: 5)")
    p.add_argument("--impls", default="xla,winograd,col2im", help="layers: impls to compare (xla always included; col2im: G's layers only)")
    p.add_argument("--modes", default="fwd_bwd", help="layers: comma list of fwd_bwd, fwd, wgrad, dgrad")
    p.add_argument("--only", default="", help="layers: comma list of layer names (G.up0..3, D.conv0..3)")
    p.add_argument("--k", type=int, default=2, help="step: steps per timed block")
    p.add_argument("--variants", default="jit,jit_fast,eager", help="step: comma list of jit, jit_fast, fast:<g impl>:<d impl>, eager")
    p.add_argument("--g-impl", default="auto", help="step: impl of the generator's FastUpConv2x")
    p.add_argument("--d-impl", default="auto", help="step: impl of the discriminator's FastConv")
    p.add_argument("--out", default=None, help="step: also append the JSON lines to this file")
    p.add_argument(
        "--omp-wait-policy",
        choices=("default", "passive", "active"),
        default="default",
        help="step: OMP_WAIT_POLICY for PyTorch's OpenMP threads (set before torch is imported; see step_throughput.py)",
    )
    p.add_argument("--quick", action="store_true", help="32x32, width 8, batch 4, 2 rounds (for tests)")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.width, args.batch, args.reps, args.k = 32, 8, 4, 2, 1
    if args.reps is None:
        args.reps = 7 if args.what == "layers" else 5
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    if args.what == "layers":
        run_layers(args)
    else:
        run_step(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
