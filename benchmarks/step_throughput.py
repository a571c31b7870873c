"""Step throughput of a full GAN train step: gan_jax vs PyTorch, side by side.

    python benchmarks/step_throughput.py [--models dcgan64,dcgan32] [--batch 64]
        [--reps 5] [--variants ...] [--out results.jsonl] [--quick]

One *step* is what ``gan_jax.steps.train_step`` does with ``n_critic=1``: one D update
(a real batch and a fake batch G(z), non-saturating BCE-with-logits loss, Adam lr 2e-4,
betas (0.5, 0.999)), then one G update on fresh latents, then the EMA update of G's
parameters (decay 0.999, the gan_jax default; the PyTorch side does the same update with
``torch._foreach_lerp_``, a negligible cost). Models (``benchmarks/torch_dcgan.py``
documents the architecture; both frameworks have the same parameter count, checked):

* ``dcgan64``: DCGAN 64x64x3, width (ngf = ndf) 64, z 100, BatchNorm in G and D: the
  PyTorch DCGAN example.
* ``dcgan32``: the same family at 32x32 (one stride-2 stage fewer).

Variants (``--variants``; default: all of them but ``scan_bf16``):

* jax ``jit``: ``jax.jit(steps.train_step, donate_argnums=0)``, one call per step.
* jax ``scan``: ``lax.scan`` over K (``--scan-k``, 4) steps inside one jitted call
  (donated state); per-step numbers divide by K. On XLA:CPU (jax 0.10.2) this is
  *much* slower than ``jit`` (~25x per step for DCGAN at batch 64: inside the while loop
  the convolutions run as plain ``conv_general_dilated`` thunks instead of YNNPACK
  fusions), so a dcgan64 run with it takes several minutes per round; leave it out with
  ``--variants`` when that matters.
* jax ``jit_bf16`` / ``scan_bf16``: the same with the models' computation dtype bfloat16
  (``DCGANGenerator(dtype=...)``, ``DCGANDiscriminator(dtype=...)``); parameters, Adam
  state, EMA, BatchNorm statistics and the loss stay float32.
* jax ``jit_conv_transpose``: ``jit`` with ``DCGANGenerator(upsample="conv_transpose")``
  (``nn.ConvTranspose``) instead of the default ``UpConv2x``: the effect of that layer.
* torch ``eager``: plain PyTorch (NCHW, the default memory format).
* torch ``eager_bf16``: forward passes under ``torch.autocast("cpu", torch.bfloat16)``.
* torch ``compile``: G and D wrapped in ``torch.compile`` (default inductor backend;
  optimizer, loss and EMA eager). A failure is reported in the JSON line (``"error"``).

Timing: every variant is built and compiled, then runs one warm-up block (excluded);
then ``--reps`` rounds, each timing one block of K steps of *every* variant in turn
(round-robin, so a change in background load hits all variants alike). A block is K
calls of the jitted step (or one call of the scanned one), or K PyTorch steps (one
step for ``jit_conv_transpose``, which is several times slower), and ends with a device
sync (``jax.block_until_ready``); ``seconds_per_step`` is the median over the rounds of
block time / steps in the block, ``images_per_sec = batch / seconds_per_step``. The
data are a fixed random batch already in memory (no input pipeline).

Threads: both frameworks use every core the process may run on (``os.cpu_count()`` or
the affinity mask): ``torch.set_num_threads(n)``, and XLA:CPU sizes its thread pool
from the same count. ``--threads N`` restricts the whole process to N cores
(``os.sched_setaffinity``, before JAX starts) and sets torch to N threads.
On a *busy* machine PyTorch's OpenMP threads (libgomp, which spins at barriers by
default) can slow down by orders of magnitude when a core is taken by another process;
``--omp-wait-policy passive`` sets ``OMP_WAIT_POLICY=PASSIVE`` before torch is imported.
The JSON lines record these environment variables (``env``).

Output: one JSON line per (model, framework, variant, batch) on stdout (and appended to
``--out``), with versions, device, threads and ``os.getloadavg()`` at the start and the
end of the measurement (other jobs on the machine skew CPU numbers; look at it).

``--quick``: dcgan32 at width 8, batch 8, 2 rounds, variants jit, scan, eager and
compile, for tests (each XLA compilation costs seconds even at that size). The
``compile`` variant is skipped there (a line with ``"skipped"``) because torch.compile's
C++ build takes longer than the whole quick run (``--quick-compile`` keeps it).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

JAX_VARIANTS = ("jit", "scan", "jit_bf16", "scan_bf16", "jit_conv_transpose")
TORCH_VARIANTS = ("eager", "eager_bf16", "compile")
DEFAULT_VARIANTS = ("jit", "scan", "jit_bf16", "jit_conv_transpose", "eager", "eager_bf16", "compile")
QUICK_VARIANTS = ("jit", "scan", "eager", "compile")
MODELS = {"dcgan64": 64, "dcgan32": 32}
Z_DIM = 100
LR, BETAS, EMA_DECAY = 2e-4, (0.5, 0.999), 0.999


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Variant:
    framework: str
    name: str
    dtype: str
    steps_per_block: int

    def setup(self) -> None: ...

    def block(self) -> None: ...

    def info(self) -> dict[str, Any]:
        return {}


# ----------------------------------------------------------------------------- JAX


class JaxVariant(Variant):
    framework = "jax"

    def __init__(self, name: str, size: int, width: int, batch: int, k: int):
        self.name, self.size, self.width, self.batch, self.k = name, size, width, batch, k
        self.dtype = "bfloat16" if "bf16" in name else "float32"
        self.scan = name.startswith("scan")
        self.upsample = "conv_transpose" if name.endswith("conv_transpose") else "subpixel"
        # nn.ConvTranspose makes the step several times slower on XLA:CPU: one step per block
        self.steps_per_block = 1 if self.upsample == "conv_transpose" else k
        self.calls_per_block = 1 if self.scan else self.steps_per_block

    def setup(self) -> None:
        import jax
        import jax.numpy as jnp
        import numpy as np

        from gan_jax import steps
        from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
        from gan_jax.state import GANSpec, adam, create_state

        dtype = jnp.bfloat16 if self.dtype == "bfloat16" else None
        shape = (self.size, self.size, 3)
        g = DCGANGenerator(image_shape=shape, width=self.width, upsample=self.upsample, dtype=dtype)
        d = DCGANDiscriminator(width=self.width, dtype=dtype)
        spec = GANSpec(z_dim=Z_DIM, loss="nonsaturating", n_critic=1, ema_decay=EMA_DECAY)
        state = create_state(generator=g, discriminator=d, g_tx=adam(LR, *BETAS), d_tx=adam(LR, *BETAS), spec=spec, data_shape=shape, rng=jax.random.key(0))
        self.n_params = {
            "g": sum(x.size for x in jax.tree.leaves(state.g_params)),
            "d": sum(x.size for x in jax.tree.leaves(state.d_params)),
        }
        rng = np.random.default_rng(0)
        lead = (self.k,) if self.scan else ()
        x = jnp.asarray(rng.uniform(-1, 1, lead + (self.batch, *shape)), jnp.float32)
        key = jax.random.key(1)
        if self.scan:

            def multi_step(state, xs, key):
                return jax.lax.scan(lambda s, x_i: steps.train_step(s, {"x": x_i}, key), state, xs)

            fn = jax.jit(multi_step, donate_argnums=0)
            args = (x, key)
        else:
            fn = jax.jit(steps.train_step, donate_argnums=0)
            args = ({"x": x}, key)
        t0 = time.perf_counter()
        compiled = fn.lower(state, *args).compile()
        self.compile_s = time.perf_counter() - t0
        self._state, self._compiled, self._args = state, compiled, args
        self._jax = jax

    def block(self) -> None:
        state = self._state
        for _ in range(self.calls_per_block):
            state, metrics = self._compiled(state, *self._args)
        self._jax.block_until_ready((state, metrics))
        self._state = state

    def info(self) -> dict[str, Any]:
        return {"compile_s": round(self.compile_s, 3), "upsample": self.upsample, "n_params_g": self.n_params["g"], "n_params_d": self.n_params["d"]}


# ----------------------------------------------------------------------------- PyTorch


class TorchVariant(Variant):
    framework = "torch"

    def __init__(self, name: str, size: int, width: int, batch: int, k: int):
        self.name, self.size, self.width, self.batch, self.k = name, size, width, batch, k
        self.dtype = "bfloat16" if "bf16" in name else "float32"
        self.steps_per_block = k

    def setup(self) -> None:
        import torch

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_dcgan import TorchGAN, n_params

        self.gan = TorchGAN(self.size, self.width, Z_DIM, LR, BETAS, EMA_DECAY, compile=self.name == "compile", autocast_bf16=self.dtype == "bfloat16")
        self.n_params = {"g": n_params(self.gan.G), "d": n_params(self.gan.D)}
        gen = torch.Generator().manual_seed(0)
        self.real = self.gan.prepare(torch.rand(self.batch, 3, self.size, self.size, generator=gen) * 2 - 1)
        self.compile_s = None

    def block(self) -> None:
        for _ in range(self.k):
            self.gan.step(self.real)

    def info(self) -> dict[str, Any]:
        return {"n_params_g": self.n_params["g"], "n_params_d": self.n_params["d"]}


# ----------------------------------------------------------------------------- driver


def _versions() -> dict[str, str]:
    import flax
    import jax
    import jaxlib
    import optax
    import torch

    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__, "optax": optax.__version__, "torch": torch.__version__}


def _error(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}"
    return msg if len(msg) < 2000 else msg[:1000] + " ... " + msg[-900:]


def run_group(model: str, batch: int, width: int, variants: list[str], args, common: dict[str, Any], emit: Callable[[dict], None]) -> None:
    size = MODELS[model]
    k = args.scan_k
    base = {"model": model, "image_size": size, "width": width, "z_dim": Z_DIM, "batch": batch, **common}
    live: list[Variant] = []
    for name in variants:
        cls = JaxVariant if name in JAX_VARIANTS else TorchVariant
        v = cls(name, size, width, batch, k)
        head = {**base, "framework": v.framework, "variant": name, "dtype": v.dtype}
        if name == "compile" and args.quick and not args.quick_compile:
            emit({**head, "images_per_sec": None, "seconds_per_step": None, "skipped": "torch.compile is skipped in --quick mode (its C++ build takes longer than the quick run; use --quick-compile)"})
            continue
        try:
            v.setup()
            t0 = time.perf_counter()
            v.block()  # warm-up (for torch.compile: the compilation)
            v.warmup_s = time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 -- report, don't crash (torch.compile needs a C++ toolchain)
            emit({**head, "images_per_sec": None, "seconds_per_step": None, "error": _error(e)})
            continue
        v.head, v.times, v.error = head, [], None
        live.append(v)
        print(f"# {model} b{batch} {v.framework}/{name}: set up, warm-up block {v.warmup_s:.2f} s", file=sys.stderr, flush=True)

    load_start = _loadavg()
    t_start = time.time()
    for r in range(args.reps):
        for v in live:
            if v.error:
                continue
            try:
                t0 = time.perf_counter()
                v.block()
                v.times.append((time.perf_counter() - t0) / v.steps_per_block)
            except Exception as e:  # noqa: BLE001
                v.error = _error(e)
        print(f"# {model} b{batch} round {r + 1}/{args.reps}: " + ", ".join(f"{v.name} {v.times[-1]:.3f}" for v in live if v.times), file=sys.stderr, flush=True)
    load_end = _loadavg()
    for v in live:
        rec = {**v.head}
        if v.times:
            sps = statistics.median(v.times)
            rec.update(
                images_per_sec=round(batch / sps, 3),
                seconds_per_step=round(sps, 5),
                seconds_per_step_min=round(min(v.times), 5),
                seconds_per_step_all=[round(t, 5) for t in v.times],
            )
        else:
            rec.update(images_per_sec=None, seconds_per_step=None)
        if v.error:
            rec["error"] = v.error
        rec.update(
            reps=len(v.times),
            steps_per_rep=v.steps_per_block,
            scan_k=k if v.framework == "jax" and v.name.startswith("scan") else None,
            warmup_s=round(v.warmup_s, 3),
            **v.info(),
            loadavg_start=load_start,
            loadavg_end=load_end,
            measure_wall_s=round(time.time() - t_start, 2),
        )
        emit(rec)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="dcgan64,dcgan32", help=f"comma list of {sorted(MODELS)}")
    p.add_argument("--batch", default="64", help="comma list of batch sizes")
    p.add_argument("--width", type=int, default=64, help="ngf = ndf (64: the PyTorch example)")
    p.add_argument("--reps", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--scan-k", type=int, default=4, help="steps per scanned call, and steps per timed block")
    p.add_argument("--variants", default=None, help=f"comma list of {JAX_VARIANTS + TORCH_VARIANTS}, or 'all' (default: {','.join(DEFAULT_VARIANTS)}; --quick: {','.join(QUICK_VARIANTS)})")
    p.add_argument("--threads", type=int, default=None, help="restrict the process to N cores (default: all)")
    p.add_argument(
        "--omp-wait-policy",
        choices=("default", "passive", "active"),
        default="default",
        help="set OMP_WAIT_POLICY for PyTorch's OpenMP threads before torch is imported (default: leave the environment alone)",
    )
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    p.add_argument("--quick", action="store_true", help="dcgan32, width 8, batch 8, 2 rounds; no torch.compile")
    p.add_argument("--quick-compile", action="store_true", help="with --quick: keep the torch.compile variant")
    args = p.parse_args(argv)

    if args.threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
    if args.quick:
        args.models, args.batch, args.width, args.reps = "dcgan32", "8", 8, 2
    if args.variants is None:
        args.variants = ",".join(QUICK_VARIANTS if args.quick else DEFAULT_VARIANTS)
    variants = list(JAX_VARIANTS + TORCH_VARIANTS) if args.variants == "all" else [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in JAX_VARIANTS + TORCH_VARIANTS]
    models = [m for m in args.models.split(",") if m]
    if unknown or any(m not in MODELS for m in models):
        p.error(f"unknown variants {unknown} or models {models}")

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import jax
    import torch

    torch.set_num_threads(threads)
    common = {
        "device": {"jax": str(jax.devices()[0].device_kind), "torch": "cpu", "cpu": _cpu_name(), "cores": os.cpu_count()},
        "threads": {"jax": threads, "torch": torch.get_num_threads()},
        "versions": _versions(),
        "quick": args.quick,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "XLA_FLAGS", "JAX_PLATFORMS")},
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "notes": "step = 1 D update (real + G(z) fake) + 1 G update (fresh z) + EMA(0.999), Adam 2e-4 (0.5, 0.999), non-saturating BCE-with-logits",
    }
    out = open(args.out, "a") if args.out else None

    def emit(rec: dict) -> None:
        line = json.dumps(rec)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    try:
        for model in models:
            for batch in (int(b) for b in args.batch.split(",")):
                run_group(model, batch, args.width, variants, args, common, emit)
    finally:
        if out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
