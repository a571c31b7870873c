"""Evaluate a trained workdir: FID, KID, IS and precision/recall in a feature space.

    from gan_jax.evaluate import evaluate
    evaluate("runs/dcgan_mnist", metrics=("fid", "kid", "is", "pr"), num=10000)
    # -> {"step": 3000, "fid_mnist": ..., "kid_mnist": ..., "is_mnist": ..., "precision_mnist": ...}

or ``gan-jax eval --workdir runs/dcgan_mnist --metrics fid,kid,is,pr --num 10000``.

The latest checkpoint of ``WORKDIR`` is restored (the state is rebuilt from
``WORKDIR/config.json``), ``num`` samples are drawn from the (EMA) generator in batches
with the fixed latents of ``seed`` (the same as ``gan-jax sample --seed``), quantised to
uint8 as if saved to PNG, and embedded by a feature net (see ``gan_jax.metrics.features``):

* ``features="mnist"`` / ``"cifar10"``: the shipped small classifiers (default for the
  mnist/digits and cifar10 datasets). Metric names end in ``_mnist`` / ``_cifar10``: a
  *classifier FID*, comparable only with numbers from the same weights, never with the
  Inception FID of papers;
* ``features="inception:/path/to/pt_inception-2015-12-05-6726825d.pth"``: pytorch-fid's
  Inception-v3 (names end in ``_inception``).

Reference: the training split of the run's dataset at the run's image size, its feature
mean/covariance in float64 (streamed; cached, see ``features.reference_statistics``) and
a fixed random subset of at most 10,000 real features for KID and precision/recall.
FID streams the generated features too; KID and PR keep ``num`` feature vectors in memory.

Metrics: ``fid_S`` (pytorch-fid definition), ``kid_S`` / ``kid_S_std`` (stylegan2-ada: 100
subsets of at most 1,000), ``is_S`` / ``is_S_std`` (10 splits; softmax over the net's
logits: 1008 Inception classes, or the classifier's 10), ``precision_S``, ``recall_S``
(k=3), ``density_S``, ``coverage_S`` (k=5); for class-conditional models also ``acc_S`` (metric
"acc", not in the default set): the fraction of samples (balanced labels) the shipped classifier
assigns to the class they were drawn for. The result is written to
``WORKDIR/eval/step_<N>.json`` (``step_<N>.2.json``, ... if that step was scored before: no result
is replaced) and returned. Bad input raises ``UserError``.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gan_jax.config import Config, UserError, read_config

METRICS = ("fid", "kid", "is", "pr")
#: every metric name ``metrics`` accepts: the defaults and "acc" (class-conditional models only)
ALL_METRICS = METRICS + ("acc",)
#: the feature net used when none is given, per dataset name
DEFAULT_FEATURES = {"mnist": "mnist", "digits": "mnist", "cifar10": "cifar10"}
IS_SPLITS = 10
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def _parse_metrics(metrics: str | Iterable[str]) -> tuple[str, ...]:
    names = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown or not names:
        raise UserError(f"unknown metric {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(ALL_METRICS)}")
    return tuple(dict.fromkeys(names))


def _feature_net(spec: str | None, dataset):
    from gan_jax.metrics import features as feats

    if not dataset.is_image:
        raise UserError(f"image metrics need image data; dataset {dataset.name!r} has points (see its mode coverage in report.json)")
    if spec is None:
        spec = DEFAULT_FEATURES.get(dataset.name)
        if spec is None:
            raise UserError(f"no default feature net for dataset {dataset.name!r}; pass features='inception:/path/to/weights' "
                            "(--features)")
    from gan_jax.metrics.classifier import CLASSIFIERS

    shape = tuple(dataset.data_shape)
    if spec in CLASSIFIERS and shape[-1] != CLASSIFIERS[spec]["input_shape"][-1]:  # before loading any weights
        need = CLASSIFIERS[spec]["input_shape"]
        raise UserError(f"feature net {spec!r} takes {need[-1]}-channel images {need[0]}x{need[1]}, but dataset "
                        f"{dataset.name!r} has {shape[-1]} channel(s)")
    try:
        net = feats.get_feature_net(spec)
        net.check_compatible(shape)
    except (ValueError, FileNotFoundError, ImportError) as e:
        raise UserError(str(e).splitlines()[0]) from None
    return net


def real_images(dataset_name: str, image_size: int, *, data_dir=None) -> np.ndarray:
    """uint8 NHWC training images of a dataset at ``image_size``, as the training pipeline
    gives them (``gan_jax.data.load_arrays``)."""
    from gan_jax.metrics._data import load_real

    try:
        return load_real(dataset_name, "train", data_dir=data_dir, image_size=image_size)[0]
    except UserError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot read the {dataset_name} training images for the reference statistics: {str(e).splitlines()[0]}") from None


def _reference(dataset, net, *, data_dir, num_real, progress):
    from gan_jax.metrics import features as feats

    size = int(dataset.data_shape[0])
    try:
        return feats.reference_statistics(
            dataset.name, lambda: real_images(dataset.name, size, data_dir=data_dir), net, split="train", num=num_real,
            image_shape=tuple(dataset.data_shape), progress=progress)
    except ValueError as e:
        raise UserError(str(e).splitlines()[0]) from None


def balanced_labels(num: int, num_classes: int) -> np.ndarray | None:
    """The labels scored samples are drawn for: classes in turn (``None`` for unconditional models)."""
    return (np.arange(num) % num_classes).astype(np.int32) if num_classes else None


def _generated_images(recipe, state, *, num, batch_size, seed, use_ema) -> Iterator[np.ndarray]:
    """``num`` uint8 images of the generator from the fixed latents of ``seed``, in batches."""
    from gan_jax.images import to_uint8
    from gan_jax.sampling import _generate, fixed_latents, noise_key

    z = fixed_latents(recipe, num, seed)
    labels = balanced_labels(num, recipe.num_classes)
    labels = None if labels is None else jnp.asarray(labels)
    for start in range(0, num, batch_size):
        valid = min(batch_size, num - start)
        zb = z[start:start + batch_size]
        yb = None if labels is None else labels[start:start + batch_size]
        if valid < batch_size and num > batch_size:  # one compiled shape
            zb = jnp.concatenate([zb, jnp.zeros((batch_size - valid, zb.shape[1]), zb.dtype)])
            yb = None if yb is None else jnp.concatenate([yb, jnp.zeros((batch_size - valid,), yb.dtype)])
        key = noise_key(seed, start // batch_size)
        yield to_uint8(np.asarray(_generate(recipe, state, zb, yb, use_ema=use_ema, key=key))[:valid])


def _features(batches: Iterable[np.ndarray], net, *, num, keep_features, keep_probs, progress):
    """Streaming stats (and optionally features / class probabilities) of uint8 image batches."""
    from gan_jax.metrics import StreamingStats
    from gan_jax.metrics.features import iter_features

    stats = StreamingStats.init(net.dim)
    kept_f, kept_p = [], []
    bar = tqdm(total=num, desc=f"features [{net.name}]", disable=not progress, unit="img", dynamic_ncols=True)
    for images in batches:
        for f, logits in iter_features(net, [images]):
            stats = stats.update(f)
            if keep_features:
                kept_f.append(f)
            if keep_probs:
                lg = logits.astype(np.float64)
                p = np.exp(lg - lg.max(axis=1, keepdims=True))
                kept_p.append(p / p.sum(axis=1, keepdims=True))
        bar.update(len(images))
    bar.close()
    return (stats, np.concatenate(kept_f) if keep_features else None, np.concatenate(kept_p) if keep_probs else None)


def compute_metrics(recipe, state, dataset, *, metrics: Sequence[str] = METRICS, features: str | None = None, num: int = 10000,
                    data_dir=None, batch_size: int = 500, seed: int = 0, use_ema: bool = True,
                    num_real: int | None = None, progress: bool = False) -> dict[str, float]:
    """The metrics of a (restored) ``state`` against ``dataset``'s training split, flat-named."""
    if batch_size < 1:
        raise UserError(f"batch_size must be >= 1, got {batch_size}")
    images = _generated_images(recipe, state, num=num, batch_size=min(batch_size, max(num, 1)), seed=seed, use_ema=use_ema)
    labels = balanced_labels(num, recipe.num_classes)  # those of _generated_images
    return score_images(images, dataset, metrics=metrics, features=features, num=num, data_dir=data_dir, seed=seed,
                        num_real=num_real, progress=progress, labels=labels)


