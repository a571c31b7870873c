"""Dataset registry: experiments name their data, ``get_dataset`` builds it.

Names:

* ``digits``: scikit-learn's 8x8 digits, shipped inside gan_jax, upsampled (no files needed).
* ``ring``, ``grid``: toy 2D mixtures of Gaussians.
* ``mnist``, ``fashion_mnist``, ``cifar10``, ``celeb_a``: TFDS datasets, read with
  ``tfds.data_source`` (array_record) through grain. ``mnist`` and ``cifar10`` can also be built
  offline, without TensorFlow, from the files in a local data directory (``local_tfds``).
* ``folder:<path>``: every image under a directory, center-cropped and resized.
* text (``gan_jax.data.oracle``, ``gan_jax.data.text``): ``seqgan_oracle`` (SeqGAN's oracle LSTM
  and its samples), ``seqgan_random`` (a random oracle, no file), ``poems_zh_5``/``poems_zh_7``
  (Chinese couplets), ``text:<path>`` (one sequence per line); streams yield ``{"x": int32 (B, L)}``.
* image translation (``gan_jax.data.translation``): paired ``cifar10_edges``, ``cifar10_gray``,
  ``digits_edges``, ``folder_pairs:<dir_a>,<dir_b>``; unpaired ``mnist_mnistm``,
  ``folders:<dir_a>,<dir_b>``; streams yield ``{"a": uint8 (B, H, W, Ca), "b": uint8 (B, H, W, Cb)}``.

Where data comes from: ``data_dir`` argument, else ``$GAN_JAX_DATA_DIR``, else the TFDS default
data directory. For ``mnist``/``cifar10`` a data directory holding the offline files
(``mnist.npz``, ``cifar10-{train,test}-jpeg.zip``) is built once into the cache
(``$GAN_JAX_CACHE_DIR`` or ``~/.cache/gan_jax``); a data directory holding a TFDS-prepared
``mnist/`` or ``cifar10/`` folder is read as TFDS data.

Image sizes: ``image_size=None`` keeps the native size (MNIST 28, CIFAR-10 32; 64 for
``celeb_a`` and folders). MNIST-family images at size 32 are zero-padded by 2 pixels per side
(the LeNet convention: digits keep their pixels, the border is background anyway); every other
size change is a bilinear resize. ``celeb_a`` is first center-cropped to 108x108 (the crop of the
original DCGAN CelebA setup), then resized.

Every stream yields ``{"x": uint8 (B, H, W, C), "y": int32 (B,)}`` (``"y"`` only for labelled
data), is deterministic given its seed, reads shard ``shard_index`` of ``shard_count`` disjoint
shards, and resumes exactly through ``get_state``/``set_state``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from gan_jax.data.arrays import ArrayStream
from gan_jax.data.digits import NUM_CLASSES as DIGITS_CLASSES, load_digits
from gan_jax.data.errors import DatasetError, DatasetNotFoundError
from gan_jax.data.toy import ToyStream, sample_toy, toy_modes

__all__ = ["Dataset", "get_dataset", "load_arrays", "DATASETS", "IMAGE_SPECS", "DatasetError", "DatasetNotFoundError",
           "toy_modes", "sample_toy"]

DATA_DIR_ENV = "GAN_JAX_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    #: shape of one example, e.g. (32, 32, 1) or (2,)
    data_shape: tuple[int, ...]
    num_classes: int
    #: (batch_size, seed, *, shard_index=0, shard_count=1) -> infinite iterator of numpy batch
    #: dicts with get_state/set_state; batch_size is the per-process batch
    stream: Callable[..., Iterator[dict[str, np.ndarray]]]
    #: whether examples are images (uint8, sample grids) or points (toy scatter plots)
    is_image: bool = True
    #: token sequences: vocabulary, held-out split, oracle (``gan_jax.data.text.TextInfo``; None otherwise)
    text: Any = None
    #: image pairs a -> b: domains, held-out split, classifiers (``gan_jax.data.translation.TranslationInfo``; None otherwise)
    translation: Any = None

    @property
    def is_toy(self) -> bool:
        return not self.is_image and self.text is None


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """A TFDS image dataset as stored: example shape, classes and how to fit a target size."""

    tfds_name: str
    native_shape: tuple[int, int, int]
    num_classes: int
    #: record key of the class label (None: unlabelled)
    label_key: str | None
    default_size: int
    #: center crop (pixels) before resizing
    crop: int | None = None
    #: target sizes reached by zero padding rather than resizing
    pad_sizes: tuple[int, ...] = ()


IMAGE_SPECS: dict[str, ImageSpec] = {
    "mnist": ImageSpec("mnist", (28, 28, 1), 10, "label", 28, pad_sizes=(32,)),
    "fashion_mnist": ImageSpec("fashion_mnist", (28, 28, 1), 10, "label", 28, pad_sizes=(32,)),
    "cifar10": ImageSpec("cifar10", (32, 32, 3), 10, "label", 32),
    "celeb_a": ImageSpec("celeb_a", (218, 178, 3), 0, None, 64, crop=108),
}
FOLDER_PREFIX = "folder:"
FOLDER_DEFAULT_SIZE = 64


def _fit(spec: ImageSpec, size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Function bringing a batch of stored images to size x size (see the module docstring)."""
    from gan_jax.data.pipeline import center_crop, pad, resize

    if spec.crop is not None:
        return lambda im: resize(center_crop(im, spec.crop), size)
    if size == spec.native_shape[0]:
        return lambda im: im
    if size in spec.pad_sizes:
        return lambda im: pad(im, size)
    return lambda im: resize(im, size)


