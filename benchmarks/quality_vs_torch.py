"""Sample quality of a gan_jax recipe against plain PyTorch training the same recipe, in one run.

    python benchmarks/quality_vs_torch.py dcgan_mnist --data-dir ../shared/datasets \
        [--steps 3000] [--seeds 0,1,2] [--num 10000] [--set key=value ...] [--out results.json] [--grids DIR]

For each seed, both frameworks train the experiment's networks (same architecture and parameter
count, checked; the DCGAN paper's N(0, 0.02) init where the experiment has it, otherwise each
framework's default init) with the same loss, optimiser, learning-rate schedule, penalties, batch
size and number of steps, on the same real batches in the same order (gan_jax's data stream with
the seed; ``n_critic`` batches per step), and both generators are scored by the same code
(``gan_jax.evaluate.score_images``: the dataset's classifier FID / KID / precision-recall on
``--num`` samples; for class-conditional models also ``acc``, the fraction of samples the
classifier assigns to the class they were drawn for, balanced classes). gan_jax runs its real
driver (``train_and_evaluate``) and is scored with its raw generator and with its EMA generator
(what ``gan-jax sample`` gives by default); PyTorch is the paper's recipe without EMA, sampled in
eval mode (BatchNorm running statistics), as gan_jax's raw generator is. The PyTorch side is
``torch_models.TorchGAN`` (the ``bench`` extra), the train step the throughput benchmark times.

PyTorch side: the classic family's DCGAN, MLP and SNGAN-ResNet networks with the
non-saturating, least-squares, hinge or Wasserstein loss, n_critic, Adam or RMSprop, constant or
linear learning rate, WGAN-GP, DRAGAN, weight clipping, concat / ACGAN / projection conditioning:
every ``*_mnist`` / ``*_cifar10`` experiment of that family but the BigGAN ones. Other recipes
(and tricks: R1, DiffAugment, ...) exit with a one-line message, unless ``--frameworks gan_jax``
(an improved recipe such as ``dcgan_mnist_plus``, compared with the PyTorch rows of its
reference's run).

Output: one JSON object per (seed, framework) line on stdout, then a markdown table (mean +- std
over seeds) on stderr; ``--out`` writes all of it as one JSON file; ``--grids DIR`` saves a
sample grid of every run (gan_jax: its driver's last grid, EMA generator; PyTorch: the same
number of samples, eval mode).
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

SUPPORTED_LOSSES = ("nonsaturating", "least_squares", "hinge", "wasserstein")
#: architecture -> conditionings the PyTorch side builds (benchmarks/torch_models.py)
SUPPORTED_CONDITIONING = {"dcgan": ("none", "concat", "acgan"), "mlp": ("none", "concat"), "sngan": ("none", "projection")}
#: recipe tricks the PyTorch side does not implement (their config field, "off" value)
UNSUPPORTED_TRICKS = (("r1_gamma", 0), ("r2_gamma", 0), ("gp_one_sided", False), ("hist_weight", 0), ("instance_noise", 0),
                      ("label_smoothing", 0), ("g_ortho_weight", 0), ("d_ortho_weight", 0), ("pack", 1), ("d_reg_every", 1))


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
    if config.family != "classic":
        raise UserError(f"quality_vs_torch.py has no PyTorch side for the {config.family} family ({name}; use --frameworks gan_jax)")
    problems = []
    if m.arch not in SUPPORTED_CONDITIONING:
        problems.append(f"model.arch={m.arch}")
    elif m.conditioning not in SUPPORTED_CONDITIONING[m.arch]:
        problems.append(f"model.conditioning={m.conditioning} with model.arch={m.arch}")
    elif m.arch == "mlp" and not m.g_batch_norm:
        problems.append("model.g_batch_norm=false")
    if r.loss not in SUPPORTED_LOSSES:
        problems.append(f"recipe.loss={r.loss}")
    if r.optimizer not in ("adam", "rmsprop") or r.lr_schedule not in ("constant", "linear"):
        problems.append(f"recipe.optimizer={r.optimizer} / recipe.lr_schedule={r.lr_schedule}")
    tricks = [k for k, off in UNSUPPORTED_TRICKS if getattr(r, k) != off] + (["data.augment"] if config.data.augment else [])
    if tricks:
        problems.append("tricks " + ", ".join(tricks))
    if problems:
        raise UserError(f"quality_vs_torch.py has no PyTorch side for {name}: {'; '.join(problems)} (use --frameworks gan_jax)")
    return config


def torch_family(config, dataset):
    """The ``benchmarks/gan_families.Family`` of ``config`` (what ``torch_models.TorchGAN`` trains), without EMA."""
    from gan_families import Family

    m, r = config.model, config.recipe
    return Family(
        name=config.experiment, arch=m.arch, image_shape=tuple(dataset.data_shape), z_dim=m.z_dim, g_width=m.g_width, d_width=m.d_width,
        g_hidden=tuple(m.g_hidden), d_hidden=tuple(m.d_hidden), d_batch_norm=m.d_batch_norm, d_spectral_norm=m.d_spectral_norm,
        conditioning=m.conditioning, num_classes=dataset.num_classes if m.conditioning != "none" else 0, loss=r.loss,
        n_critic=r.n_critic, gp_weight=r.gp_weight, dragan_weight=r.dragan_weight, weight_clip=r.weight_clip,
        aux_weight=r.aux_weight if m.conditioning == "acgan" else 0.0, optimizer=r.optimizer, lr_schedule=r.lr_schedule,
        lr_g=r.lr_g, lr_d=r.lr_d, betas=(r.b1, r.b2), ema_decay=0.0, ema_rampup=0.0,
        weight_init=(m.weight_init or "normal") if m.arch == "dcgan" else "", experiment=config.experiment,
    )


def _scores(batches, dataset, args, seed, labels=None):
    """The metrics of the generated uint8 batches; ``labels``: their conditioning labels (adds ``acc_*``)."""
    from gan_jax.evaluate import score_images

    metrics = [m for m in args.metrics.split(",") if m]
    if labels is not None and "acc" not in metrics:  # conditional models: always their label accuracy
        metrics.append("acc")
    return score_images(batches, dataset, metrics=metrics, num=args.num, data_dir=args.data_dir or None, seed=seed, labels=labels)


def run_jax(name: str, args, seed: int) -> list[dict]:
    import jax

    from gan_jax.evaluate import _generated_images, balanced_labels
    from gan_jax.experiment import build_dataset
    from gan_jax.train import train_and_evaluate

    config = _config(name, args, seed, torch_side=False)
    dataset = build_dataset(config)  # one dataset for training and scoring
    with tempfile.TemporaryDirectory(prefix="quality_jax_") as workdir:
        t0 = time.perf_counter()
        state, result = train_and_evaluate(config, workdir, progress=False, dataset=dataset)
        train_s = time.perf_counter() - t0
    n_g, n_d = (sum(x.size for x in jax.tree.leaves(state.nets[n].params)) for n in ("G", "D"))
    labels = balanced_labels(args.num, result.recipe.num_classes)
    if args.grids:  # the EMA generator's grid, as gan-jax sample (a class per row for conditional models)
        from gan_jax.sampling import sample_grid

        _save_grid(*sample_grid(result.recipe, state, config.log.num_samples, seed=seed), args, name, "gan_jax", seed)
    rows = []
    for variant, use_ema in (("raw", False), ("ema", True)):
        if use_ema and not state.nets["G"].ema:
            continue
        m = _scores(_generated_images(result.recipe, state, num=args.num, batch_size=500, seed=seed + 1000, use_ema=use_ema),
                    dataset, args, seed, labels)
        rows.append({"framework": "gan_jax", "variant": variant, "seed": seed, "steps": config.train.steps, "train_seconds": train_s,
                     "n_params_g": n_g, "n_params_d": n_d, **m})
    return rows


def _save_grid(images: np.ndarray, ncol, args, name: str, framework: str, seed: int) -> None:
    from gan_jax.images import save_image_grid, to_uint8

    Path(args.grids).mkdir(parents=True, exist_ok=True)
    save_image_grid(to_uint8(images), Path(args.grids) / f"{name}_{framework}_seed{seed}.png", ncol=ncol,
                    scale=max(1, 64 // images.shape[1]))


def run_torch(name: str, args, seed: int) -> list[dict]:
    import torch
    import torch_models as tm

    from gan_jax.experiment import build_dataset
    from gan_jax.evaluate import balanced_labels
    from gan_jax.images import to_uint8

    config = _config(name, args, seed)
    t = config.train
    dataset = build_dataset(config)
    fam = torch_family(config, dataset)
    gan = tm.TorchGAN(fam, seed=seed, total_steps=t.steps)  # G, D (PyTorch's or the DCGAN paper's init), optimizers
    conditional = fam.num_classes > 0

    def tensor(batch):
        x = torch.from_numpy(np.asarray(batch["x"], np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()
        return x, (torch.from_numpy(np.asarray(batch["y"], np.int64)) if conditional else None)

    # the real batches of gan_jax's driver, in its order: n_critic stream batches per step
    stream = dataset.stream(t.batch_size, t.seed)
    t0 = time.perf_counter()
    for _ in range(t.steps):
        parts = [tensor(next(stream)) for _ in range(fam.n_critic)]
        x = torch.stack([p[0] for p in parts])
        y = torch.stack([p[1] for p in parts]) if conditional else None
        loss_d, loss_g = gan.step(x, y)
    train_s = time.perf_counter() - t0
    if not (math.isfinite(loss_d.item()) and math.isfinite(loss_g.item())):
        raise FloatingPointError(f"PyTorch run diverged (seed {seed})")

    g = gan.G.eval()  # BatchNorm running statistics, as gan_jax's raw generator at test time
    gen = torch.Generator().manual_seed(seed + 1000)
    labels = balanced_labels(args.num, fam.num_classes)

    def images():
        with torch.no_grad():
            for start in range(0, args.num, 500):
                n = min(500, args.num - start)
                yb = torch.from_numpy(labels[start:start + n].astype(np.int64)) if conditional else None
                yield to_uint8(g(torch.randn(n, fam.z_dim, generator=gen), yb).permute(0, 2, 3, 1).numpy())

    if args.grids:  # the same layout as gan_jax's grid
        from gan_jax.sampling import class_rows

        n = config.log.num_samples
        yg = class_rows(n, fam.num_classes) if conditional else None
        with torch.no_grad():
            grid = g(torch.randn(n if yg is None else len(yg), fam.z_dim, generator=torch.Generator().manual_seed(seed)),
                     None if yg is None else torch.from_numpy(np.asarray(yg, np.int64)))
        _save_grid(grid.permute(0, 2, 3, 1).numpy(), None if yg is None else len(yg) // fam.num_classes, args, name, "pytorch", seed)
    scores = _scores(images(), dataset, args, seed, labels)
    n = gan.n_params
    return [{"framework": "pytorch", "variant": "raw", "seed": seed, "steps": t.steps, "train_seconds": train_s,
             "n_params_g": n["g"], "n_params_d": n["d"], **scores}]


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
    p.add_argument("--grids", default="", help="folder for each run's sample grid (gan_jax: its last-step grid, EMA)")
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
            counts = {(r["n_params_g"], r["n_params_d"]) for r in rows if r["seed"] == seed}
            if len(counts) > 1:  # the two frameworks must train the same networks
                raise ValueError(f"parameter counts differ between frameworks: {sorted(counts)}")
    except (UserError, ValueError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    metric_keys = [k for k in rows[0] if k.split("_")[0] in ("fid", "kid", "precision", "recall", "acc") and not k.endswith("_std")]
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