def score_images(images: Iterable[np.ndarray], dataset, *, metrics: Sequence[str] = METRICS, features: str | None = None,
                 num: int = 10000, data_dir=None, seed: int = 0, num_real: int | None = None,
                 progress: bool = False, labels: np.ndarray | None = None) -> dict[str, float]:
    """The metrics of ``num`` uint8 NHWC images (an iterable of batches, from any generator, e.g.
    a PyTorch one in ``benchmarks/quality_vs_torch.py``) against ``dataset``'s training split.
    ``labels``: the classes the images were generated for (needed by "acc")."""
    from gan_jax.metrics import frechet_distance, inception_score, kernel_inception_distance, prdc

    metrics = _parse_metrics(metrics)
    if num < IS_SPLITS:
        raise UserError(f"num must be >= {IS_SPLITS}, got {num}")
    net = _feature_net(features, dataset)
    if "acc" in metrics:
        if labels is None or len(labels) < num:
            raise UserError("metric 'acc' needs a class-conditional model (the classes its samples were drawn for)")
        if net.name == "inception" or net.num_classes != dataset.num_classes:
            raise UserError(f"metric 'acc' needs a classifier of {dataset.name!r}'s {dataset.num_classes} classes; "
                            f"feature net {net.spec!r} has {net.num_classes}")
    ref = _reference(dataset, net, data_dir=data_dir, num_real=num_real, progress=progress)
    stats, fake, probs = _features(images, net, num=num, keep_features=bool({"kid", "pr"} & set(metrics)),
                                   keep_probs=bool({"is", "acc"} & set(metrics)), progress=progress)
    if stats.count != num:
        raise ValueError(f"expected {num} images, got {stats.count}")
    s = net.name
    out: dict[str, float] = {}
    if "fid" in metrics:
        mu, sigma = stats.finalize()
        out[f"fid_{s}"] = frechet_distance(mu, sigma, ref["mu"], ref["sigma"])
    real = ref["subset"]
    if "kid" in metrics:
        kid, kid_std = kernel_inception_distance(real, fake, num_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed)
        out[f"kid_{s}"], out[f"kid_{s}_std"] = kid, kid_std
    if "is" in metrics:
        out[f"is_{s}"], out[f"is_{s}_std"] = inception_score(probs, num_splits=IS_SPLITS)
    if "acc" in metrics:
        out[f"acc_{s}"] = float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)[:num]))
    if "pr" in metrics:
        n = min(len(real), num)  # as many reals as fakes (Kynkäänniemi et al.), a seeded random subset
        pick = np.sort(np.random.default_rng(seed).choice(len(real), n, replace=False))
        res = prdc(real[pick], fake, pr_nearest_k=3, dc_nearest_k=5)
        out.update({f"{k}_{s}": v for k, v in res.items()})
    return out