def _resolve_dir(data_dir: str | os.PathLike | None) -> str | None:
    value = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    return str(Path(value).expanduser()) if value is not None else None


def _offline_hint(name: str) -> str:
    from gan_jax.data.local_tfds import LOCAL_SPECS

    if name not in LOCAL_SPECS:
        return ""
    files = ", ".join(LOCAL_SPECS[name].files)
    return f" Offline alternative: put {files} in a directory and pass --set data.dir=DIR (or set ${DATA_DIR_ENV})."


def _catalog_source(name: str, split: str, data_dir: str | None) -> Sequence:
    """``tfds.data_source`` of a TFDS catalog dataset, preparing it first when TF is available."""
    import tensorflow_datasets as tfds

    spec = IMAGE_SPECS[name]
    builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
    if not builder.is_prepared():
        if importlib.util.find_spec("tensorflow") is None:
            raise DatasetNotFoundError(
                f"TFDS dataset {spec.tfds_name!r} is not prepared in {builder.data_dir}; downloading and preparing it "
                f"needs TensorFlow (pip install tensorflow) and internet access.{_offline_hint(name)}")
        builder.download_and_prepare(file_format="array_record")
    try:
        return tfds.data_source(spec.tfds_name, split=split, data_dir=data_dir, download=False)
    except Exception as e:  # tfds raises plain exceptions for a tfrecord-only or split-less dataset
        raise DatasetError(f"cannot read TFDS dataset {spec.tfds_name!r} split {split!r} from {builder.data_dir} as array_record "
                           f"({type(e).__name__}: {e}); prepare it with `tfds build {spec.tfds_name} --file_format=array_record`") from None


def _local_builder(name: str, data_dir: str | None):
    """The offline TFDS builder when ``data_dir`` holds the offline files of ``name``, else None.

    A data directory with a TFDS-prepared ``<name>/`` folder is TFDS data, read as such.
    """
    from gan_jax.data import local_tfds

    if name in local_tfds.LOCAL_SPECS and data_dir is not None and not (Path(data_dir) / IMAGE_SPECS[name].tfds_name).is_dir():
        return local_tfds.prepare(name, data_dir)
    return None


def _open_source(name: str, split: str, data_dir: str | None) -> Sequence:
    """Random-access source of one split's records ``{"image": uint8 HWC, "label": int}``.

    Not memoised: opening re-checks the files (their sha256 is memoised per file version).
    """
    builder = _local_builder(name, data_dir)
    if builder is None:
        return _catalog_source(name, split, data_dir)
    if split not in builder.info.splits:
        raise DatasetError(f"dataset {name!r} has no split {split!r}; choose one of {', '.join(builder.info.splits)}")
    from gan_jax.data.local_tfds import LocalRecords

    return LocalRecords(builder, split)


