"""Translations and translation metrics of pix2pix / CycleGAN runs (driver and CLI side).

* ``translate``: images of one domain through the trained generator (``"a2b"``; CycleGAN also
  ``"b2a"``), batched, in inference mode; a U-Net with ``test_batch_stats`` (pix2pix's default, as
  the paper) runs as in training: BatchNorm with the statistics of the batch (of ``batch_size``
  test images, or of the images given to ``gan-jax translate``), dropout on, keys from ``seed``.
* ``translation_grid``: rows of (source | translation | target) triplets from the held-out split;
  without a target (unaligned test sets), CycleGAN's reconstruction takes its place.
* ``translation_metrics`` on the held-out split, per direction ``D``:

  - ``D/l1``, ``D/psnr``, ``D/ssim`` where the test set is aligned: mean absolute error of pixels
    in [0, 1], PSNR (peak 1) and SSIM (11x11 Gaussian window, sigma 1.5; dm-pix) of the uint8
    translations against the true targets, averaged over images;
  - ``D/fd_S``: the Frechet distance between the translations and the real test images of the
    target domain in the features of the shipped classifier ``S`` (``mnist``/``cifar10``) that fits
    that domain (a classifier FID: comparable only with numbers from the same weights);
  - ``D/label_acc_mnist`` where the target domain is MNIST and test labels exist (MNIST-M -> MNIST):
    the MNIST classifier's accuracy on the translations (the FCN-score idea of pix2pix, on digits),
    with ``D/label_acc_untranslated`` (the classifier on the grayscale source images: the level a
    translation has to beat) and ``D/label_acc_real`` (on the real targets: the ceiling);
  - CycleGAN: ``cycle_a/l1``, ``cycle_b/l1`` (reconstruction error, pixels in [0, 1]).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.engine import Recipe, TrainState, apply_network, to_float
from gan_jax.images import to_uint8

__all__ = ["directions", "translate", "translation_grid", "translation_metrics"]


def directions(recipe: Recipe, state: TrainState) -> tuple[str, ...]:
    """The directions a run translates: ``("a2b",)`` for pix2pix, ``("a2b", "b2a")`` for CycleGAN."""
    return ("a2b", "b2a") if "G_ba" in state.nets else ("a2b",)


def _net(state: TrainState, direction: str):
    if direction not in ("a2b", "b2a"):
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
    if "G_ab" in state.nets:
        return state.nets["G_ab" if direction == "a2b" else "G_ba"]
    if direction != "a2b":
        raise ValueError("this run (pix2pix) translates a2b only: its generator has no inverse")
    return state.nets["G"]


def _batch_stats_at_test(net) -> bool:
    return bool(getattr(net.module, "test_batch_stats", False) and net.collections)


@jax.jit
def _apply(net, images, key):
    if _batch_stats_at_test(net):
        # pix2pix's test mode: the network exactly as in training (batch statistics of this batch,
        # dropout on); the statistics it would update are discarded
        out, _ = net.module.apply({"params": net.params, **net.collections}, to_float(images), train=True,
                                  mutable=list(net.collections), rngs={"dropout": key})
        return out
    return apply_network(net, to_float(images), rngs={"dropout": key})


def translate(recipe: Recipe, state: TrainState, images: np.ndarray, direction: str = "a2b", *, seed: int = 0,
              batch_size: int = 100) -> np.ndarray:
    """uint8 (N, H, W, C) images of the source domain -> uint8 translations (as if saved to PNG)."""
    net = _net(state, direction)
    images = np.asarray(images)
    out = []
    key = jax.random.PRNGKey(seed)
    # one compiled shape, except where the padding would enter the test batch's BatchNorm statistics
    pad = len(images) > batch_size and not _batch_stats_at_test(net)
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        valid = len(chunk)
        if pad and valid < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - valid, *chunk.shape[1:]), chunk.dtype)])
        out.append(to_uint8(np.asarray(_apply(net, jnp.asarray(chunk), jax.random.fold_in(key, i))))[:valid])
    return np.concatenate(out)


def as_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """uint8 images with ``channels`` channels (gray repeated), to put both domains in one grid."""
    return np.repeat(x, channels // x.shape[-1], axis=-1) if x.shape[-1] != channels else x


def translation_grid(recipe: Recipe, state: TrainState, dataset, num: int = 8, *, seed: int = 0) -> tuple[np.ndarray, int]:
    """uint8 images for a grid of (source | translation | target-or-reconstruction) triplets:
    ``num`` test examples per direction, 2 triplets per row; returns (images, columns)."""
    info = dataset.translation
    rows = []
    for direction in directions(recipe, state):
        src, tgt = (info.test_a, info.test_b) if direction == "a2b" else (info.test_b, info.test_a)
        src = src[:num]
        out = translate(recipe, state, src, direction, seed=seed)
        if info.aligned_test:
            third = tgt[:num]
        else:
            back = "b2a" if direction == "a2b" else "a2b"
            third = translate(recipe, state, out, back, seed=seed) if back in directions(recipe, state) else out
        rows += [src, out, third]
    c = max(r.shape[-1] for r in rows)
    rows = [as_channels(r, c) for r in rows]
    # interleave: example i of a direction -> (source_i, translation_i, third_i)
    triplets = []
    for d in range(0, len(rows), 3):
        for i in range(len(rows[d])):
            triplets += [rows[d][i], rows[d + 1][i], rows[d + 2][i]]
    return np.stack(triplets), 6


@jax.jit
def _pixel_metrics(pred, target):
    import dm_pix

    p, t = pred.astype(jnp.float32) / 255.0, target.astype(jnp.float32) / 255.0
    return jnp.mean(jnp.abs(p - t), axis=(1, 2, 3)), dm_pix.psnr(p, t), dm_pix.ssim(p, t)


def pixel_metrics(pred: np.ndarray, target: np.ndarray, batch_size: int = 500) -> dict[str, float]:
    """Mean per-image L1 (pixels in [0, 1]), PSNR (peak 1; an identical image counts as 100 dB)
    and SSIM of uint8 ``pred`` against uint8 ``target``."""
    if pred.shape != target.shape:
        raise ValueError(f"translations {pred.shape} and targets {target.shape} differ in shape")
    l1s, psnrs, ssims = [], [], []
    for i in range(0, len(pred), batch_size):
        l1, psnr, ssim = _pixel_metrics(jnp.asarray(pred[i:i + batch_size]), jnp.asarray(target[i:i + batch_size]))
        l1s.append(np.asarray(l1, np.float64))
        psnrs.append(np.minimum(np.asarray(psnr, np.float64), 100.0))
        ssims.append(np.asarray(ssim, np.float64))
    return {"l1": float(np.mean(np.concatenate(l1s))), "psnr": float(np.mean(np.concatenate(psnrs))),
            "ssim": float(np.mean(np.concatenate(ssims)))}


def _feature_stats(net, images):
    from gan_jax.metrics.features import compute_features

    feats, logits = compute_features(net, images)
    f = feats.astype(np.float64)
    return f.mean(0), np.cov(f, rowvar=False), logits


def translation_metrics(recipe: Recipe, state: TrainState, dataset, *, num: int = 10000, seed: int = 0) -> dict[str, float]:
    """The metrics of the module docstring on the first ``num`` held-out examples (flat names)."""
    from gan_jax.metrics import frechet_distance
    from gan_jax.metrics.features import get_feature_net

    info = dataset.translation
    out: dict[str, float] = {}
    for direction in directions(recipe, state):
        src, tgt = (info.test_a, info.test_b) if direction == "a2b" else (info.test_b, info.test_a)
        feat = info.features[1] if direction == "a2b" else info.features[0]
        src, tgt = src[:num], tgt[:num]
        pred = translate(recipe, state, src, direction, seed=seed)
        if info.aligned_test:
            out.update({f"{direction}/{k}": v for k, v in pixel_metrics(pred, tgt).items()})
        if "G_ba" in state.nets:
            back = translate(recipe, state, pred, "b2a" if direction == "a2b" else "a2b", seed=seed)
            dom = "a" if direction == "a2b" else "b"
            out[f"cycle_{dom}/l1"] = float(np.mean(np.abs(back.astype(np.float32) - src.astype(np.float32))) / 255.0)
        if feat is not None and len(pred) >= 2:
            net = get_feature_net(feat)
            mu_p, sig_p, logits = _feature_stats(net, pred)
            mu_t, sig_t, logits_t = _feature_stats(net, tgt)
            out[f"{direction}/fd_{feat}"] = frechet_distance(mu_p, sig_p, mu_t, sig_t)
            labels = info.test_labels[:num] if info.test_labels is not None else None
            if feat == "mnist" and labels is not None and info.aligned_test:
                from gan_jax.data.translation import gray

                _, _, logits_src = _feature_stats(net, src if src.shape[-1] == 1 else gray(src))
                out[f"{direction}/label_acc_mnist"] = float(np.mean(np.argmax(logits, 1) == labels))
                out[f"{direction}/label_acc_untranslated"] = float(np.mean(np.argmax(logits_src, 1) == labels))
                out[f"{direction}/label_acc_real"] = float(np.mean(np.argmax(logits_t, 1) == labels))
    return out


def load_inputs(path, shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    """An image file, or every image under a folder (sorted), as uint8 (N, H, W, C) of the run's
    source ``shape`` (center-cropped, resized, converted to its channels) and their relative names."""
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    from gan_jax.data.errors import DatasetError
    from gan_jax.data.folder import _image_files
    from gan_jax.data.pipeline import center_crop, resize

    path = Path(path)
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise DatasetError(f"--input folder {path} holds no images")
        names = [str(f.relative_to(path)) for f in files]
    elif path.is_file():
        files, names = [path], [path.name]
    else:
        raise DatasetError(f"--input {path} not found")
    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                arr = np.asarray(im.convert("L" if shape[-1] == 1 else "RGB"))
        except (UnidentifiedImageError, OSError) as e:
            raise DatasetError(f"{f}: cannot decode image ({e})") from None
        arr = arr.reshape(arr.shape[0], arr.shape[1], shape[-1])
        out.append(resize(center_crop(arr), shape[0]))
    return np.stack(out), names