def _write_eval_record(workdir: Path, step: int, record: dict[str, Any]) -> Path:
    """Write ``record`` to a new file ``WORKDIR/eval/step_<N>.json`` (``step_<N>.2.json``, ``.3``, ... when
    the step was scored before, e.g. with other settings): earlier results are never replaced.

    Written to a temporary file and hard-linked to the first free name (an exclusive create, so two
    concurrent evaluations cannot take the same name; where the file system has no hard links, an
    exclusive open of the name); returns the path."""
    folder = workdir / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"step_{step}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        for k in itertools.count(1):
            path = folder / (f"step_{step}.json" if k == 1 else f"step_{step}.{k}.json")
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system
                try:
                    with open(path, "x") as f:
                        f.write(text)
                except FileExistsError:
                    continue
            return path
    finally:
        os.unlink(tmp)


def evaluate(workdir: str | Path, **kwargs) -> dict[str, Any]:
    """Evaluate ``workdir``'s latest checkpoint (``evaluate_and_record``'s metrics; its arguments)."""
    return evaluate_and_record(workdir, **kwargs)[0]


def evaluate_and_record(workdir: str | Path, *, metrics: Sequence[str] | str = METRICS, num: int = 10000, features: str | None = None,
                        data_dir=None, batch_size: int = 500, seed: int = 0, use_ema: bool = True, num_real: int | None = None,
                        progress: bool = True, standing_stats: int = 0) -> tuple[dict[str, Any], Path]:
    """Evaluate ``workdir``'s latest checkpoint; writes a new ``WORKDIR/eval/step_<N>[.K].json``.

    Args:
        workdir: a trained run (``config.json`` + ``checkpoints/``).
        metrics: any of "fid", "kid", "is", "pr", "acc" (a sequence or a comma-separated string).
        num: generated samples (>= 10).
        features: "mnist", "cifar10" or "inception:/path/to/weights" (default: by dataset).
        data_dir: where the real data lives (default: the data package's default).
        batch_size: generator batch size.
        seed: latents (as ``gan-jax sample --seed``) and KID/PR subset draws.
        use_ema: sample the EMA generator.
        num_real: use only ``num_real`` training images (a fixed random subset) for the reference (default all).
        standing_stats: > 0: score with BatchNorm statistics recomputed from that many training-mode
            batches of 256 (``gan_jax.standing.standing_state``; 0: the checkpoint's running averages).

    Returns:
        ``({"step": N, "fid_mnist": ..., ...}, path of the eval file)`` (flat metric names, suffix = feature net).
    """
    from gan_jax import checkpoint
    from gan_jax.experiment import build_state
    from gan_jax.config import CONFIG_FILE

    t0 = time.perf_counter()
    workdir = Path(workdir)
    metrics = _parse_metrics(metrics)
    if not (workdir / CONFIG_FILE).is_file():
        raise UserError(f"{workdir} holds no gan-jax run (no {CONFIG_FILE}); train first")
    config = read_config(workdir / CONFIG_FILE)
    if data_dir is None:
        data_dir = getattr(config.data, "dir", None) or None
    dataset, recipe, target = build_state(config)
    if dataset.text is None and dataset.translation is None:
        _feature_net(features, dataset)  # fail on a bad --features before restoring anything
    step = checkpoint.latest_step(workdir)
    if step is None:
        raise UserError(f"no checkpoint in {checkpoint.checkpoint_dir(workdir)}; train first")
    state = checkpoint.restore_state(workdir, target, step)
    if standing_stats:
        from gan_jax.standing import standing_state

        try:
            state = standing_state(recipe, state, standing_stats, seed=seed, use_ema=use_ema)
        except ValueError:
            raise UserError("standing statistics need N >= 1 and a generator with BatchNorm statistics") from None
    if dataset.text is not None:
        return _evaluate_text(workdir, dataset, recipe, state, int(step), num=num, seed=seed, t0=t0)
    if dataset.translation is not None:
        return _evaluate_translation(workdir, dataset, recipe, state, int(step), num=num, seed=seed, t0=t0)
    result = compute_metrics(recipe, state, dataset, metrics=metrics, features=features, num=num, data_dir=data_dir,
                             batch_size=batch_size, seed=seed, use_ema=use_ema, num_real=num_real, progress=progress)
    net = _feature_net(features, dataset)
    out = {"step": int(step), **result}
    record = {**out, "meta": {
        "workdir": str(workdir.resolve()), "dataset": dataset.name, "image_shape": list(dataset.data_shape),
        "num": num, "seed": seed, "use_ema": use_ema, "standing_stats": standing_stats, "features": net.spec, "feature_net": net.name,
        "weights": net.weights_path, "weights_sha256_prefix": net.weights_id, "num_real": num_real,
        "seconds": round(time.perf_counter() - t0, 2),
        "note": ("classifier FID: comparable only with numbers from the same weights and protocol, not Inception FID"
                 if net.name != "inception" else "Inception FID (pytorch-fid network and resize protocol)"),
    }}
    return out, _write_eval_record(workdir, int(step), record)


