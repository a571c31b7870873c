"""``gan-jax`` command line: parses arguments and calls the driver; no logic of its own.

    gan-jax train [EXPERIMENT] [--workdir DIR] [--set section.field=value ...]
    gan-jax sample --workdir DIR --num N --out FILE.{npy,png} [--seed S] [--no-ema]
    gan-jax list

Bad input (unknown experiment, bad --set, occupied workdir, missing checkpoint, ...) is
reported on one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_EXPERIMENT = "dcgan_digits"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gan-jax", description="Train and sample GANs in JAX.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an experiment")
    t.add_argument("experiment", nargs="?", default=DEFAULT_EXPERIMENT, help=f"name in experiments/ or path to a config .py (default: {DEFAULT_EXPERIMENT})")
    t.add_argument("--workdir", help="output directory (default: runs/EXPERIMENT)")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config field, e.g. train.steps=100")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="write samples of a trained generator")
    s.add_argument("--workdir", required=True)
    s.add_argument("--num", type=int, default=64)
    s.add_argument("--out", required=True, help="FILE.npy (raw samples) or FILE.png (grid / scatter plot)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")

    sub.add_parser("list", help="list the experiments")
    return p


def _train(args) -> int:
    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.train import train_and_evaluate

    config = apply_overrides(load_experiment(args.experiment), args.overrides)
    workdir = Path(args.workdir or Path("runs") / config.experiment)
    _, report = train_and_evaluate(config, workdir, progress=not args.no_progress)
    print(f"trained {config.experiment} for {config.train.steps} steps; samples: {report['samples']}")
    if "modes_covered" in report:
        print(f"modes covered {report['modes_covered']}/{report['num_modes']}, high quality {100 * report['high_quality']:.1f}%")
    return 0


def _sample(args) -> int:
    import numpy as np

    from gan_jax import checkpoint
    from gan_jax.config import UserError, read_config
    from gan_jax.experiment import build_state
    from gan_jax.images import to_uint8
    from gan_jax.train import CONFIG_FILE, sample, write_samples

    workdir = Path(args.workdir)
    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise UserError(f"--out must end in .npy or .png, got {out.name!r}")
    if args.num < 1:
        raise UserError(f"--num must be >= 1, got {args.num}")
    if not (workdir / CONFIG_FILE).is_file():
        raise UserError(f"{workdir} holds no gan-jax run (no {CONFIG_FILE}); train first")
    dataset, target = build_state(read_config(workdir / CONFIG_FILE))
    state = checkpoint.restore_state(workdir, target)
    samples = sample(state, args.num, seed=args.seed, use_ema=not args.no_ema)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, to_uint8(samples) if dataset.is_image else samples.astype(np.float32))
    else:
        write_samples(samples, out, dataset)
    print(f"wrote {args.num} samples to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gan_jax.config import UserError

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "sample":
            return _sample(args)
        from gan_jax.config import list_experiments

        print("\n".join(list_experiments()))
        return 0
    except UserError as e:
        print(f"gan-jax: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
