"""Image-translation datasets: pairs of domains a -> b, aligned (pix2pix) or not (CycleGAN).

Names (``translation_dataset``):

* ``cifar10_edges`` (paired): a = the edge map of a CIFAR-10 image (black edges on white, 1
  channel), b = the colour image; the edges2* task of pix2pix (Isola et al. 2017, "Image-to-Image
  Translation with Conditional Adversarial Networks"), whose edges2shoes/edges2handbags maps come
  from HED (Xie & Tu 2015). Train: CIFAR-10 train (50k); test: CIFAR-10 test (10k), in a fixed
  random order (``HELD_OUT_SEED``; the offline copy is stored class by class).
* ``cifar10_gray`` (paired): a = grayscale (ITU-R 601 luma), b = colour (pix2pix's BW -> colour).
* ``digits_edges`` (paired): a = edges, b = the scikit-learn digit shipped with gan_jax (no file);
  a fixed 10% of the 1,797 digits is the test split.
* ``mnist_mnistm`` (unpaired): a = MNIST, b = MNIST-M (Ganin & Lempitsky 2015, "Unsupervised
  Domain Adaptation by Backpropagation"): ``|patch - digit|`` per channel, the patch a colour photo.
  Training a = MNIST train [0, 30000), b = MNIST-M of MNIST train [30000, 60000): disjoint digits,
  so training holds no hidden pairs. Test: MNIST test and the MNIST-M of the same 10k digits
  (aligned, with labels), so a translation can be scored against its true counterpart.
* ``folders:DIR_A,DIR_B`` (unpaired): two image folders read like ``folder:<path>``; a fixed 10%
  of each (at least 1) is its test split.
* ``folder_pairs:DIR_A,DIR_B`` (paired): files paired by relative path without extension
  (``DIR_A/x/001.png`` with ``DIR_B/x/001.jpg``), each pair the same pixel size; a fixed 10% of
  the pairs is the test split.

Deviations from the papers, because only CIFAR-10 and MNIST are available offline: MNIST-M's
patches are whole CIFAR-10 images of the same split (a seeded random choice, randomly flipped
horizontally) instead of crops of BSDS500 photos; edges are a small Canny-like Sobel detector
(``edges``) instead of HED, so they are thinner and noisier than pix2pix's.

Random crops and flips (``data.load_size``, ``data.flip``; folder datasets only): the reference
(junyanz/pytorch-CycleGAN-and-pix2pix, ``--preprocess resize_and_crop --load_size 286 --crop_size
256``, flips unless ``--no_flip``) resizes every training image to 286x286, takes a random 256x256
crop and flips it left-right with p = 0.5, one draw per image, shared by the two images of an
aligned pair. Here the training images are stored at load_size (center-cropped to a square first,
as every folder image, and resized bilinearly; the reference stretches non-square images and
resizes bicubically) and ``TranslationStream`` crops and flips each batch on the host. The
held-out test images stay at image_size, resized without crop or flip, so metrics do not depend
on random draws (the reference's test script also random-crops, only without flips).

Every derived array is computed once per process, read-only, and identical on every machine:
integer arithmetic for gray/edges/blends and fixed numpy seeds (the ``*_SEED`` constants).
Streams yield ``{"a": uint8 (B, H, W, Ca), "b": uint8 (B, H, W, Cb)}``: paired sets draw a and b
at the same (shuffled) indices, unpaired sets draw them in independent orders.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gan_jax.data.arrays import ArrayStream
from gan_jax.data.errors import DatasetError, DatasetNotFoundError

if TYPE_CHECKING:
    from gan_jax.data import Dataset

__all__ = ["TRANSLATION_DATASETS", "FOLDERS_PREFIX", "FOLDER_PAIRS_PREFIX", "AUGMENTED_PREFIXES", "HELD_OUT_FRACTION",
           "HELD_OUT_SEED", "JITTER_SEED", "MNIST_M_SEEDS", "MNIST_M_SPLIT", "TranslationInfo", "TranslationStream", "is_translation",
           "gray", "edges", "blend_mnist_m", "mnist_m_patches", "check_augment", "translation_arrays", "translation_dataset"]

TRANSLATION_DATASETS = ("cifar10_edges", "cifar10_gray", "digits_edges", "mnist_mnistm")
FOLDERS_PREFIX = "folders:"
FOLDER_PAIRS_PREFIX = "folder_pairs:"
#: share of digits_edges / folders / folder_pairs held out as the test split (at least 1 image)
HELD_OUT_FRACTION = 0.1
#: seed of the held-out permutation (numpy default_rng)
HELD_OUT_SEED = 0
#: seeds of MNIST-M's patch choice and flips, per split
MNIST_M_SEEDS = {"train": 1, "test": 2}
#: MNIST train digits [0, MNIST_M_SPLIT) are domain a, [MNIST_M_SPLIT, 60000) become MNIST-M
MNIST_M_SPLIT = 30000
#: datasets whose training images can be randomly cropped and flipped (data.load_size, data.flip)
AUGMENTED_PREFIXES = (FOLDERS_PREFIX, FOLDER_PAIRS_PREFIX)
#: first entropy word of the crop/flip draws: keeps them apart from the order streams' seeds
JITTER_SEED = 0x6A177E12
_DEFAULT_SIZE = 32
_CHUNK_PIXELS = 2**22  # pixels per vectorised edge step (4096 images at 32x32): bounds the int32 temporaries


@dataclasses.dataclass(frozen=True)
class TranslationInfo:
    """What translation models and metrics need beyond the training stream."""

    #: training pairs are aligned (pix2pix) or not (CycleGAN)
    paired: bool
    #: names of domains a and b, e.g. ("edges", "cifar10")
    domains: tuple[str, str]
    #: (H, W, C) of one a / b image
    shape_a: tuple[int, int, int]
    shape_b: tuple[int, int, int]
    #: uint8 (N, H, W, Ca) / (M, H, W, Cb), read-only: the held-out split
    test_a: np.ndarray
    test_b: np.ndarray
    #: test_a[i] and test_b[i] show the same scene
    aligned_test: bool
    #: int32 (N,) class of test pair i where known, else None
    test_labels: np.ndarray | None
    #: shipped classifier fitting each domain: "mnist", "cifar10" or None
    features: tuple[str | None, str | None]


def is_translation(name: str) -> bool:
    return name in TRANSLATION_DATASETS or name.startswith(AUGMENTED_PREFIXES)


def _readonly(*arrays: np.ndarray | None) -> None:
    for a in arrays:
        if a is not None:
            a.setflags(write=False)


# --- derived images --------------------------------------------------------------------------


def gray(images: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of uint8 RGB (N, H, W, 3), rounded half up: uint8 (N, H, W, 1)."""
    x = images.astype(np.int32)
    return ((299 * x[..., 0] + 587 * x[..., 1] + 114 * x[..., 2] + 500) // 1000).astype(np.uint8)[..., None]


def _edges_chunk(g: np.ndarray) -> np.ndarray:
    """Edge mask of int32 (N, H, W) luma; integer arithmetic only, so exact everywhere."""
    n, h, w = g.shape

    def neighbours(x: np.ndarray, mode: str):
        p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode=mode)
        return lambda dy, dx: p[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    # 3x3 binomial blur first: without it JPEG noise and the digits' upsampling steps become edges
    win = neighbours(g, "edge")
    g = (4 * win(0, 0) + 2 * (win(-1, 0) + win(1, 0) + win(0, -1) + win(0, 1))
         + win(-1, -1) + win(-1, 1) + win(1, -1) + win(1, 1) + 8) // 16
    win = neighbours(g, "edge")
    gx = (win(-1, 1) + 2 * win(0, 1) + win(1, 1)) - (win(-1, -1) + 2 * win(0, -1) + win(1, -1))
    gy = (win(1, -1) + 2 * win(1, 0) + win(1, 1)) - (win(-1, -1) + 2 * win(-1, 0) + win(-1, 1))
    mag = gx * gx + gy * gy  # squared magnitude: <= 2 * 1020**2, fits int32
    # non-maximum suppression along the gradient direction (4 bins; tan 22.5 deg ~ 29/70) thins
    # the wide Sobel bands to one-pixel outlines
    win = neighbours(mag, "constant")
    ax, ay = np.abs(gx), np.abs(gy)
    horizontal, vertical = 70 * ay <= 29 * ax, 70 * ax <= 29 * ay
    ridge = np.where(horizontal, (mag >= win(0, -1)) & (mag >= win(0, 1)),
                     np.where(vertical, (mag >= win(-1, 0)) & (mag >= win(1, 0)),
                              np.where(gx * gy > 0, (mag >= win(-1, -1)) & (mag >= win(1, 1)),
                                       (mag >= win(-1, 1)) & (mag >= win(1, -1)))))
    # keep ridges stronger than 1/4 of the image's strongest gradient (1/16 of its square)
    peak = mag.reshape(n, -1).max(axis=1)[:, None, None]
    return ridge & (mag > 0) & (16 * mag > peak)


def edges(images: np.ndarray) -> np.ndarray:
    """Edge maps of uint8 (N, H, W, 1 or 3) images: uint8 (N, H, W, 1), edges 0 on 255.

    Luma (``gray``), 3x3 binomial blur, Sobel gradient, non-maximum suppression, then ridge pixels
    whose gradient magnitude exceeds 1/4 of the image's maximum (Canny without hysteresis).
    """
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"edges expects uint8 (N, H, W, 1 or 3) images, got {images.dtype} {images.shape}")
    out = np.empty(images.shape[:3], np.uint8)
    step = max(1, _CHUNK_PIXELS // (images.shape[1] * images.shape[2]))
    for i in range(0, len(images), step):
        chunk = images[i : i + step]
        g = (chunk[..., 0] if chunk.shape[-1] == 1 else gray(chunk)[..., 0]).astype(np.int32)
        out[i : i + step] = np.where(_edges_chunk(g), 0, 255)
    return out[..., None]


def blend_mnist_m(digits: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """MNIST-M images: ``|patch - digit|`` per channel, for uint8 digits (N, H, W, 1) and patches (N, H, W, 3)."""
    return np.abs(patches.astype(np.int16) - digits.astype(np.int16)).astype(np.uint8)


def mnist_m_patches(n: int, pool_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(patch index int64 (n,) into a pool of ``pool_size`` images, horizontal flip bool (n,)) for n digits."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, pool_size, n), rng.integers(0, 2, n).astype(bool)


def _mnist_m(digits: np.ndarray, pool: np.ndarray, seed: int) -> np.ndarray:
    index, flip = mnist_m_patches(len(digits), len(pool), seed)
    patches = pool[index]
    patches[flip] = patches[flip, :, ::-1]
    return blend_mnist_m(digits, patches)


# --- held-out splits ------------------------------------------------------------------------


def _held_out(n: int, what: str, unit: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """(train, test) sorted indices: test is a fixed HELD_OUT_FRACTION of n (at least 1, leaving at least 1)."""
    if n < 2:
        raise DatasetError(f"{what} has {n} {unit}{'s' if n != 1 else ''}; a translation dataset needs at least 2 "
                           f"(one held out as the test split, one to train on)")
    perm = np.random.default_rng(HELD_OUT_SEED).permutation(n)
    k = min(max(1, round(n * HELD_OUT_FRACTION)), n - 1)
    return np.sort(perm[k:]), np.sort(perm[:k])


# --- building the arrays ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Arrays:
    train_a: np.ndarray
    train_b: np.ndarray
    info: TranslationInfo


def _pack(paired, domains, train_a, train_b, test_a, test_b, aligned, labels, features) -> _Arrays:
    _readonly(train_a, train_b, test_a, test_b, labels)
    # the test images have the model's shape; training images may be larger (load_size: cropped per batch)
    info = TranslationInfo(paired=paired, domains=domains, shape_a=tuple(test_a.shape[1:]), shape_b=tuple(test_b.shape[1:]),
                           test_a=test_a, test_b=test_b, aligned_test=aligned, test_labels=labels, features=features)
    return _Arrays(train_a, train_b, info)


def _size(name: str, image_size: int | None, default: int) -> int:
    from gan_jax.data import _image_size

    return _image_size(name, image_size, default)


def _cifar(name: str, size: int, data_dir: str | None) -> _Arrays:
    from gan_jax.data import load_arrays

    derive = edges if name == "cifar10_edges" else gray
    (train_b, _), (test_b, labels) = (load_arrays("cifar10", s, data_dir=data_dir, image_size=size) for s in ("train", "test"))
    # the offline CIFAR-10 is stored class by class: shuffled once, the first N test pairs (logged
    # metrics, grids) are a sample of every class, and a test batch mixes classes as training's do
    order = np.random.default_rng(HELD_OUT_SEED).permutation(len(test_b))
    test_b = test_b[order]
    return _pack(True, ("edges" if name == "cifar10_edges" else "gray", "cifar10"), derive(train_b), train_b,
                 derive(test_b), test_b, True, np.asarray(labels, np.int32)[order], (None, "cifar10"))


def _digits_edges(size: int) -> _Arrays:
    from gan_jax.data.digits import load_digits

    if size < 8:
        raise DatasetError(f"dataset 'digits_edges': image size must be >= 8, got {size}")
    images, labels = load_digits(size)
    train, test = _held_out(len(images), "the digits set")
    a = edges(images)
    return _pack(True, ("edges", "digits"), a[train], images[train], a[test], images[test], True, labels[test].copy(),
                 (None, "mnist"))


def _mnist_mnistm(size: int, data_dir: str | None) -> _Arrays:
    from gan_jax.data import load_arrays

    (mnist, _), (mnist_test, labels) = (load_arrays("mnist", s, data_dir=data_dir, image_size=size) for s in ("train", "test"))
    (pool, _), (pool_test, _) = (load_arrays("cifar10", s, data_dir=data_dir, image_size=size) for s in ("train", "test"))
    if len(mnist) <= MNIST_M_SPLIT:
        raise DatasetError(f"dataset 'mnist_mnistm' needs more than {MNIST_M_SPLIT} MNIST training images, got {len(mnist)}")
    train_b = _mnist_m(mnist[MNIST_M_SPLIT:], pool, MNIST_M_SEEDS["train"])
    test_b = _mnist_m(mnist_test, pool_test, MNIST_M_SEEDS["test"])
    return _pack(False, ("mnist", "mnist_m"), mnist[:MNIST_M_SPLIT], train_b, mnist_test, test_b, True,
                 np.array(labels, np.int32), ("mnist", None))


def _two_dirs(name: str, prefix: str) -> tuple[Path, Path]:
    parts = [p.strip() for p in name[len(prefix):].split(",")]
    if len(parts) != 2 or not all(parts):
        raise DatasetError(f"dataset {name!r}: expected {prefix}DIR_A,DIR_B (two directories separated by one comma)")
    dirs = tuple(Path(p).expanduser() for p in parts)
    for d in dirs:
        if not d.is_dir():
            raise DatasetNotFoundError(f"image folder {d} not found (dataset {prefix}DIR_A,DIR_B needs two existing directories)")
    return dirs


def _domains(a: Path, b: Path) -> tuple[str, str]:
    return (a.name, b.name) if a.name != b.name else (str(a), str(b))


def _folder_split(root: Path, train_size: int, test_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) images of one folder, read like ``folder:<path>``: the held-out images at
    ``test_size``, the training images at ``train_size`` (the load size of random crops)."""
    from gan_jax.data.folder import IMAGE_EXTENSIONS, _decode, _first_channels, _image_files

    files = _image_files(root)
    if not files:
        raise DatasetError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)}); add some or fix the path")
    train, test = _held_out(len(files), f"image folder {root}")
    channels = _first_channels(files[0])
    return tuple(np.stack([_decode(files[i], channels, s) for i in index]) for index, s in ((train, train_size), (test, test_size)))


def _folders(name: str, size: int, train_size: int) -> _Arrays:
    dir_a, dir_b = _two_dirs(name, FOLDERS_PREFIX)
    (train_a, test_a), (train_b, test_b) = (_folder_split(d, train_size, size) for d in (dir_a, dir_b))
    return _pack(False, _domains(dir_a, dir_b), train_a, train_b, test_a, test_b, False, None, (None, None))


def _stems(root: Path) -> dict[str, Path]:
    from gan_jax.data.folder import IMAGE_EXTENSIONS, _image_files

    files = _image_files(root)
    if not files:
        raise DatasetError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)}); add some or fix the path")
    stems: dict[str, Path] = {}
    for f in files:
        key = f.relative_to(root).with_suffix("").as_posix()
        if key in stems:
            raise DatasetError(f"image folder {root}: {stems[key].name} and {f.name} have the same name without extension, "
                               "so a pair would be ambiguous; rename or remove one")
        stems[key] = f
    return stems


def _unmatched(keys: list[str], root: Path, other: Path) -> str:
    first = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
    return f"{len(keys)} in {root} without a partner in {other}" + (f" ({first})" if keys else "")


def _folder_pairs(name: str, size: int, train_size: int) -> _Arrays:
    from gan_jax.data.folder import _first_channels, _read
    from gan_jax.data.pipeline import center_crop, resize

    dir_a, dir_b = _two_dirs(name, FOLDER_PAIRS_PREFIX)
    stems_a, stems_b = _stems(dir_a), _stems(dir_b)
    only_a, only_b = sorted(stems_a.keys() - stems_b.keys()), sorted(stems_b.keys() - stems_a.keys())
    if only_a or only_b:
        raise DatasetError(f"dataset {name!r}: unmatched files, {_unmatched(only_a, dir_a, dir_b)}, "
                           f"{_unmatched(only_b, dir_b, dir_a)}; files pair by relative path without extension "
                           "(DIR_A/001.png with DIR_B/001.jpg)")
    keys = sorted(stems_a)
    train, test = _held_out(len(keys), f"dataset {name!r}", "pair")
    sizes = np.full(len(keys), train_size)
    sizes[test] = size  # held-out pairs at the model's size: evaluation never crops
    channels = _first_channels(stems_a[keys[0]]), _first_channels(stems_b[keys[0]])
    a, b = [], []
    for key, s in zip(keys, sizes.tolist()):
        im_a, im_b = _read(stems_a[key], channels[0]), _read(stems_b[key], channels[1])
        if im_a.shape[:2] != im_b.shape[:2]:
            raise DatasetError(f"dataset {name!r}: {stems_a[key]} is {im_a.shape[1]}x{im_a.shape[0]} but its pair {stems_b[key]} "
                               f"is {im_b.shape[1]}x{im_b.shape[0]}; paired images must be pixel-aligned (the same size)")
        a.append(resize(center_crop(im_a), s))
        b.append(resize(center_crop(im_b), s))

    def stack(images: list[np.ndarray], index: np.ndarray) -> np.ndarray:
        return np.stack([images[i] for i in index])

    return _pack(True, _domains(dir_a, dir_b), stack(a, train), stack(b, train), stack(a, test), stack(b, test), True, None,
                 (None, None))


@functools.lru_cache(maxsize=2)
def _build(name: str, size: int, data_dir: str | None, load_size: int = 0) -> _Arrays:
    if name in ("cifar10_edges", "cifar10_gray"):
        return _cifar(name, size, data_dir)
    if name == "digits_edges":
        return _digits_edges(size)
    if name == "mnist_mnistm":
        return _mnist_mnistm(size, data_dir)
    if name.startswith(FOLDERS_PREFIX):
        return _folders(name, size, load_size or size)
    if name.startswith(FOLDER_PAIRS_PREFIX):
        return _folder_pairs(name, size, load_size or size)
    raise DatasetError(f"unknown translation dataset {name!r}; available: {', '.join(TRANSLATION_DATASETS)}, "
                       f"{FOLDERS_PREFIX}DIR_A,DIR_B, {FOLDER_PAIRS_PREFIX}DIR_A,DIR_B")


def check_augment(name: str, image_size: int | None, load_size: int, flip: bool) -> None:
    """``DatasetError`` unless ``load_size``/``flip`` are off or fit dataset ``name`` (folders only)."""
    if not (load_size or flip):
        return
    if not name.startswith(AUGMENTED_PREFIXES):
        what = " and ".join(([f"data.load_size={load_size}"] if load_size else []) + (["data.flip=true"] if flip else []))
        raise DatasetError(f"{what}: random crops and flips apply to the image-folder translation datasets only "
                           f"({FOLDERS_PREFIX}DIR_A,DIR_B and {FOLDER_PAIRS_PREFIX}DIR_A,DIR_B), not {name!r}; set "
                           "data.load_size=0 data.flip=false")
    from gan_jax.data import FOLDER_DEFAULT_SIZE

    size = _size(name, image_size, FOLDER_DEFAULT_SIZE)
    if load_size and load_size < size:
        raise DatasetError(f"data.load_size={load_size} must be >= data.image_size={size} (training images are loaded at "
                           "load_size and randomly cropped to image_size), or 0 (off)")


def translation_arrays(name: str, *, image_size: int | None = None, data_dir: str | None = None,
                       load_size: int = 0) -> tuple[np.ndarray, np.ndarray, TranslationInfo]:
    """(train a, train b, info) of dataset ``name``: read-only uint8 arrays, memoised per process.

    ``image_size=None``: 32 (64 for ``folders:``/``folder_pairs:``). Paired sets: train_a[i] and
    train_b[i] are a pair; unpaired sets may differ in length. ``load_size`` (folders only, 0 = off):
    the training arrays are load_size x load_size, the test split and ``info``'s shapes image_size."""
    from gan_jax.data import FOLDER_DEFAULT_SIZE, _resolve_dir

    check_augment(name, image_size, load_size, False)
    default = FOLDER_DEFAULT_SIZE if name.startswith(AUGMENTED_PREFIXES) else _DEFAULT_SIZE
    built = _build(name, _size(name, image_size, default), _resolve_dir(data_dir), load_size)
    return built.train_a, built.train_b, built.info


# --- streams ------------------------------------------------------------------------------


class TranslationStream:
    """Infinite stream of ``{"a": ..., "b": ...}`` batches; ``get_state``/``set_state`` resume exactly.

    Paired: one ArrayStream of pair indices. Unpaired: one per domain, seeded independently from
    ``seed`` (SeedSequence([seed, 0]) / ([seed, 1])).

    ``crop > 0`` (a random ``crop`` x ``crop`` window of every image) and ``flip`` (a left-right flip
    with p = 0.5) jitter each example on its own, as the reference's per-image transforms: paired
    sets with one draw per pair, applied to a and b alike; unpaired sets with independent draws per
    domain. The draws come from ``default_rng([JITTER_SEED, seed, shard_index, side, batch])``,
    a function of the batch counter (saved in the state), so a resumed stream jitters exactly as
    the uninterrupted one and every shard draws its own jitter."""

    def __init__(self, train_a: np.ndarray, train_b: np.ndarray, paired: bool, batch_size: int, seed: int, *,
                 name: str = "", shard_index: int = 0, shard_count: int = 1, crop: int = 0, flip: bool = False):
        if not 0 <= shard_index < shard_count:
            raise ValueError(f"shard_index must be in [0, {shard_count}), got {shard_index}")
        if crop and not 0 < crop <= min(x.shape[d] for x in (train_a, train_b) for d in (1, 2)):
            raise ValueError(f"crop must be in [1, {min(train_a.shape[1:3] + train_b.shape[1:3])}] (the stored images), got {crop}")
        self.train_a, self.train_b, self.paired = train_a, train_b, paired
        self.crop, self.flip, self._seed, self._shard = crop, flip, seed, shard_index
        self._batches = 0  # batches returned: the jitter's counter
        sides = [("pairs", len(train_a))] if paired else [("a images", len(train_a)), ("b images", len(train_b))]
        self._orders = []
        for side, (what, n) in enumerate(sides):
            index = np.arange(n)[shard_index::shard_count]
            if not 0 < batch_size <= len(index):
                raise DatasetError(f"batch size {batch_size} must be in [1, {len(index)}] (training {what} of {name!r}"
                                   + (f" in shard {shard_index} of {shard_count})" if shard_count > 1 else ")"))
            side_seed = seed if paired else int(np.random.SeedSequence([seed, side]).generate_state(1)[0])
            self._orders.append(ArrayStream(index, None, batch_size, side_seed))

    @property
    def jitters(self) -> bool:
        return bool(self.crop) or self.flip

    def _window(self, side: int, n: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows (n, S), cols (n, S)) pixel indices of each example's crop, columns reversed where flipped."""
        rng = np.random.default_rng([JITTER_SEED, self._seed, self._shard, side, self._batches])
        size = self.crop or h
        top, left = rng.integers(0, h - size + 1, n), rng.integers(0, w - size + 1, n)
        r = np.arange(size)
        flipped = (rng.random(n) < 0.5) if self.flip else np.zeros(n, bool)
        return top[:, None] + r, left[:, None] + np.where(flipped[:, None], r[::-1], r)

    @staticmethod
    def _take(x: np.ndarray, window: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        rows, cols = window
        return x[np.arange(len(x))[:, None, None], rows[:, :, None], cols[:, None, :]]

    def __next__(self) -> dict[str, np.ndarray]:
        if self.paired:
            i = next(self._orders[0])["x"]
            a, b = self.train_a[i], self.train_b[i]
            if self.jitters:
                window = self._window(0, len(i), *a.shape[1:3])
                a, b = self._take(a, window), self._take(b, window)
        else:
            a, b = self.train_a[next(self._orders[0])["x"]], self.train_b[next(self._orders[1])["x"]]
            if self.jitters:
                a, b = self._take(a, self._window(0, len(a), *a.shape[1:3])), self._take(b, self._window(1, len(b), *b.shape[1:3]))
        self._batches += 1
        return {"a": a, "b": b}

    def __iter__(self):
        return self

    def get_state(self) -> dict:
        """The order streams' positions, plus ``"batches"`` (the jitter's counter) when jittering."""
        counter = {"batches": self._batches} if self.jitters else {}
        if self.paired:
            return {**self._orders[0].get_state(), **counter}
        return {"a": self._orders[0].get_state(), "b": self._orders[1].get_state(), **counter}

    def set_state(self, state: dict) -> None:
        if self.paired:
            self._orders[0].set_state(state)
        else:
            self._orders[0].set_state(state["a"])
            self._orders[1].set_state(state["b"])
        if "batches" in state:
            self._batches = int(state["batches"])
        else:  # a state without the counter: every epoch of the first order has len // batch_size batches
            order = self._orders[0]
            self._batches = order.epoch * (len(order.x) // order.batch_size) + order.position // order.batch_size


def translation_dataset(name: str, *, image_size: int | None = None, data_dir: str | None = None, load_size: int = 0,
                        flip: bool = False) -> "Dataset":
    """The translation dataset ``name`` (see the module docstring) as a ``Dataset`` with ``translation`` set.

    ``load_size``/``flip`` (``folders:``/``folder_pairs:`` only): random crops of training images
    stored at load_size, random flips (``TranslationStream``); the test split is never jittered."""
    from gan_jax.data import Dataset

    check_augment(name, image_size, load_size, flip)
    train_a, train_b, info = translation_arrays(name, image_size=image_size, data_dir=data_dir, load_size=load_size)
    stream = functools.partial(TranslationStream, train_a, train_b, info.paired, name=name,
                               crop=info.shape_a[0] if load_size else 0, flip=flip)
    return Dataset(name=name, data_shape=info.shape_b, num_classes=0, stream=stream, is_image=True, translation=info)