def _evaluate_text(workdir: Path, dataset, recipe, state, step: int, *, num: int, seed: int, t0: float) -> tuple[dict[str, Any], Path]:
    """Text runs: NLL_oracle / NLL_gen (oracle) or NLL_gen, BLEU and Self-BLEU (text), see ``gan_jax.text_eval``."""
    from gan_jax.text_eval import text_metrics

    out = {"step": step, **text_metrics(recipe, state, dataset, num=num, seed=seed)}
    record = {**out, "meta": {"workdir": str(workdir.resolve()), "dataset": dataset.name, "source": dataset.text.source, "num": num,
                              "seed": seed, "seconds": round(time.perf_counter() - t0, 2),
                              "note": "per-token NLLs in nats; BLEU/Self-BLEU: NLTK sentence BLEU with smoothing method1 (Texygen)"}}
    return out, _write_eval_record(workdir, int(step), record)


def _evaluate_translation(workdir: Path, dataset, recipe, state, step: int, *, num: int, seed: int,
                          t0: float) -> tuple[dict[str, Any], Path]:
    """Translation runs: L1/PSNR/SSIM, Frechet distance, label preservation and cycle error on
    the held-out split (``gan_jax.translation_eval``)."""
    from gan_jax.translation_eval import translation_metrics

    info = dataset.translation
    out = {"step": step, **translation_metrics(recipe, state, dataset, num=num, seed=seed)}
    record = {**out, "meta": {"workdir": str(workdir.resolve()), "dataset": dataset.name, "domains": list(info.domains),
                              "num": min(num, len(info.test_a)), "seed": seed, "seconds": round(time.perf_counter() - t0, 2),
                              "note": "held-out split; l1 on pixels in [0, 1], PSNR peak 1, SSIM 11x11 Gaussian (dm-pix); "
                                      "fd_S: Frechet distance in the shipped S classifier's features (not Inception FID)"}}
    return out, _write_eval_record(workdir, int(step), record)


