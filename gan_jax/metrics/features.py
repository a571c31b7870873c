"""Feature networks for FID/KID/IS/PR, and cached reference statistics of real data.

A feature net is named by a spec string:

* ``"mnist"`` / ``"cifar10"``: the shipped small classifiers (``gan_jax.metrics.classifier``);
  metric names get the suffix ``_mnist`` / ``_cifar10`` ("classifier FID", comparable only
  with numbers from the same weights and protocol, never with Inception FID);
* ``"inception:/path/to/pt_inception-2015-12-05-6726825d.pth"`` (or a converted ``.npz``):
  pytorch-fid's Inception-v3, suffix ``_inception``.

Protocol (the same for real and generated images): uint8 NHWC images (generated samples
in [-1, 1] are quantised with ``gan_jax.images.to_uint8``, as if saved to PNG) are divided
by 255; for the classifiers, images whose size differs from the net's input are resized
with PyTorch-style bilinear interpolation (``align_corners=False``, no antialiasing); the
Inception net resizes to 299x299 the same way and repeats grayscale to 3 channels.

Reference statistics (mean and float64 covariance of the features of a dataset's train
split, via ``StreamingStats``, plus the features of a fixed random subset for KID and
precision/recall) are cached as ``.npz`` under ``$GAN_JAX_CACHE_DIR/stats`` (default
``~/.cache/gan_jax/stats``), keyed by dataset, image size, feature net (name and weights
hash) and protocol; files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gan_jax.metrics.fid import StreamingStats
from gan_jax.metrics.inception import resize_bilinear

#: size of the real-feature subset kept for KID / precision-recall
REAL_SUBSET = 10_000
PROTOCOL_VERSION = 1


@dataclasses.dataclass(frozen=True)
class FeatureNet:
    """A jitted ``apply(uint8 NHWC batch) -> (features (B, dim), logits (B, C))`` and its metadata."""

    #: metric-name suffix: "mnist", "cifar10" or "inception"
    name: str
    spec: str
    dim: int
    num_classes: int
    #: (H, W, C) the net needs, or None if it takes any size with 1 or 3 channels
    input_shape: tuple[int, int, int] | None
    #: identifies the weights (sha256 prefix of the file)
    weights_id: str
    weights_path: str
    batch_size: int
    apply: Callable[[jax.Array], tuple[jax.Array, jax.Array]]

    def check_compatible(self, image_shape: tuple[int, ...]) -> None:
        """``ValueError`` if images of ``image_shape`` (H, W, C) cannot be fed to this net."""
        if len(image_shape) != 3:
            raise ValueError(f"feature net {self.spec!r} needs images, got examples of shape {tuple(image_shape)}")
        c = image_shape[-1]
        if self.input_shape is None:
            if c not in (1, 3):
                raise ValueError(f"feature net {self.spec!r} takes 1 or 3 channels, got {c}")
        elif c != self.input_shape[-1]:
            raise ValueError(f"feature net {self.spec!r} takes {self.input_shape[-1]}-channel images "
                             f"{self.input_shape[0]}x{self.input_shape[1]}, but the data has {c} channel(s)")

    def protocol(self, image_shape: tuple[int, ...]) -> str:
        h, w, _ = image_shape
        target = (299, 299) if self.input_shape is None else self.input_shape[:2]
        resize = "none" if (h, w) == tuple(target) else f"torchbilinear{target[0]}x{target[1]}"
        return f"v{PROTOCOL_VERSION}-uint8-{resize}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=4)
def get_feature_net(spec: str) -> FeatureNet:
    """The feature net of a spec string (see the module docstring); ``ValueError`` if unknown,
    ``FileNotFoundError`` / ``ValueError`` / ``ImportError`` for missing / corrupt weights."""
    from gan_jax.metrics import classifier, inception

    if spec in classifier.CLASSIFIERS:
        module, variables, _meta = classifier.load_classifier(spec)
        path = classifier.default_weights_path(spec)
        shape = tuple(classifier.CLASSIFIERS[spec]["input_shape"])

        @jax.jit
        def apply(variables, images):
            x = images.astype(jnp.float32) / 255.0
            if x.shape[1:3] != shape[:2]:
                x = resize_bilinear(x, *shape[:2])
            return module.apply(variables, x)

        return FeatureNet(name=spec, spec=spec, dim=int(module.widths[-1]), num_classes=module.num_classes,
                          input_shape=shape, weights_id=_sha256(path)[:16], weights_path=str(path), batch_size=500,
                          apply=functools.partial(apply, variables))
    if spec.startswith("inception:"):
        path = Path(spec.split(":", 1)[1]).expanduser()
        variables = inception.load_inception_variables(path)
        return FeatureNet(name="inception", spec=spec, dim=inception.FEATURE_DIM, num_classes=inception.NUM_CLASSES,
                          input_shape=None, weights_id=_sha256(path)[:16], weights_path=str(path), batch_size=50,
                          apply=inception.make_feature_fn(variables))
    raise ValueError(f"unknown feature net {spec!r}; choose 'mnist', 'cifar10' or 'inception:/path/to/{inception.FID_WEIGHTS_NAME}'")


def iter_features(net: FeatureNet, batches: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(features, logits) as float32 NumPy per uint8 batch; short batches are padded to
    ``net.batch_size`` so the net compiles once."""
    for images in batches:
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise TypeError(f"feature nets take uint8 images, got {images.dtype}")
        n = images.shape[0]
        for start in range(0, n, net.batch_size):
            chunk = images[start:start + net.batch_size]
            valid = chunk.shape[0]
            if valid < net.batch_size:
                chunk = np.concatenate([chunk, np.zeros((net.batch_size - valid, *chunk.shape[1:]), np.uint8)])
            feats, logits = net.apply(jnp.asarray(chunk))
            yield np.asarray(feats, np.float32)[:valid], np.asarray(logits, np.float32)[:valid]


