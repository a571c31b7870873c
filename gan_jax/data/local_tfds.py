"""Offline MNIST and CIFAR-10: TFDS-format (array_record) datasets built from local files.

Machines without internet (and without TensorFlow) get the real datasets as plain files
(see ``../shared/datasets/README.md``): ``mnist.npz`` and ``cifar10-{train,test}-jpeg.zip``.
This module turns them, once, into a TFDS dataset that ``tfds`` itself writes and reads, so
the training pipeline reads offline data exactly as it reads a TFDS catalog dataset.

Why a TFDS ``GeneratorBasedBuilder`` and not hand-written files: TFDS 4.9 prepares and reads
``array_record`` datasets without TensorFlow as long as no feature needs TF to encode.
``tfds.features.Image`` does (it PNG-encodes with ``tf.image``), ``tfds.features.Tensor`` with
``Encoding.BYTES`` does not: the image is stored as its raw uint8 bytes, which is also the
fastest thing to decode (no JPEG/PNG work per step, ~3 KB per CIFAR example). Reading back is
``builder.as_data_source(split)`` -- the same ``ArrayRecordDataSource`` ``tfds.data_source``
returns -- with no TensorFlow either; ``LocalRecords`` asks it for the raw record bytes and
parses the two known fields itself, twice as fast as TFDS's generic decoding.

Verification and atomicity: each source file is checked against ``SHA256SUMS`` beside it (when
present), then its content (arrays' shapes/dtypes/labels, every JPEG's size and mode, non-empty
classes) while examples are generated. TFDS writes into ``incomplete.*`` and renames the
finished version directory, so an interrupted build never looks valid; stale ``incomplete.*``
directories are ignored. The cache lives outside the (possibly read-only) data directory, in
``$GAN_JAX_CACHE_DIR`` or ``~/.cache/gan_jax``, keyed by the sources' sha256 so changed files
rebuild; a file lock lets concurrent processes (multi-host on one machine, test workers)
share one build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import io
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from gan_jax.data.errors import DatasetError, DatasetNotFoundError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MNIST_CLASSES = tuple(str(d) for d in range(10))
#: bump when the stored layout changes, so old caches are not read with new code
FORMAT_VERSION = "1.0.0"
_README_HINT = "see the Data section of README.md"


def cache_root() -> Path:
    """Where built datasets go: ``$GAN_JAX_CACHE_DIR`` or ``~/.cache/gan_jax``."""
    return Path(os.environ.get("GAN_JAX_CACHE_DIR") or Path.home() / ".cache" / "gan_jax").expanduser()


@dataclasses.dataclass(frozen=True)
class LocalSpec:
    """One offline dataset: its files, example shape, classes and example generator."""

    name: str
    files: tuple[str, ...]
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    #: (source_dir, split) -> iterator of (key, uint8 image, int label); validates as it goes
    generate: Callable[[Path, str], Iterator[tuple[int, np.ndarray, int]]]


def _read_mnist(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits of ``mnist.npz``, checked: (N, 28, 28) uint8 images, labels 0..9."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as e:
        raise DatasetError(f"{path}: missing array {e}; expected x_train, y_train, x_test, y_test ({_README_HINT})") from None
    except Exception as e:  # np.load raises many types on a damaged file
        raise DatasetError(f"{path}: cannot read as .npz ({type(e).__name__}: {e}); the file is damaged, copy it again") from None
    out = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
            raise DatasetError(f"{path}: x_{split} must be uint8 (N, 28, 28) with y_{split} (N,), got {x.dtype} {x.shape} and {y.shape}")
        if len(x) == 0 or y.min() < 0 or y.max() > 9:
            raise DatasetError(f"{path}: split {split!r} is empty or has labels outside 0..9")
        out[split] = (x, y.astype(np.int64))
    return out


def _generate_mnist(source_dir: Path, split: str) -> Iterator[tuple[int, np.ndarray, int]]:
    x, y = _read_mnist(source_dir / "mnist.npz")[split]
    for i in range(len(x)):
        yield i, x[i, :, :, None], int(y[i])


def _generate_cifar10(source_dir: Path, split: str) -> Iterator[tuple[int, np.ndarray, int]]:
    """Examples of ``cifar10-<split>-jpeg.zip`` in name order (class, then file number)."""
    path = source_dir / f"cifar10-{split}-jpeg.zip"
    pattern = re.compile(rf"cifar10/{split}/([^/]+)/[^/]+\.jpg")
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if pattern.fullmatch(n))
            counts = dict.fromkeys(CIFAR10_CLASSES, 0)
            for n in names:
                cls = pattern.fullmatch(n).group(1)
                if cls not in counts:
                    raise DatasetError(f"{path}: {n} is in unknown class folder {cls!r}; expected one of {', '.join(CIFAR10_CLASSES)}")
                counts[cls] += 1
            if empty := [c for c, k in counts.items() if k == 0]:
                raise DatasetError(f"{path}: no images for class(es) {', '.join(empty)} under cifar10/{split}/ ({_README_HINT})")
            for key, n in enumerate(names):
                try:
                    with Image.open(io.BytesIO(zf.read(n)), formats=["JPEG"]) as im:  # no format probing: ~30 % faster
                        im.load()
                        mode, size, image = im.mode, im.size, np.asarray(im)
                except (OSError, zipfile.BadZipFile) as e:
                    raise DatasetError(f"{path}: cannot decode {n} ({e}); the archive is damaged, copy it again") from None
                if mode != "RGB" or size != (32, 32):
                    raise DatasetError(f"{path}: {n} is {size[0]}x{size[1]} {mode}; CIFAR-10 images must be 32x32 RGB")
                yield key, image, CIFAR10_CLASSES.index(pattern.fullmatch(n).group(1))
    except zipfile.BadZipFile as e:
        raise DatasetError(f"{path}: not a readable zip archive ({e}); the file is damaged, copy it again") from None


LOCAL_SPECS: dict[str, LocalSpec] = {
    "mnist": LocalSpec("mnist", ("mnist.npz",), (28, 28, 1), MNIST_CLASSES, _generate_mnist),
    "cifar10": LocalSpec("cifar10", ("cifar10-train-jpeg.zip", "cifar10-test-jpeg.zip"), (32, 32, 3), CIFAR10_CLASSES, _generate_cifar10),
}


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file; memoised on (path, size, mtime) so a process hashes each file once."""
    del size, mtime_ns  # part of the cache key only
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