def state_evaluator(config: Config, dataset, recipe, *, num: int | None = None, data_dir=None) -> Callable[[Any], dict[str, float]]:
    """``state -> metrics`` for ranking checkpoints by ``config.checkpoint.best_metric``.

    The metric name says what to compute: ``fid_mnist`` -> FID with the MNIST classifier,
    ``is_cifar10`` -> IS with the CIFAR-10 classifier, ... (Inception needs a weights path,
    so it cannot be named here). ``num`` defaults to ``config.log.eval_samples``.
    """
    from gan_jax.metrics.classifier import CLASSIFIERS

    name = config.checkpoint.best_metric
    head, _, suffix = name.partition("_")
    kind = {"fid": "fid", "kid": "kid", "is": "is", "precision": "pr", "recall": "pr", "density": "pr", "coverage": "pr"}.get(head)
    if kind is None or suffix not in CLASSIFIERS:
        raise UserError(f"checkpoint.best_metric={name!r} is not an evaluation metric; use e.g. "
                        f"{', '.join(f'fid_{c}' for c in CLASSIFIERS)}, kid_mnist, is_cifar10, precision_mnist")
    _feature_net(suffix, dataset)  # compatibility check now, not at the first save
    num = num or config.log.eval_samples
    data_dir = data_dir or getattr(config.data, "dir", None) or None

    def evaluator(state) -> dict[str, float]:
        return compute_metrics(recipe, state, dataset, metrics=(kind,), features=suffix, num=num, data_dir=data_dir, progress=False)

    return evaluator