def _image_size(name: str, image_size: int | None, default: int) -> int:
    size = default if image_size is None else int(image_size)
    if size < 4:
        raise DatasetError(f"dataset {name!r}: image size must be >= 4, got {size}")
    return size


def _check_limit(name: str, limit: int, size: int) -> int:
    if limit < 0:
        raise DatasetError(f"data.limit must be >= 0 (0: the whole split), got {limit}")
    if limit > size:
        raise DatasetError(f"data.limit={limit} exceeds the {size} examples of dataset {name!r}")
    return limit


def _image_dataset(name: str, image_size: int | None, data_dir: str | None, split: str, limit: int = 0) -> Dataset:
    from gan_jax.data.pipeline import batch_reader, batch_stream

    spec = IMAGE_SPECS[name]
    size = _image_size(name, image_size, spec.default_size)
    source = _open_source(name, split, _resolve_dir(data_dir))
    return Dataset(
        name=name,
        data_shape=(size, size, spec.native_shape[2]),
        num_classes=spec.num_classes,
        stream=functools.partial(batch_stream, source, batch_reader(source, _fit(spec, size), spec.label_key),
                                 limit=_check_limit(name, limit, len(source))),
    )


def _folder_dataset(name: str, image_size: int | None, limit: int = 0) -> Dataset:
    from gan_jax.data.folder import load_folder
    from gan_jax.data.pipeline import ArraySource, batch_reader, batch_stream

    size = _image_size(name, image_size, FOLDER_DEFAULT_SIZE)
    source = ArraySource(load_folder(name[len(FOLDER_PREFIX):], size))
    return Dataset(name=name, data_shape=source.images.shape[1:], num_classes=0,
                   stream=functools.partial(batch_stream, source, batch_reader(source, lambda im: im, None),
                                            limit=_check_limit(name, limit, len(source))))


def _digits(image_size: int | None = None) -> Dataset:
    images, labels = load_digits(32 if image_size is None else image_size)

    def stream(batch_size: int, seed: int, *, shard_index: int = 0, shard_count: int = 1) -> ArrayStream:
        return ArrayStream(images[shard_index::shard_count], labels[shard_index::shard_count], batch_size, seed)

    return Dataset(name="digits", data_shape=images.shape[1:], num_classes=DIGITS_CLASSES, stream=stream)


def _toy(name: str) -> Callable[..., Dataset]:
    def stream(batch_size: int, seed: int, *, shard_index: int = 0, shard_count: int = 1) -> ToyStream:
        # An infinite sampler has nothing to shard; processes just draw independent samples.
        return ToyStream(name, batch_size, seed if shard_count == 1 else [seed, shard_index])

    def build(image_size: int | None = None) -> Dataset:
        del image_size
        return Dataset(name=name, data_shape=(2,), num_classes=0, stream=stream, is_image=False)

    return build


#: built-in datasets that need no files; image datasets are in IMAGE_SPECS, folders are "folder:<path>"
DATASETS: dict[str, Callable[..., Dataset]] = {"digits": _digits, "ring": _toy("ring"), "grid": _toy("grid")}


def _known_names() -> str:
    from gan_jax.data.translation import FOLDER_PAIRS_PREFIX, FOLDERS_PREFIX, TRANSLATION_DATASETS

    return (", ".join(sorted([*DATASETS, *IMAGE_SPECS, "seqgan_oracle", "seqgan_random", "poems_zh_5", "poems_zh_7",
                              *TRANSLATION_DATASETS]))
            + f", {FOLDER_PREFIX}<path>, text:<path>, {FOLDERS_PREFIX}<dir_a>,<dir_b>, {FOLDER_PAIRS_PREFIX}<dir_a>,<dir_b>")