def _expected_sums(directory: Path) -> dict[str, str]:
    """``SHA256SUMS`` beside the data files as {file name: digest}; empty when absent."""
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def source_fingerprint(spec: LocalSpec, source_dir: Path) -> str:
    """Check the dataset's files exist and match ``SHA256SUMS``; return a digest of them all."""
    expected = _expected_sums(source_dir)
    combined = hashlib.sha256(FORMAT_VERSION.encode())
    for fname in spec.files:
        path = source_dir / fname
        if not path.is_file():
            raise DatasetNotFoundError(f"{path} not found: dataset {spec.name!r} needs {', '.join(spec.files)} in the data directory ({_README_HINT})")
        digest = file_sha256(path)
        if fname in expected and expected[fname] != digest:
            raise DatasetError(f"{path}: sha256 {digest} does not match {expected[fname]} in {source_dir / 'SHA256SUMS'}; the file is damaged or different, copy it again")
        combined.update(f"{fname}:{digest}".encode())
    return combined.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _builder_class(name: str):
    """The TFDS builder class of ``LOCAL_SPECS[name]``, defined on first use (importing tfds is slow)."""
    import tensorflow_datasets as tfds

    with tfds.core.registered.skip_registration():  # private to gan_jax, not in the TFDS catalog

        class LocalImageBuilder(tfds.core.GeneratorBasedBuilder):
            """A ``LocalSpec`` as a TFDS dataset; images stored as raw bytes (no TF needed)."""

            VERSION = tfds.core.Version(FORMAT_VERSION)

            # TFDS 4.9.10 locates a builder's source file to find its download checksums;
            # outside the tfds package that path needs `importlib_resources`, which tfds
            # only installs for Python < 3.9. Nothing is downloaded here, so there is no code path.
            @tfds.core.utils.classproperty
            @classmethod
            def code_path(cls):
                return None

            def __init__(self, *, source_dir: Path, **kwargs):
                self._spec, self._source_dir = LOCAL_SPECS[name], source_dir
                super().__init__(**kwargs)

            def _info(self):
                features = tfds.features.FeaturesDict({
                    "image": tfds.features.Tensor(shape=self._spec.shape, dtype=np.uint8, encoding=tfds.features.Encoding.BYTES),
                    "label": tfds.features.ClassLabel(names=list(self._spec.classes)),
                })
                return tfds.core.DatasetInfo(builder=self, features=features, disable_shuffling=True,
                                             description=f"{self._spec.name} built by gan_jax from {', '.join(self._spec.files)}")

            def _split_generators(self, dl_manager):
                del dl_manager  # nothing to download
                return {split: self._generate_examples(split) for split in ("train", "test")}

            def _generate_examples(self, split):
                for key, image, label in self._spec.generate(self._source_dir, split):
                    yield key, {"image": image, "label": label}

    LocalImageBuilder.name = f"gan_jax_{name}"
    return LocalImageBuilder


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _is_complete(builder) -> bool:
    """A prepared version directory whose split files all exist (guards against manual damage)."""
    if not builder.is_prepared():
        return False
    for split_info in builder.info.splits.values():
        for f in split_info.filepaths:
            if not Path(f).is_file():
                return False
    return True


