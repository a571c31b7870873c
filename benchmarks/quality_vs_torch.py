"""Sample quality of a gan_jax recipe against plain PyTorch training the same recipe, in one run.

    python benchmarks/quality_vs_torch.py dcgan_mnist --data-dir ../shared/datasets \
        [--steps 3000] [--seeds 0,1,2] [--num 10000] [--set key=value ...] [--out results.json]

For each seed, both frameworks train the experiment's networks (same architecture and parameter
count, checked; the same initialisation distribution: N(0, 0.02) for DCGAN) with the same loss,
optimiser, batch size and number of steps, on the same real batches in the same order (gan_jax's
data stream with the seed), and both generators are scored by the same code
(``gan_jax.evaluate.score_images``: the dataset's classifier FID / KID / precision-recall on
``--num`` samples). gan_jax runs its real driver (``train_and_evaluate``) and is scored with its
raw generator and with its EMA generator (what ``gan-jax sample`` gives by default); PyTorch is
the paper's recipe without EMA, sampled in eval mode (BatchNorm running statistics), as gan_jax's
raw generator is. The PyTorch side is ``torch_models.py`` (the ``bench`` extra).

Supported so far: the DCGAN experiments with the non-saturating or least-squares loss and one D
update per step (``dcgan_mnist``, ``dcgan_mnist_tiny``, ``dcgan_cifar10``, ``dcgan_digits``,
``lsgan_cifar10``; ``dcgan_digits`` with ``--set data.augment=``: the PyTorch side has no DiffAugment).
Other recipes exit with a one-line message, unless ``--frameworks gan_jax`` (an improved recipe such as
``dcgan_mnist_plus``, compared with the PyTorch rows of its reference's run).

Output: one JSON object per (seed, framework) line on stdout, then a markdown table (mean +- std
over seeds) on stderr; ``--out`` writes all of it as one JSON file.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SUPPORTED_LOSSES = ("nonsaturating", "least_squares")


def _config(name: str, args, seed: int, *, torch_side: bool = True):
    from gan_jax.config import UserError, apply_overrides, load_experiment

    config = load_experiment(name)
    sets = [f"train.seed={seed}", *(["train.steps=%d" % args.steps] if args.steps else []), *args.set]
    if args.data_dir:
        sets.append(f"data.dir={args.data_dir}")
    config = apply_overrides(config, sets)
    if not torch_side:  # gan_jax alone (e.g. an improved recipe against earlier PyTorch rows): anything goes
        return config
    m, r = config.model, config.recipe
    problems = []
    if m.arch != "dcgan":
        problems.append(f"model.arch={m.arch}")
    if r.loss not in SUPPORTED_LOSSES:
        problems.append(f"recipe.loss={r.loss}")
    if r.n_critic != 1 or r.optimizer != "adam" or r.lr_schedule != "constant" or m.conditioning != "none":
        problems.append("n_critic/optimizer/schedule/conditioning other than 1/adam/constant/none")
    tricks = [k for k in ("gp_weight", "r1_gamma", "r2_gamma", "dragan_weight", "weight_clip", "hist_weight", "instance_noise",
                          "label_smoothing", "g_ortho_weight", "d_ortho_weight") if getattr(r, k)]
    if tricks or r.pack != 1 or config.data.augment:
        problems.append("tricks " + ", ".join(tricks or ["pack/augment"]))
    if problems:
        raise UserError(f"quality_vs_torch.py supports plain DCGAN recipes so far; {name} has {'; '.join(problems)}")
    return config


def _scores(images_fn, dataset, args, seed):
    from gan_jax.evaluate import score_images

    return score_images(images_fn(), dataset, metrics=args.metrics.split(","), num=args.num, data_dir=args.data_dir or None,
                        seed=seed)


def run_jax(name: str, args, seed: int) -> list[dict]:
    import jax

    from gan_jax.evaluate import _generated_images
    from gan_jax.experiment import build_dataset
    from gan_jax.train import train_and_evaluate

    config = _config(name, args, seed, torch_side=False)
    dataset = build_dataset(config)  # one dataset for training and scoring
    with tempfile.TemporaryDirectory(prefix="quality_jax_") as workdir:
        t0 = time.perf_counter()
        state, result = train_and_evaluate(config, workdir, progress=False, dataset=dataset)
        train_s = time.perf_counter() - t0
    n_g, n_d = (sum(x.size for x in jax.tree.leaves(state.nets[n].params)) for n in ("G", "D"))
    rows = []
    for variant, use_ema in (("raw", False), ("ema", True)):
        if use_ema and not state.nets["G"].ema:
            continue
        m = _scores(lambda: _generated_images(result.recipe, state, num=args.num, batch_size=500, seed=seed + 1000, use_ema=use_ema),
                    dataset, args, seed)
        rows.append({"framework": "gan_jax", "variant": variant, "seed": seed, "steps": config.train.steps, "train_seconds": train_s,
                     "n_params_g": n_g, "n_params_d": n_d, **m})
    return rows


def run_torch(name: str, args, seed: int) -> list[dict]:
    import torch
    import torch.nn.functional as F
    import torch_models as tm

    from gan_jax.experiment import build_dataset
    from gan_jax.images import to_uint8

    config = _config(name, args, seed)
    m, r, t = config.model, config.recipe, config.train
    dataset = build_dataset(config)
    h, _, c = dataset.data_shape
    torch.manual_seed(seed)
    g = tm.DCGANGenerator(size=h, width=m.g_width, z_dim=m.z_dim, channels=c)
    d = tm.DCGANDiscriminator(size=h, width=m.d_width, channels=c, batch_norm=m.d_batch_norm)
    if m.weight_init == "normal":
        g.apply(tm.dcgan_weights_init)
        d.apply(tm.dcgan_weights_init)
    opt_g = torch.optim.Adam(g.parameters(), lr=r.lr_g, betas=(r.b1, r.b2))
    opt_d = torch.optim.Adam(d.parameters(), lr=r.lr_d, betas=(r.b1, r.b2))

    def d_loss(real, fake):
        if r.loss == "least_squares":  # a=0, b=c=1 (Mao et al.), 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2]
            return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
        return F.softplus(-real).mean() + F.softplus(fake).mean()  # -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))

    def g_loss(fake):
        if r.loss == "least_squares":
            return 0.5 * ((fake - 1) ** 2).mean()
        return F.softplus(-fake).mean()  # non-saturating: -log sigmoid(D(G(z)))

    stream = dataset.stream(t.batch_size, t.seed)
    t0 = time.perf_counter()
    g.train()
    d.train()
    for _ in range(t.steps):
        x = torch.from_numpy(np.asarray(next(stream)["x"], np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()
        z = torch.randn(t.batch_size, m.z_dim)
        # D step: real and fake batches through D separately (as gan_jax: BatchNorm never mixes them)
        fake = g(z)
        loss_d = d_loss(d(x), d(fake.detach()))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # G step on fresh latents
        fake = g(torch.randn(t.batch_size, m.z_dim))
        loss_g = g_loss(d(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    train_s = time.perf_counter() - t0
    if not (math.isfinite(loss_d.item()) and math.isfinite(loss_g.item())):
        raise FloatingPointError(f"PyTorch run diverged (seed {seed})")

    g.eval()
    gen = torch.Generator().manual_seed(seed + 1000)

    def images():
        with torch.no_grad():
            for start in range(0, args.num, 500):
                n = min(500, args.num - start)
                yield to_uint8(g(torch.randn(n, m.z_dim, generator=gen)).permute(0, 2, 3, 1).numpy())

    scores = _scores(images, dataset, args, seed)
    return [{"framework": "pytorch", "variant": "raw", "seed": seed, "steps": t.steps, "train_seconds": train_s,
             "n_params_g": tm.n_params(g), "n_params_d": tm.n_params(d), **scores}]


def table(rows: list[dict], metric_keys: list[str]) -> str:
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["framework"], row["variant"]), []).append(row)
    head = "| framework | generator | seeds | " + " | ".join(metric_keys) + " | train time (s) |"
    lines = [head, "|" + "---|" * (4 + len(metric_keys))]
    for (fw, variant), rs in groups.items():
        cells = []
        for k in [*metric_keys, "train_seconds"]:
            v = np.array([x[k] for x in rs], np.float64)
            cells.append(f"{v.mean():.4g} ± {v.std(ddof=1):.2g}" if len(v) > 1 else f"{v.mean():.4g}")
        lines.append(f"| {fw} | {variant} | {len(rs)} | " + " | ".join(cells[:-1]) + f" | {cells[-1]} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--steps", type=int, default=0, help="train steps (default: the experiment's)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--num", type=int, default=10000, help="samples scored per generator")
    p.add_argument("--metrics", default="fid,kid,pr")
    p.add_argument("--data-dir", default="")
    p.add_argument("--set", action="append", default=[], help="config override for both frameworks, e.g. model.g_width=32")
    p.add_argument("--frameworks", default="gan_jax,pytorch")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--out", default="")
    args = p.parse_args()

    from gan_jax.config import UserError

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
        bad = set(frameworks) - {"gan_jax", "pytorch"}
        if bad or not seeds:
            raise UserError(f"unknown frameworks {sorted(bad)} or no seeds")
        _config(args.experiment, args, seeds[0], torch_side="pytorch" in frameworks)  # fail fast on a recipe PyTorch lacks
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        rows = []
        for seed in seeds:
            for fw in frameworks:
                for row in (run_jax if fw == "gan_jax" else run_torch)(args.experiment, args, seed):
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    except (UserError, ValueError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    metric_keys = [k for k in rows[0] if k.split("_")[0] in ("fid", "kid", "precision", "recall") and not k.endswith("_std")]
    md = table(rows, metric_keys)
    print(md, file=sys.stderr)
    if args.out:
        import jax
        import torch

        meta = {"experiment": args.experiment, "command": " ".join(sys.argv), "machine": platform.processor() or platform.machine(),
                "jax": jax.__version__, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows, "table": md}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
