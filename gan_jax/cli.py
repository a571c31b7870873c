"""``gan-jax`` command line: parses arguments and calls the driver; no logic of its own.

    gan-jax train [EXPERIMENT] [--workdir DIR] [--set section.field=value ...]
    gan-jax sample --workdir DIR --num N --out FILE.{npy,png,txt} [--seed S] [--no-ema] [--label K] [--truncation PSI]
                   [--temperature T] [--top-k K] [--prefix TEXT]   (text generators: .txt/.npy)
    gan-jax interpolate --workdir DIR --out FILE.{png,gif} [--pairs P] [--steps S] [--seed S] [--space z|w]
    gan-jax eval --workdir DIR [--metrics fid,kid,is,pr[,acc]] [--num N] [--features mnist|cifar10|inception:PATH]
    gan-jax translate --workdir DIR --input IMG_OR_DIR --out OUT [--direction a2b|b2a]   (pix2pix / CycleGAN runs)
    gan-jax mix --workdir DIR --out FILE.png [--rows R] [--cols C] [--layers A-B] [--truncation PSI]   (StyleGAN2 runs)
    gan-jax project --workdir DIR --image IMG --out FILE.png [--steps N] [--seed S] [--w-plus] [--no-ema] [--save-w W.npy]
                    [--video] [--features mnist|cifar10|none] [--feature-weight X]   (StyleGAN2 runs: image -> w)
    gan-jax list

``train`` on a workdir that holds the same experiment resumes from its latest checkpoint.
Bad input (unknown experiment, bad --set, a workdir holding another run, corrupt or
missing checkpoint, ...) is reported on one line on stderr with exit code 2, and nothing
is written. A run whose losses become NaN/inf stops with exit code 1, naming the step.
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
    s.add_argument("--out", required=True, help="FILE.npy (raw samples), FILE.png (grid / scatter plot) or, for text, FILE.txt")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    s.add_argument("--label", type=int, help="class of every sample (conditional models; default: a class per row)")
    s.add_argument("--truncation", type=float, metavar="PSI", help="truncation psi in [0, 1]: StyleGAN2 pulls w towards w_avg, "
                   "BigGAN draws psi * z truncated to [-2, 2] (default: none)")
    s.add_argument("--standing-stats", type=int, default=0, metavar="N", help="BatchNorm generators (BigGAN): recompute the "
                   "statistics from N training-mode batches of 256 first (BigGAN's standing statistics; default 0: off)")
    s.add_argument("--temperature", type=float, default=1.0, help="text: sampling temperature")
    s.add_argument("--top-k", type=int, default=0, help="text: sample among the k most likely tokens (0 = all)")
    s.add_argument("--prefix", default="", help="text: a prompt every sample starts with")

    i = sub.add_parser("interpolate", help="latent interpolations (slerp) of a trained generator")
    i.add_argument("--workdir", required=True)
    i.add_argument("--out", required=True, help="FILE.png (a pair per row) or FILE.gif (animation)")
    i.add_argument("--pairs", type=int, default=8, help="number of latent pairs")
    i.add_argument("--steps", type=int, default=10, help="samples along each path")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    i.add_argument("--label", type=int, default=0, help="class (conditional models)")
    i.add_argument("--space", choices=("z", "w"), default="z", help="z: slerp between latents (default); w: lerp in StyleGAN2's W")
    i.add_argument("--truncation", type=float, metavar="PSI", help="StyleGAN2 (--space w): truncation psi in [0, 1]")

    mx = sub.add_parser("mix", help="a style-mixing grid of a StyleGAN2 run (rows: fine styles, columns: coarse styles)")
    mx.add_argument("--workdir", required=True)
    mx.add_argument("--out", required=True, help="FILE.png")
    mx.add_argument("--rows", type=int, default=4)
    mx.add_argument("--cols", type=int, default=4)
    mx.add_argument("--layers", help="style layers A-B (0-based, B exclusive) taken from the column sources (default: the coarse half)")
    mx.add_argument("--seed", type=int, default=0)
    mx.add_argument("--truncation", type=float, metavar="PSI", help="truncation psi in [0, 1]")
    mx.add_argument("--label", type=int, default=0, help="class (conditional models)")
    mx.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")

    pj = sub.add_parser("project", help="find the w of a StyleGAN2 run that reproduces an image (as projector.py, without LPIPS)")
    pj.add_argument("--workdir", required=True)
    pj.add_argument("--image", required=True, help="the target image (center-cropped, resized and converted to the run's shape)")
    pj.add_argument("--out", required=True, help="FILE.png: target | projection side by side (a new file)")
    pj.add_argument("--steps", type=int, default=1000, help="optimisation steps (default: 1000, as projector.py)")
    pj.add_argument("--seed", type=int, default=0, help="the noise added to w while optimising")
    pj.add_argument("--w-plus", action="store_true", help="optimise one w per style layer (default: one w for all, as projector.py)")
    pj.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    pj.add_argument("--save-w", metavar="W.npy", help="also write the styles, float32 (1, num_ws, w_dim) (a new file)")
    pj.add_argument("--video", action="store_true", help="also write FILE.gif: target | projection along the optimisation")
    pj.add_argument("--features", choices=("mnist", "cifar10", "none"), help="classifier of the feature loss (default: the one "
                    "gan-jax eval uses for the dataset; none: pixel MSE only)")
    pj.add_argument("--feature-weight", type=float, help="weight of the feature loss (default: per classifier, see gan_jax.projection)")
    pj.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("eval", help="FID/KID/IS/precision-recall of a trained generator (writes a new WORKDIR/eval/step_N[.K].json)")
    e.add_argument("--workdir", required=True)
    e.add_argument("--metrics", default="fid,kid,is,pr", help="comma-separated subset of fid,kid,is,pr,acc (default: fid,kid,is,pr; acc: class-conditional models)")
    e.add_argument("--num", type=int, default=10000, help="generated samples (default: 10000)")
    e.add_argument("--features", help="mnist, cifar10 or inception:/path/to/pt_inception-2015-12-05-6726825d.pth (default: by dataset)")
    e.add_argument("--data-dir", help="folder with the real data for the reference statistics")
    e.add_argument("--batch-size", type=int, default=500)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    e.add_argument("--num-real", type=int, help="use only N training images (a fixed random subset) as the reference (default: all)")
    e.add_argument("--standing-stats", type=int, default=0, metavar="N", help="BatchNorm generators: score with the statistics "
                   "of N training-mode batches of 256 (BigGAN's standing statistics; default 0: the stored ones)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")

    tr = sub.add_parser("translate", help="translate images with a trained pix2pix / CycleGAN run")
    tr.add_argument("--workdir", required=True)
    tr.add_argument("--input", required=True, help="an image file or a folder of images (center-cropped and resized to the run's size)")
    tr.add_argument("--out", required=True, help="FILE.png for one input image, a new folder for a folder")
    tr.add_argument("--direction", choices=("a2b", "b2a"), default="a2b", help="a2b (default) or, for CycleGAN, b2a")
    tr.add_argument("--seed", type=int, default=0, help="dropout noise of a U-Net that keeps dropout at test time")
    tr.add_argument("--grid", action="store_true", help="also write OUT_grid.png: input | translation pairs")

    sub.add_parser("list", help="list the experiments")
    return p


def _train(args) -> int:
    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.train import train_and_evaluate

    config = apply_overrides(load_experiment(args.experiment), args.overrides)
    workdir = Path(args.workdir or Path("runs") / config.experiment)
    _, result = train_and_evaluate(config, workdir, progress=not args.no_progress)
    if result.resumed_from:
        print(f"resumed {config.experiment} from step {result.resumed_from}")
    if result.status != "completed":
        print(f"stopped by {result.status} at step {result.step}; checkpoint saved in {workdir / 'checkpoints'}; "
              "run the same command to resume", file=sys.stderr)
        return 0
    report = result.report
    print(f"trained {config.experiment} for {config.train.steps} steps; samples: {report['samples']}")
    if "modes_covered" in report:
        print(f"modes covered {report['modes_covered']}/{report['num_modes']}, high quality {100 * report['high_quality']:.1f}%")
    return 0


def _restore(workdir: Path):
    """(dataset, recipe, restored state) of a trained workdir."""
    from gan_jax import checkpoint
    from gan_jax.config import UserError, read_config
    from gan_jax.experiment import build_state
    from gan_jax.config import CONFIG_FILE

    if not (workdir / CONFIG_FILE).is_file():
        raise UserError(f"{workdir} holds no gan-jax run (no {CONFIG_FILE}); train first")
    dataset, recipe, target = build_state(read_config(workdir / CONFIG_FILE))
    return dataset, recipe, checkpoint.restore_state(workdir, target)


def _check_label(label, dataset, recipe) -> None:
    from gan_jax.config import UserError

    if label is None:
        return
    if not recipe.num_classes:
        raise UserError("--label needs a conditional model; this generator ignores labels")
    if not 0 <= label < dataset.num_classes:
        raise UserError(f"--label must be in 0..{dataset.num_classes - 1}, got {label}")


def _sample(args) -> int:
    import numpy as np

    from gan_jax.config import UserError
    from gan_jax.images import to_uint8
    from gan_jax.sampling import check_truncation, class_rows, sample, write_samples

    workdir = Path(args.workdir)
    out = Path(args.out)
    if out.suffix not in (".npy", ".png", ".txt"):
        raise UserError(f"--out must end in .npy, .png or .txt, got {out.name!r}")
    if args.num < 1:
        raise UserError(f"--num must be >= 1, got {args.num}")
    dataset, recipe, state = _restore(workdir)
    if dataset.text is not None:
        return _sample_text(args, dataset, recipe, state, out)
    if out.suffix == ".txt":
        raise UserError("--out FILE.txt is for text generators; this run generates images or points (use .png or .npy)")
    _check_label(args.label, dataset, recipe)
    num, labels, ncol = args.num, None, None
    if recipe.num_classes:
        if args.label is not None:
            labels = np.full(num, args.label, np.int32)
        else:  # a class per row
            labels = class_rows(num, dataset.num_classes)
            num, ncol = len(labels), len(labels) // dataset.num_classes
    try:
        check_truncation(recipe, args.truncation)
    except ValueError as e:
        raise UserError(f"--truncation: {e}") from None
    if args.standing_stats:
        state = _standing(args, recipe, state)
    samples = sample(recipe, state, num, seed=args.seed, use_ema=not args.no_ema, labels=labels, truncation=args.truncation)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, to_uint8(samples) if dataset.is_image else samples.astype(np.float32))
    else:
        write_samples(samples, out, dataset, ncol)
    print(f"wrote {num} samples to {out}")
    return 0


def _standing(args, recipe, state):
    from gan_jax.config import UserError
    from gan_jax.standing import standing_state

    try:
        return standing_state(recipe, state, args.standing_stats, seed=args.seed, use_ema=not args.no_ema)
    except ValueError:
        raise UserError("--standing-stats N needs N >= 1 and a generator with BatchNorm statistics") from None


def _sample_text(args, dataset, recipe, state, out: Path) -> int:
    import numpy as np

    from gan_jax.config import UserError
    from gan_jax.data import DatasetError
    from gan_jax.text_eval import decode, encode_prefix, generate_tokens, write_text

    if out.suffix == ".png":
        raise UserError("a text generator writes .txt (decoded text) or .npy (token ids), not .png")
    if args.temperature <= 0 or args.top_k < 0:
        raise UserError(f"need --temperature > 0 and --top-k >= 0, got {args.temperature} and {args.top_k}")
    try:
        prefix = encode_prefix(dataset, args.prefix) if args.prefix else None
    except DatasetError as e:
        raise UserError(f"--prefix: {e}") from None
    tokens = generate_tokens(recipe, state, args.num, seed=args.seed, temperature=args.temperature, top_k=args.top_k, prefix=prefix)
    if out.suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, tokens)
    else:
        write_text(decode(dataset, tokens), out)
    print(f"wrote {args.num} samples to {out}")
    return 0


def _interpolate(args) -> int:
    from PIL import Image

    from gan_jax.config import UserError
    from gan_jax.images import to_uint8
    from gan_jax.sampling import check_truncation, interpolate, interpolate_w, interpolation_grid

    out = Path(args.out)
    if out.suffix not in (".png", ".gif"):
        raise UserError(f"--out must end in .png or .gif, got {out.name!r}")
    if args.pairs < 1 or args.steps < 2:
        raise UserError(f"need --pairs >= 1 and --steps >= 2, got {args.pairs} and {args.steps}")
    dataset, recipe, state = _restore(Path(args.workdir))
    if dataset.text is not None:
        raise UserError("interpolate draws images; this run generates text (use gan-jax sample --out FILE.txt)")
    if not dataset.is_image:
        raise UserError(f"interpolate draws images; dataset {dataset.name!r} has points")
    _check_label(args.label if recipe.num_classes else None, dataset, recipe)
    label = args.label if recipe.num_classes else None
    if args.space == "w" or args.truncation is not None:
        if recipe.truncation != "w":
            raise UserError("--space w and --truncation need a StyleGAN2 run (W space); this generator has none")
        try:
            check_truncation(recipe, args.truncation)
        except ValueError as e:
            raise UserError(f"--truncation: {e}") from None
        frames = interpolate_w(recipe, state, num_pairs=args.pairs, num_steps=args.steps, seed=args.seed, use_ema=not args.no_ema,
                               label=label, truncation=args.truncation)
    else:
        frames = interpolate(recipe, state, num_pairs=args.pairs, num_steps=args.steps, seed=args.seed, use_ema=not args.no_ema, label=label)
    scale = max(1, 128 // frames.shape[2])

    def picture(a):
        img = Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
        return img.resize((img.width * scale, img.height * scale), Image.NEAREST)

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".png":
        picture(interpolation_grid(frames)).save(out)
    else:  # one frame per interpolation step, the pairs side by side; there and back
        from gan_jax.images import image_grid

        pics = [picture(image_grid(to_uint8(frames[:, k]), ncol=args.pairs)) for k in range(args.steps)]
        pics = pics + pics[-2:0:-1]
        pics[0].save(out, save_all=True, append_images=pics[1:], duration=100, loop=0)
    print(f"wrote {args.pairs} interpolations of {args.steps} steps to {out}")
    return 0


def _mix(args) -> int:
    from gan_jax.config import UserError
    from gan_jax.images import image_grid, to_uint8
    from gan_jax.sampling import check_truncation, coarse_layers, style_mix

    out = Path(args.out)
    if out.suffix != ".png":
        raise UserError(f"--out must end in .png, got {out.name!r}")
    if args.rows < 1 or args.cols < 1:
        raise UserError(f"need --rows >= 1 and --cols >= 1, got {args.rows} and {args.cols}")
    layers = None
    if args.layers:
        try:
            a, b = (int(v) for v in args.layers.split("-"))
        except ValueError:
            raise UserError(f"--layers must look like A-B (e.g. 0-4), got {args.layers!r}") from None
        layers = (a, b)
    dataset, recipe, state = _restore(Path(args.workdir))
    if recipe.truncation != "w":
        raise UserError("mix needs a StyleGAN2 run (a generator with per-layer styles)")
    _check_label(args.label if recipe.num_classes else None, dataset, recipe)
    try:
        check_truncation(recipe, args.truncation)
        grid = style_mix(recipe, state, rows=args.rows, cols=args.cols, layers=layers, seed=args.seed, use_ema=not args.no_ema,
                         truncation=args.truncation, label=args.label if recipe.num_classes else None)
    except ValueError as e:
        raise UserError(str(e)) from None
    from PIL import Image

    picture = image_grid(to_uint8(grid.reshape(-1, *grid.shape[2:])), ncol=args.cols + 1)
    scale = max(1, 64 // grid.shape[2])
    img = Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(out)
    n_ws = state.nets[recipe.generator].module.num_ws
    a, b = layers or coarse_layers(n_ws)
    print(f"wrote a {args.rows}x{args.cols} style-mixing grid (layers {a}-{b} of {n_ws} from the column sources) to {out}")
    return 0


def _project(args) -> int:
    import numpy as np
    from PIL import Image

    from gan_jax.config import UserError
    from gan_jax.data import DatasetError
    from gan_jax.translation_eval import load_inputs

    out, image = Path(args.out), Path(args.image)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must end in .png, got {out.name!r}")
    outputs = [out] + ([out.with_suffix(".gif")] if args.video else [])
    if args.save_w:
        if Path(args.save_w).suffix != ".npy":
            raise UserError(f"--save-w must end in .npy, got {Path(args.save_w).name!r}")
        outputs.append(Path(args.save_w))
    for path in outputs:
        if path.exists():
            raise UserError(f"{path} exists; choose a new path (nothing was written)")
    if args.steps < 1:
        raise UserError(f"--steps must be >= 1, got {args.steps}")
    if args.feature_weight is not None and args.feature_weight < 0:
        raise UserError(f"--feature-weight must be >= 0, got {args.feature_weight}")
    if not image.is_file():
        raise UserError(f"--image {image} is not an image file")
    dataset, recipe, state = _restore(Path(args.workdir))
    if recipe.truncation != "w":
        raise UserError("project needs a StyleGAN2 run (a generator with a W space)")
    if recipe.num_classes:
        raise UserError("project needs an unconditional StyleGAN2 run; this one is conditional (projector.py projects unconditional ones)")
    shape = tuple(state.nets[recipe.generator].module.image_shape)
    features = _projection_features(args.features, dataset.name, shape)
    try:
        target = load_inputs(image, shape)[0][0]
    except DatasetError as e:
        raise UserError(str(e)) from None
    from gan_jax.projection import project, side_by_side, video_frames

    result = project(recipe, state, target, num_steps=args.steps, seed=args.seed, use_ema=not args.no_ema, w_plus=args.w_plus,
                     features=features, feature_weight=args.feature_weight, progress=not args.no_progress)
    scale = max(1, 64 // shape[0])
    picture = lambda a: Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture(side_by_side(target, result.image, scale)).save(out)
    wrote = [str(out)]
    if args.video:
        frames = [picture(f) for f in video_frames(recipe, state, target, result.trajectory, use_ema=not args.no_ema, scale=scale)]
        frames[0].save(outputs[1], save_all=True, append_images=frames[1:], duration=100, loop=0)
        wrote.append(str(outputs[1]))
    if args.save_w:
        Path(args.save_w).parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save_w, result.ws[None].astype(np.float32))
        wrote.append(args.save_w)
    feat = "" if features is None else f", feature distance ({features}) {result.feature_dist:.4g}"
    print(f"projected {image.name} in {args.steps} steps: pixel MSE {result.pixel_mse:.4g} (pixels in [0, 1]){feat}; wrote {', '.join(wrote)}")
    return 0


def _projection_features(choice: str | None, dataset_name: str, shape: tuple[int, ...]) -> str | None:
    """The classifier of ``gan-jax project``'s feature loss: ``--features``, else eval's default for the dataset."""
    from gan_jax.config import UserError
    from gan_jax.evaluate import DEFAULT_FEATURES
    from gan_jax.metrics.classifier import CLASSIFIERS

    if choice == "none":
        return None
    spec = choice or DEFAULT_FEATURES.get(dataset_name)
    if spec is None:
        raise UserError(f"no default feature net for dataset {dataset_name!r}; pass --features mnist|cifar10 (matching its channels) "
                        "or --features none (pixel MSE only)")
    need = CLASSIFIERS[spec]["input_shape"][-1]
    if shape[-1] != need:
        raise UserError(f"feature net {spec!r} takes {need}-channel images, but this run makes {shape[-1]}-channel ones; "
                        "pass --features with a matching classifier or none")
    return spec


def _translate(args) -> int:
    import numpy as np
    from PIL import Image

    from gan_jax.config import UserError
    from gan_jax.data import DatasetError
    from gan_jax.images import save_image_grid
    from gan_jax.translation_eval import as_channels, directions, load_inputs, translate

    out = Path(args.out)
    dataset, recipe, state = _restore(Path(args.workdir))
    info = dataset.translation
    if info is None:
        raise UserError("translate needs a pix2pix or CycleGAN run; this one generates from noise (use gan-jax sample)")
    if args.direction not in directions(recipe, state):
        raise UserError(f"this run (pix2pix) translates a2b only ({info.domains[0]} -> {info.domains[1]}); "
                        "--direction b2a needs a CycleGAN run")
    source = info.shape_a if args.direction == "a2b" else info.shape_b
    try:
        images, names = load_inputs(args.input, source)
    except DatasetError as e:
        raise UserError(str(e)) from None
    single = Path(args.input).is_file()
    if single and out.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file for one input image, got {out.name!r}")
    if out.exists():
        raise UserError(f"--out {out} exists; choose a new path (nothing was written)")
    result = translate(recipe, state, images, args.direction, seed=args.seed)
    targets = [out] if single else [out / Path(n).with_suffix(".png") for n in names]
    for path, image in zip(targets, result):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
    if args.grid:
        c = max(images.shape[-1], result.shape[-1])
        pairs = [as_channels(x, c) for pair in zip(images, result) for x in pair]
        grid = out.with_name(out.stem + "_grid.png")
        save_image_grid(np.stack(pairs), grid, ncol=min(8, 2 * len(images)))
    print(f"translated {len(images)} image(s) {args.direction} ({' -> '.join(info.domains[::1 if args.direction == 'a2b' else -1])}) "
          f"to {out}")
    return 0


def _eval(args) -> int:
    import json

    from gan_jax.evaluate import evaluate_and_record

    result, path = evaluate_and_record(args.workdir, metrics=args.metrics, num=args.num, features=args.features, data_dir=args.data_dir,
                                       batch_size=args.batch_size, seed=args.seed, use_ema=not args.no_ema, num_real=args.num_real,
                                       progress=not args.no_progress, standing_stats=args.standing_stats)
    print(json.dumps(result))
    print(f"wrote {path}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gan_jax.config import UserError

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "sample":
            return _sample(args)
        if args.command == "interpolate":
            return _interpolate(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "translate":
            return _translate(args)
        if args.command == "mix":
            return _mix(args)
        if args.command == "project":
            return _project(args)
        from gan_jax.config import list_experiments

        print("\n".join(list_experiments()))
        return 0
    except UserError as e:
        print(f"gan-jax: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # gan_jax.train.TrainingDiverged
        print(f"gan-jax: training diverged: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