def compute_features(net: FeatureNet, images: np.ndarray, *, progress: bool = False, desc: str = "features"):
    """(features (N, dim), logits (N, C)) of uint8 images, in memory (for modest N)."""
    images = np.asarray(images)
    net.check_compatible(images.shape[1:])
    bar = tqdm(total=len(images), desc=desc, disable=not progress, unit="img", dynamic_ncols=True)
    feats, logits = [], []
    for f, l in iter_features(net, [images]):
        feats.append(f)
        logits.append(l)
        bar.update(len(f))
    bar.close()
    return np.concatenate(feats), np.concatenate(logits)


# ----------------------------------------------------------------------------- reference cache


def cache_dir() -> Path:
    """``$GAN_JAX_CACHE_DIR/stats`` (default ``~/.cache/gan_jax/stats``)."""
    root = os.environ.get("GAN_JAX_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "gan_jax") / "stats"


def reference_key(dataset: str, split: str, image_shape: tuple[int, ...], net: FeatureNet, num: int | None) -> str:
    h, w, c = image_shape
    n = "all" if num is None else f"{num}r"  # r: a fixed random subset (until 2026-12-07 the first num images)
    return f"{dataset}-{split}-{h}x{w}x{c}__{net.name}-{net.weights_id}__{net.protocol(image_shape)}__n{n}"


def _atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reference_statistics(dataset: str, images: np.ndarray | Callable[[], np.ndarray], net: FeatureNet, *,
                         split: str = "train", num: int | None = None, image_shape: tuple[int, ...] | None = None,
                         cache: bool = True, progress: bool = False, seed: int = 0) -> dict:
    """Feature statistics of real images, from the cache or computed (then cached).

    Args:
        dataset, split: name the data in the cache key.
        images: uint8 NHWC images, or a zero-argument function returning them (called only
            on a cache miss).
        net: the feature net.
        num: use only ``num`` of the images (None: all): the fixed random subset
            ``gan_jax.data.pipeline.limit_subset`` picks, since a split's first images need not
            be a sample of it (the offline CIFAR-10 is stored class by class).
        image_shape: (H, W, C) of the images (needed with a callable ``images`` for the key).

    Returns:
        {"mu" (dim,), "sigma" (dim, dim) float64, "count": int, "subset": float32
        features of at most ``REAL_SUBSET`` images drawn at random with ``seed`` (for KID and
        precision/recall), "key": the cache key, "path": the cache file or None}.
    """
    if image_shape is None:
        if callable(images):
            raise ValueError("image_shape is required when images is a function")
        image_shape = tuple(np.asarray(images).shape[1:])
    net.check_compatible(image_shape)
    key = reference_key(dataset, split, tuple(image_shape), net, num)
    path = cache_dir() / f"{key}.npz"
    if cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {"mu": z["mu"], "sigma": z["sigma"], "count": int(z["count"]), "subset": z["subset"],
                        "key": key, "path": str(path)}
        except (OSError, ValueError, KeyError, EOFError):
            pass  # unreadable cache entry: recompute and overwrite
    imgs = images() if callable(images) else images
    imgs = np.asarray(imgs)
    if num is not None:
        from gan_jax.data.pipeline import limit_subset

        imgs = imgs[limit_subset(len(imgs), num)]
    if tuple(imgs.shape[1:]) != tuple(image_shape):
        raise ValueError(f"images have shape {imgs.shape[1:]}, expected {tuple(image_shape)}")
    n = len(imgs)
    keep = np.sort(np.random.default_rng(seed).permutation(n)[:REAL_SUBSET])
    stats = StreamingStats.init(net.dim)
    subset = np.zeros((len(keep), net.dim), np.float32)
    bar = tqdm(total=n, desc=f"reference {dataset}/{split} [{net.name}]", disable=not progress, unit="img",
               dynamic_ncols=True)
    step = max(net.batch_size, 1000)
    for start in range(0, n, step):
        feats = np.concatenate([f for f, _ in iter_features(net, [imgs[start:start + step]])])
        stats = stats.update(feats)
        lo, hi = np.searchsorted(keep, [start, start + len(feats)])
        subset[lo:hi] = feats[keep[lo:hi] - start]
        bar.update(len(feats))
    bar.close()
    mu, sigma = stats.finalize()
    out = {"mu": mu, "sigma": sigma, "count": n, "subset": subset, "key": key, "path": None}
    if cache:
        _atomic_savez(path, mu=mu, sigma=sigma, count=np.asarray(n), subset=subset,
                      meta=np.asarray(json.dumps({"dataset": dataset, "split": split, "image_shape": list(image_shape),
                                                  "net": net.spec, "weights_id": net.weights_id,
                                                  "protocol": net.protocol(tuple(image_shape))})))
        out["path"] = str(path)
    return out