def prepare(name: str, source_dir: str | os.PathLike):
    """The prepared TFDS builder of offline dataset ``name``; builds it on first use."""
    spec = LOCAL_SPECS[name]
    source_dir = Path(source_dir).expanduser()
    if not source_dir.is_dir():
        raise DatasetNotFoundError(f"data directory {source_dir} not found; dataset {name!r} reads {', '.join(spec.files)} from it ({_README_HINT})")
    key = source_fingerprint(spec, source_dir)
    data_dir = cache_root() / "tfds" / f"{name}-{key}"

    def make():
        return _builder_class(name)(source_dir=source_dir, data_dir=str(data_dir), file_format="array_record")

    builder = make()
    if _is_complete(builder):
        return builder
    with _file_lock(cache_root() / "tfds" / f"{name}-{key}.lock"):
        builder = make()  # another process may have finished it while we waited
        if not _is_complete(builder):
            if Path(builder.data_dir).exists():  # damaged after it was built: start over
                shutil.rmtree(builder.data_dir)
                builder = make()
            builder.download_and_prepare()
    return builder


class LocalRecords:
    """Random-access records ``{"image", "label"}`` of a prepared offline split.

    Reads the raw serialized ``tf.train.Example`` bytes through TFDS's ``ArrayRecordDataSource``
    (``DeserializeMethod.RAW_BYTES``) and parses the two known fields directly: about twice as
    fast as TFDS's generic per-feature decoding, which dominates the input pipeline's cost.
    """

    def __init__(self, builder, split: str):
        import tensorflow_datasets as tfds
        from tensorflow_datasets.proto import tf_example_pb2

        self._raw = builder.as_data_source(split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
        self._parse = tf_example_pb2.Example.FromString
        self._shape = LOCAL_SPECS[builder.name.removeprefix("gan_jax_")].shape

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices) -> list[dict]:
        records = []
        for data in self._raw.__getitems__(indices):
            feature = self._parse(data).features.feature
            image = np.frombuffer(feature["image"].bytes_list.value[0], np.uint8).reshape(self._shape)
            records.append({"image": image, "label": feature["label"].int64_list.value[0]})
        return records