def get_dataset(name: str, *, image_size: int | None = None, data_dir: str | None = None, split: str = "train", seq_len: int = 0,
                text_level: str = "char", limit: int = 0, load_size: int = 0, flip: bool = False) -> Dataset:
    """The dataset called ``name`` (see the module docstring); raises ``DatasetError``/``DatasetNotFoundError``.

    Text datasets (``seqgan_oracle``, ``seqgan_random``, ``poems_zh_5``, ``poems_zh_7``,
    ``text:<path>``) take ``seq_len`` (0: the data's own length) and ``text_level`` ("char"/"word").
    Translation datasets (``gan_jax.data.translation``) carry their test split in ``translation``
    and ignore ``split``; ``folders:``/``folder_pairs:`` also take ``load_size`` and ``flip``
    (random crops and flips of the training images; 0 / False: off)."""
    from gan_jax.data import oracle, text, translation

    if limit and name not in IMAGE_SPECS and not name.startswith(FOLDER_PREFIX):
        raise DatasetError(f"data.limit applies to image datasets ({', '.join(IMAGE_SPECS)}, {FOLDER_PREFIX}<path>), not {name!r}")
    translation.check_augment(name, image_size, load_size, flip)
    if name in oracle.ORACLE_DATASETS:
        if seq_len not in (0, oracle.LENGTH):
            raise DatasetError(f"the SeqGAN oracle's sequences have {oracle.LENGTH} tokens, got data.seq_len={seq_len}")
        return oracle.oracle_dataset(name, data_dir=_resolve_dir(data_dir))
    if name in text.TEXT_DATASETS or name.startswith(text.TEXT_PREFIX):
        return text.text_dataset(name, data_dir=_resolve_dir(data_dir), seq_len=seq_len,
                                 level=None if name in text.TEXT_DATASETS else text_level)
    if translation.is_translation(name):
        return translation.translation_dataset(name, image_size=image_size, data_dir=data_dir, load_size=load_size, flip=flip)
    if name in DATASETS:
        return DATASETS[name](image_size)
    if name in IMAGE_SPECS:
        return _image_dataset(name, image_size, data_dir, split, limit)
    if name.startswith(FOLDER_PREFIX):
        return _folder_dataset(name, image_size, limit)
    raise DatasetError(f"unknown dataset {name!r}; available: {_known_names()}")


@functools.lru_cache(maxsize=4)
def _load_arrays(name: str, split: str, data_dir: str | None, image_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    from gan_jax.data.pipeline import batch_reader, read_all

    if name == "digits":
        return load_digits(32 if image_size is None else image_size)
    if name.startswith(FOLDER_PREFIX):
        from gan_jax.data.folder import load_folder

        images = load_folder(name[len(FOLDER_PREFIX):], _image_size(name, image_size, FOLDER_DEFAULT_SIZE))
        return images, np.full(len(images), -1, np.int32)
    if name not in IMAGE_SPECS:
        raise DatasetError(f"load_arrays: no image dataset {name!r}; available: {_known_names()}")
    spec = IMAGE_SPECS[name]
    size = _image_size(name, image_size, spec.native_shape[0] if spec.crop is None else spec.default_size)
    builder = _local_builder(name, data_dir)
    # offline datasets also keep the decoded split as .npz beside their TFDS files: a later
    # process loads 50k CIFAR-10 images in a fraction of a second instead of re-decoding them
    saved = Path(builder.data_dir).parents[1] / f"arrays-{split}-{size}.npz" if builder is not None else None
    if saved is not None and saved.is_file():
        with np.load(saved) as f:
            x, y = f["x"], f["y"]
    else:
        source = _open_source(name, split, data_dir)
        arrays = read_all(source, batch_reader(source, _fit(spec, size), spec.label_key))
        x, y = arrays["x"], arrays.get("y", np.full(len(arrays["x"]), -1, np.int32))
        if saved is not None:
            tmp = saved.with_name(f".{saved.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.savez(f, x=x, y=y)
            os.replace(tmp, saved)  # atomic: readers see the whole file or none
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_arrays(name: str, split: str = "train", *, data_dir: str | None = None,
                image_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as (uint8 NHWC images, int32 labels), in stored order; -1 labels if unlabelled.

    ``image_size=None`` keeps the native size. The result is memoised per process (read-only
    arrays), and for offline datasets also on disk in the cache, so metrics can ask for it
    repeatedly.
    """
    return _load_arrays(name, split, _resolve_dir(data_dir), image_size)
