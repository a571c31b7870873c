"""Mode-collapse diagnostics of a StyleGAN2 run: does G use its styles, does D use minibatch std?

Prints, for a checkpoint of a trained ``stylegan2_*`` workdir (raw G, fixed noise):

* how much G's images vary across latents (mean per-pixel std over 256 z) against their overall
  std, and per synthesis layer how much its styles vary (std over z / |mean|): styles that vary
  while images do not mean the synthesis network has learnt to ignore them;
* D's logits on 64 real images in one batch and on each of 8 of them repeated 64 times (zero
  diversity): equal logits mean D's minibatch-std feature has no influence, so D cannot see a
  collapsed batch.

    python benchmarks/stylegan2_diagnose.py runs/stylegan2_mnist [--step 1000] [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


def diagnose(workdir: Path, step: int | None, data_dir: str | None) -> dict:
    from gan_jax.checkpoint import restore_state
    from gan_jax.config import CONFIG_FILE, UserError, apply_overrides, read_config
    from gan_jax.data import load_arrays
    from gan_jax.data.pipeline import limit_subset
    from gan_jax.engine import apply_network
    from gan_jax.experiment import build_state

    if not (workdir / CONFIG_FILE).is_file():
        raise UserError(f"{workdir} holds no gan-jax run")
    config = read_config(workdir / CONFIG_FILE)
    if config.family != "stylegan2":
        raise UserError(f"{workdir} is a {config.family} run, not StyleGAN2")
    if data_dir:
        config = apply_overrides(config, [f"data.dir={data_dir}"])
    _, _, target = build_state(config)
    state = restore_state(workdir, target, step)
    g, d = state.nets["G"], state.nets["D"]
    if g.module.num_classes:
        raise UserError("conditional runs are not supported here")
    z = jax.random.normal(jax.random.PRNGKey(1), (256, g.module.z_dim))
    w = apply_network(g, z, None, method="mapping")
    ws = jnp.broadcast_to(w[:, None], (256, g.module.num_ws, w.shape[-1]))
    images = apply_network(g, ws, None, method="synthesis")
    out = {"step": int(state.step), "image_std_over_z": float(images.std(0).mean()), "image_std": float(images.std()), "styles": {}}
    for name, layer in sorted(g.params["synth"].items()):
        if isinstance(layer, dict) and "affine" in layer:
            a = layer["affine"]
            s = w @ (a["weight"] / np.sqrt(w.shape[-1])) + a["bias"]  # EqualDense at lr_mul 1
            out["styles"][name] = float(jnp.median(s.std(0) / jnp.abs(s.mean(0))))
    x = load_arrays(config.data.name, "train", data_dir=config.data.dir, image_size=config.data.image_size)[0]
    x = x[limit_subset(len(x), 64)]  # a random 64: the offline CIFAR-10 is stored class by class
    real = np.asarray(x, np.float32) / 127.5 - 1.0  # uint8 -> [-1, 1], as the training pipeline
    logits = lambda x: np.asarray(apply_network(d, jnp.asarray(x)))  # noqa: E731
    diverse = logits(real)[:8]
    repeated = np.array([logits(np.repeat(real[i : i + 1], 64, axis=0))[0] for i in range(8)])
    out["d_logits_diverse_batch"] = diverse.round(4).tolist()
    out["d_logits_repeated_x64"] = repeated.round(4).tolist()
    out["d_mbstd_effect"] = float(np.mean(np.abs(diverse - repeated)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir")
    p.add_argument("--step", type=int, help="checkpoint step (default: the latest)")
    p.add_argument("--data-dir", help="data.dir of the run, if it moved")
    args = p.parse_args()
    from gan_jax.config import UserError

    try:
        print(json.dumps(diagnose(Path(args.workdir), args.step, args.data_dir), indent=1))
    except UserError as e:
        print(f"stylegan2_diagnose: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
