"""Fingerprints of 20 train steps of every experiment with the current code, against a reference.

    python benchmarks/fingerprints.py --mode small --check benchmarks/results/fingerprints_v1_small.json
    python benchmarks/fingerprints.py --mode full --check benchmarks/results/fingerprints_v1_full.json

Same settings and data as ``fingerprints_v1.py`` (which recorded the pre-Core-v2 code's numbers):
each experiment's config (``--mode small``: reduced widths, batch 8; ``full``: the experiment's
networks, batch 16), 20 steps of ``gan_jax.steps.make_train_step`` on the experiment's real data,
batches read in the same order. ``--check`` compares with a reference file and exits 1 on a
mismatch; ``--out`` writes this run's fingerprints. ``tests/test_fingerprints.py`` runs the
small mode for a few experiments in the default test suite.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _fingerprint  # noqa: E402
from fingerprints_v1 import EMA_RAMPUP, EXPERIMENTS, STEPS, overrides  # noqa: E402


#: experiments whose default recipe changed after the references were recorded: the overrides that
#: give the recipe of b015e1b (DCGAN models there used Flax's default initialisation: model.weight_init=flax)
V1_RECIPES: dict[str, list[str]] = {
    "dcgan_mnist": ["model.g_width=32", "model.d_width=32", "recipe.ema_decay=0.99"],
    "sngan_cifar10": ["recipe.lr_schedule=constant"],
    "cgan_mnist": ["model.weight_init=flax"],
    "wgan_gp_cifar10": ["recipe.lr_g=1e-4", "recipe.lr_d=1e-4", "recipe.lr_schedule=constant"],
    "dcgan_digits": ["data.image_size=32", "model.g_width=32", "model.d_width=32", "recipe.ema_decay=0.99", "train.steps=1500",
                     "data.augment="],
}


def run(name: str, mode: str, data_dir: str, steps: int = STEPS) -> dict:
    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.experiment import build_state
    from gan_jax.steps import make_train_step

    config = load_experiment(name)
    # the reference computed its EMA with this ramp-up (the default then; it is a setting, not maths),
    # and each experiment is restored to the recipe it had then (later recipe changes are not maths either)
    config = apply_overrides(config, [*V1_RECIPES.get(name, []), *(["model.weight_init=flax"] if config.model.arch == "dcgan" else []),
                                      *overrides(config, mode, data_dir), f"recipe.ema_rampup={EMA_RAMPUP}"])
    dataset, recipe, state = build_state(config)
    k = recipe.batches_per_step
    stream = dataset.stream(config.train.batch_size, config.train.seed)
    step = make_train_step(recipe)
    for s in range(steps):
        parts = [next(stream) for _ in range(k)]
        batch = parts[0] if k == 1 else {key: np.stack([p[key] for p in parts]) for key in parts[0]}
        state, _ = step(state, batch, step=s)
    g, d = state.nets["G"], state.nets["D"]
    tree = {
        "G": {"params": g.params, "collections": g.collections, "opt_state": g.opt_state, "ema_params": g.ema_params,
              "ema_collections": g.ema_collections},
        "D": {"params": d.params, "collections": d.collections, "opt_state": d.opt_state},
    }
    return _fingerprint.fingerprint(jax.device_get(tree))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("small", "full"), default="small")
    p.add_argument("--check", help="reference fingerprints (fingerprints_v1.py output)")
    p.add_argument("--out", help="write this run's fingerprints here")
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--steps", type=int, default=STEPS, help="fewer steps, to see how a difference grows")
    p.add_argument("--all-differences", action="store_true", help="print every differing leaf, not the first 8")
    args = p.parse_args()
    ref = _fingerprint.load(args.check) if args.check else None
    result = {"meta": {"steps": args.steps, "mode": args.mode, "jax": jax.__version__}}
    failed = []
    for name in args.only or EXPERIMENTS:
        t0 = time.perf_counter()
        result[name] = run(name, args.mode, args.data_dir, args.steps)
        line = f"{name}: {len(result[name])} leaves, {time.perf_counter() - t0:.1f} s"
        if ref is not None:
            bad = _fingerprint.compare(ref[name], result[name], rtol=args.rtol)
            shown = bad if args.all_differences else bad[:8]
            line += " - same as the reference" if not bad else f" - {len(bad)} DIFFERENT leaves:\n    " + "\n    ".join(shown)
            failed += [name] if bad else []
        print(line, flush=True)
        if args.out:
            _fingerprint.save(result, args.out)
    if failed:
        print(f"differ from the reference: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
