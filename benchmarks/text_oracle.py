"""The SeqGAN oracle benchmark: MLE, SeqGAN and the Gumbel-softmax GAN, several seeds, one table.

Per seed: ``mle_oracle`` for ``--mle-steps`` steps; then ``seqgan_oracle_cpu`` and
``relgan_oracle`` both start from that MLE generator (``recipe.init_from``), so the GANs'
gains are measured against the very generator they start from. Each run goes through the
driver (``train_and_evaluate``: checkpoints, logs); each final G is scored on 10,000 samples
(``gan_jax.text_eval.text_metrics``: NLL_oracle, NLL_gen). Writes JSON with per-seed values,
mean and std, and prints a Markdown table.

    python benchmarks/text_oracle.py --data-dir ../shared/datasets --seeds 0 1 2 \
        --out benchmarks/results/text_oracle.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import time
from pathlib import Path


def _run(name: str, overrides: list[str], workdir: Path) -> tuple[dict, float]:
    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.experiment import build_state
    from gan_jax.text_eval import text_metrics
    from gan_jax.train import train_and_evaluate

    config = apply_overrides(load_experiment(name), overrides)
    t0 = time.perf_counter()
    state, result = train_and_evaluate(config, workdir, progress=True)
    seconds = time.perf_counter() - t0
    dataset, recipe, _ = build_state(config)
    return text_metrics(result.recipe, state, dataset, num=10_000), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workdir", default="runs/text_oracle")
    p.add_argument("--mle-steps", type=int, default=15 * 156)
    p.add_argument("--seqgan-d-pretrain", type=int, default=2000)
    p.add_argument("--seqgan-adv", type=int, default=50)
    p.add_argument("--gumbel-adv", type=int, default=3000)
    p.add_argument("--methods", nargs="+", default=["mle", "seqgan", "gumbel"])
    p.add_argument("--seqgan-set", nargs="*", default=[], help="extra overrides of the SeqGAN runs, e.g. recipe.rollout_update_rate=0")
    p.add_argument("--gumbel-set", nargs="*", default=[], help="extra overrides of the Gumbel runs, e.g. recipe.lr_g_adv=1e-3")
    p.add_argument("--out", default="benchmarks/results/text_oracle.json")
    p.add_argument("--fresh", action="store_true", help="delete the seeds' workdirs first")
    p.add_argument("--merge", nargs="+", help="only merge these result files (per-seed runs made in parallel) into --out")
    args = p.parse_args()
    if args.merge:
        rows: dict[str, list[dict]] = {}
        for f in args.merge:
            for m, rs in json.loads(Path(f).read_text())["runs"].items():
                rows.setdefault(m, []).extend(rs)
        for rs in rows.values():
            rs.sort(key=lambda r: r["seed"])
        args.command = json.loads(Path(args.merge[0]).read_text())["command"] + " (one process per seed group, merged)"
        _write(args, rows)
        return

    root = Path(args.workdir)
    common = [f"data.dir={args.data_dir}", "log.tensorboard=false"]
    rows: dict[str, list[dict]] = {m: [] for m in args.methods}
    old = json.loads(Path(args.out).read_text())["runs"] if Path(args.out).is_file() else {}
    # runs of other methods or seeds stay in the file (each call replaces what it reruns)
    for m, rs in old.items():
        keep = [r for r in rs if not (m in rows and r["seed"] in args.seeds)]
        rows.setdefault(m, []).extend(keep)
    for seed in args.seeds:
        base = root / f"seed{seed}"
        if args.fresh and base.exists():
            shutil.rmtree(base)
        mle_dir = base / "mle"
        metrics, sec = _run("mle_oracle", common + [f"train.seed={seed}", f"train.steps={args.mle_steps}"], mle_dir)
        if "mle" in args.methods:
            rows["mle"].append({"seed": seed, **metrics, "seconds": sec})
        init = [f"recipe.init_from={mle_dir}", "recipe.pretrain_g_steps=0", f"train.seed={seed}"]
        if "seqgan" in args.methods:
            steps = args.seqgan_d_pretrain + args.seqgan_adv
            metrics, sec = _run("seqgan_oracle_cpu", common + init + [f"recipe.pretrain_d_steps={args.seqgan_d_pretrain}", f"train.steps={steps}",
                                                                  *args.seqgan_set],
                                base / "seqgan")
            rows["seqgan"].append({"seed": seed, **metrics, "seconds": sec, "overrides": args.seqgan_set})
        if "gumbel" in args.methods:
            # beta follows the experiment's fixed 5,000-step schedule, as RelGAN's does, whatever --gumbel-adv is
            metrics, sec = _run("relgan_oracle", common + init + [f"train.steps={args.gumbel_adv}", *args.gumbel_set],
                                base / "gumbel")
            rows["gumbel"].append({"seed": seed, **metrics, "seconds": sec, "overrides": args.gumbel_set})
        _write(args, rows)


def _summary(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def _write(args, rows) -> None:
    command = getattr(args, "command", None) or "python benchmarks/text_oracle.py " + " ".join(
        f"--{k.replace('_', '-')} {v if not isinstance(v, list) else ' '.join(map(str, v))}" for k, v in vars(args).items()
        if k not in ("fresh", "merge") and v not in (None, [], False))
    out = {
        "command": command,
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "published": {"mle": 9.038, "seqgan": 8.736, "oracle_floor": 5.75, "uniform": 11.43},
        "runs": rows,
        "summary": {m: {k: _summary([r[k] for r in rs]) for k in ("nll_oracle", "nll_gen", "seconds")} for m, rs in rows.items() if rs},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("| method | NLL_oracle | NLL_gen | seconds | seeds |\n|---|---|---|---|---|")
    for m, s in out["summary"].items():
        print(f"| {m} | {s['nll_oracle']['mean']:.3f} ± {s['nll_oracle']['std']:.3f} | {s['nll_gen']['mean']:.3f} ± {s['nll_gen']['std']:.3f} | "
              f"{s['seconds']['mean']:.0f} | {len(rows[m])} |")


if __name__ == "__main__":
    main()
