"""Forward + backward time of the DCGAN upsampling layer: nn.ConvTranspose vs UpConv2x.

    python benchmarks/upconv_cpu.py [--quick] [--reps 5] [--variants conv_transpose,upconv2x]
    python benchmarks/upconv_cpu.py --quick --variants conv_transpose,upconv2x,winograd,col2im,auto

Times one jit-compiled call computing the layer output and the gradients of
``sum(y * cotangent)`` w.r.t. the params (kernel, bias) and the input, for
``nn.ConvTranspose(out, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))`` and for
``gan_jax.models.layers.UpConv2x(out)`` with the same params (and, as the variants
``winograd``, ``col2im``, ``auto``, ``gan_jax.models.fast_conv.FastUpConv2x(out, impl=...)``,
the same layer by the formulations of ``fast_conv``). Default size: batch 64,
16x16 -> 32x32, 256 -> 128 channels (a DCGAN generator layer); ``--quick``: batch 16,
8x8 -> 16x16, 64 -> 32 channels. Compilation and one warm-up call are excluded; prints
one JSON line per variant with the median (and min) of ``--reps`` calls, plus the max
relative difference of the outputs and gradients against the first variant. Runs on JAX's default
backend (set JAX_PLATFORMS=cpu to force the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models.fast_conv import FastUpConv2x
from gan_jax.models.layers import UpConv2x


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="batch 16, 8x8, 64 -> 32 channels")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--variants", default="conv_transpose,upconv2x", help="comma list of conv_transpose, upconv2x, winograd, col2im, auto")
    args = p.parse_args(argv)

    batch, size, cin, cout = (16, 8, 64, 32) if args.quick else (64, 16, 256, 128)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, size, size, cin)), jnp.float32)
    ct = jnp.asarray(rng.standard_normal((batch, 2 * size, 2 * size, cout)), jnp.float32)
    modules = {
        "conv_transpose": nn.ConvTranspose(cout, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2))),
        "upconv2x": UpConv2x(cout),
        **{impl: FastUpConv2x(cout, impl=impl) for impl in ("winograd", "col2im", "auto")},
    }
    params = modules["conv_transpose"].init(jax.random.key(0), x)
    device = jax.devices()[0]
    reference = None

    for name in args.variants.split(","):
        module = modules[name]

        @jax.jit
        def fwd_bwd(params, x, ct, module=module):
            y, vjp = jax.vjp(lambda p, x: module.apply(p, x), params, x)
            return y, vjp(ct)

        t0 = time.perf_counter()
        compiled = fwd_bwd.lower(params, x, ct).compile()
        compile_s = time.perf_counter() - t0
        out = jax.block_until_ready(compiled(params, x, ct))  # warm-up
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(params, x, ct))
            times.append(time.perf_counter() - t0)
        if reference is None:
            reference = out
        # per output/gradient leaf: max |difference| / max |reference| (float32 summation order differs)
        max_diff = max(
            float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
            for a, b in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(reference))
        )
        print(
            json.dumps(
                {
                    "variant": name,
                    "seconds_median": round(statistics.median(times), 4),
                    "seconds_min": round(min(times), 4),
                    "reps": args.reps,
                    "compile_seconds": round(compile_s, 2),
                    "max_rel_diff_vs_first": max_diff,
                    "batch": batch,
                    "hw_in": size,
                    "hw_out": 2 * size,
                    "in_channels": cin,
                    "out_channels": cout,
                    "device": f"{device.platform}:{device.device_kind}",
                    "jax": jax.__version__,
                    "loadavg_1min": round(os.getloadavg()[0], 2),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
