"""EMA vs raw generator of a trained run, in the same feature space (Core v2, defect 1).

    python benchmarks/ema_check.py WORKDIR [--num 10000]

Scores the latest checkpoint's generator three ways with ``gan_jax.evaluate.compute_metrics``
(the dataset's default feature net, 10,000 samples, seed 0):

* ``ema``: the EMA parameters with the EMA network's own BatchNorm statistics (what ``gan-jax
  sample`` / ``eval`` use);
* ``raw``: the raw generator (``--no-ema``);
* ``ema_raw_stats``: the EMA parameters with the *raw* generator's statistics, the pairing the
  pre-Core-v2 code used.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir")
    p.add_argument("--num", type=int, default=10000)
    p.add_argument("--metrics", default="fid,kid")
    args = p.parse_args()
    from gan_jax import checkpoint
    from gan_jax.config import CONFIG_FILE, read_config
    from gan_jax.evaluate import compute_metrics
    from gan_jax.experiment import build_state

    workdir = Path(args.workdir)
    config = read_config(workdir / CONFIG_FILE)
    dataset, recipe, target = build_state(config)
    step = checkpoint.latest_step(workdir)
    state = checkpoint.restore_state(workdir, target, step)
    g = state.nets[recipe.generator]
    old_pairing = state.replace(nets={**state.nets, recipe.generator: g.replace(ema_collections=g.collections)})
    out = {"workdir": str(workdir), "step": step, "num": args.num}
    for name, s, use_ema in (("ema", state, True), ("raw", state, False), ("ema_raw_stats", old_pairing, True)):
        t0 = time.perf_counter()
        m = compute_metrics(recipe, s, dataset, metrics=args.metrics.split(","), num=args.num, data_dir=config.data.dir or None,
                            use_ema=use_ema)
        out[name] = {k: round(float(v), 4) for k, v in m.items()}
        print(f"{name}: {out[name]} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
