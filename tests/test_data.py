import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_jax.config import UserError
from gan_jax.data import DatasetError, DatasetNotFoundError, get_dataset, load_arrays, local_tfds, sample_toy, toy_modes
from gan_jax.data.digits import load_digits
from gan_jax.data.local_tfds import CIFAR10_CLASSES
from gan_jax.metrics import mode_coverage


def test_digits_match_scikit_learn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ref = sklearn_datasets.load_digits()
    images, labels = load_digits(8)
    np.testing.assert_array_equal(images[..., 0], np.round(ref.images * 255 / 16).astype(np.uint8))
    np.testing.assert_array_equal(labels, ref.target)


def test_digits_dataset_shapes_and_range():
    ds = get_dataset("digits", image_size=32)
    assert ds.data_shape == (32, 32, 1) and ds.num_classes == 10 and ds.is_image
    batch = next(ds.stream(16, 0))
    assert batch["x"].shape == (16, 32, 32, 1) and batch["x"].dtype == np.uint8
    assert batch["y"].shape == (16,) and batch["y"].max() <= 9
    images, labels = load_digits(32)
    assert images.max() == 255 and images.min() == 0
    assert np.bincount(labels).min() >= 170  # 1797 images, about 180 per class


def test_array_stream_deterministic_and_resumable():
    ds = get_dataset("digits", image_size=16)
    a, b = ds.stream(100, 7), ds.stream(100, 7)
    for _ in range(20):  # crosses epoch boundaries (1797 // 100 = 17 batches per epoch)
        np.testing.assert_array_equal(next(a)["x"], next(b)["x"])
    state = a.get_state()
    expected = [next(a)["y"] for _ in range(3)]
    c = ds.stream(100, 7)
    c.set_state(state)
    for e in expected:
        np.testing.assert_array_equal(next(c)["y"], e)
    assert not np.array_equal(next(ds.stream(100, 8))["y"], next(ds.stream(100, 7))["y"])


def test_epoch_visits_every_example_once():
    ds = get_dataset("digits", image_size=8)
    s = ds.stream(599, 0)  # 3 batches = 1797 = the whole set
    ys = np.concatenate([next(s)["y"] for _ in range(3)])
    np.testing.assert_array_equal(np.bincount(ys), np.bincount(load_digits(8)[1]))


def test_toy_modes_and_stream():
    ring, std = toy_modes("ring")
    assert ring.shape == (8, 2) and std == 0.02
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0)
    grid, std = toy_modes("grid")
    assert grid.shape == (25, 2) and std == 0.05
    assert set(np.unique(grid)) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    s = get_dataset("ring").stream(64, 3)
    first = next(s)["x"]
    state = s.get_state()
    second = next(s)["x"]
    s2 = get_dataset("ring").stream(64, 3)
    np.testing.assert_array_equal(next(s2)["x"], first)
    s2.set_state(state)
    np.testing.assert_array_equal(next(s2)["x"], second)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        get_dataset("nope")
    with pytest.raises(ValueError, match="unknown toy dataset"):
        toy_modes("square")


def test_mode_coverage_hand_computed():
    modes, std = toy_modes("ring")
    real = sample_toy("ring", 2500, np.random.default_rng(0))
    r = mode_coverage(real, modes, std)
    assert r["modes_covered"] == 8 and r["num_modes"] == 8
    assert r["high_quality"] > 0.98  # 3 std in 2D holds 98.9 % of a Gaussian
    # all samples on one mode, plus two far-away points
    pts = np.concatenate([np.tile(modes[:1], (8, 1)), [[0.0, 0.0], [10.0, 10.0]]])
    r = mode_coverage(pts, modes, std)
    assert r == {"modes_covered": 1, "high_quality": 0.8, "num_modes": 8}
    # exactly at the 3-std boundary counts as high quality
    grid, gstd = toy_modes("grid")  # holds a mode at the origin, so distances are exact
    r = mode_coverage(np.array([[3 * gstd, 0.0], [0.0, 3.01 * gstd]]), grid, gstd)
    assert r["modes_covered"] == 1 and r["high_quality"] == 0.5
    with pytest.raises(ValueError):
        mode_coverage(np.zeros((4, 3)), modes, std)


# --- offline files, errors, cache atomicity, folders, sharding (small fake files) ---------------


def _fake_mnist(directory: Path, n_train=60, n_test=20, shape=(28, 28)) -> Path:
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "mnist.npz",
             x_train=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8), y_train=np.arange(n_train, dtype=np.uint8) % 10,
             x_test=rng.integers(0, 256, (n_test, *shape), dtype=np.uint8), y_test=np.arange(n_test, dtype=np.uint8) % 10)
    return directory


def _jpeg(size=(32, 32), mode="RGB", seed=0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3 if mode == "RGB" else 1), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr if mode == "RGB" else arr[..., 0], mode).save(buf, "JPEG")
    return buf.getvalue()


def _fake_cifar(directory: Path, odd=None) -> Path:
    """One JPEG per class and split; ``odd`` replaces the bytes of train/cat/0000.jpg."""
    directory.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        with zipfile.ZipFile(directory / f"cifar10-{split}-jpeg.zip", "w", zipfile.ZIP_STORED) as zf:
            for i, cls in enumerate(CIFAR10_CLASSES):
                data = odd if (odd is not None and split == "train" and cls == "cat") else _jpeg(seed=i)
                zf.writestr(f"cifar10/{split}/{cls}/0000.jpg", data)
    return directory


def _version_dirs(name: str) -> list[Path]:
    return sorted(local_tfds.cache_root().glob(f"tfds/{name}-*/gan_jax_{name}/1.0.0"))


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_JAX_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_offline_build_reads_back_and_checks_sha256(tmp_path, fresh_cache):
    data = _fake_mnist(tmp_path / "data")
    x, y = load_arrays("mnist", "train", data_dir=data)
    with np.load(data / "mnist.npz") as raw:
        np.testing.assert_array_equal(x[..., 0], raw["x_train"])
        np.testing.assert_array_equal(y, raw["y_train"])
    assert len(_version_dirs("mnist")) == 1 and not list(data.glob("*/"))  # cache outside the data dir
    digest = local_tfds.file_sha256(data / "mnist.npz")
    (data / "SHA256SUMS").write_text(f"{digest}  mnist.npz\n")
    assert get_dataset("mnist", data_dir=data, split="test").num_classes == 10
    (data / "SHA256SUMS").write_text(f"{'0' * 64}  mnist.npz\n")
    with pytest.raises(DatasetError, match="mnist.npz: sha256 .* does not match"):
        get_dataset("mnist", data_dir=data, split="train", image_size=30)  # a new split/size: not memoised


def test_interrupted_build_is_never_used_and_stale_temp_dirs_are_ignored(tmp_path, fresh_cache, monkeypatch):
    data = _fake_mnist(tmp_path / "data")
    spec = local_tfds.LOCAL_SPECS["mnist"]

    def crash_midway(source_dir, split):
        for i, example in enumerate(spec.generate(source_dir, split)):
            if i == 30:
                raise RuntimeError("power cut")
            yield example

    monkeypatch.setitem(local_tfds.LOCAL_SPECS, "mnist", local_tfds.LocalSpec(**{**spec.__dict__, "generate": crash_midway}))
    with pytest.raises(RuntimeError, match="power cut"):
        local_tfds.prepare("mnist", data)
    assert not [d for d in _version_dirs("mnist") if (d / "dataset_info.json").exists()]
    monkeypatch.setitem(local_tfds.LOCAL_SPECS, "mnist", spec)
    # leftovers of a crashed run, and a half-copied version directory without metadata
    root = next(local_tfds.cache_root().glob("tfds/mnist-*/gan_jax_mnist"))
    (root / "incomplete.dead_1.0.0").mkdir(exist_ok=True)
    (root / "incomplete.dead_1.0.0" / "gan_jax_mnist-train.array_record-00000-of-00001").write_bytes(b"junk")
    (root / "1.0.0").mkdir(exist_ok=True)
    (root / "1.0.0" / "gan_jax_mnist-train.array_record-00000-of-00001").write_bytes(b"junk")
    builder = local_tfds.prepare("mnist", data)
    assert builder.info.splits["train"].num_examples == 60 and builder.info.splits["test"].num_examples == 20
    assert len(builder.as_data_source("train")) == 60


@pytest.mark.parametrize("case", ["missing_dir", "missing_file", "corrupt_npz", "wrong_shape", "corrupt_zip", "missing_zip"])
def test_bad_offline_files_raise_one_clear_error(tmp_path, fresh_cache, case):
    data = tmp_path / "data"
    name = "cifar10" if "zip" in case else "mnist"
    expected = {"missing_dir": (DatasetNotFoundError, "not found"),
                "missing_file": (DatasetNotFoundError, r"mnist.npz not found: dataset 'mnist' needs mnist.npz"),
                "corrupt_npz": (DatasetError, r"mnist.npz: cannot read as .npz"),
                "wrong_shape": (DatasetError, r"x_train must be uint8 \(N, 28, 28\)"),
                "corrupt_zip": (DatasetError, r"cifar10-train-jpeg.zip: not a readable zip archive"),
                "missing_zip": (DatasetNotFoundError, r"cifar10-test-jpeg.zip not found")}[case]
    if case != "missing_dir":
        data.mkdir()
    if case == "corrupt_npz":
        (data / "mnist.npz").write_bytes(b"PK\x03\x04 definitely not numpy")
    elif case == "wrong_shape":
        _fake_mnist(data, shape=(32, 32))
    elif case == "corrupt_zip":
        _fake_cifar(data)
        (data / "cifar10-train-jpeg.zip").write_bytes(b"garbage" * 100)
    elif case == "missing_zip":
        _fake_cifar(data)
        (data / "cifar10-test-jpeg.zip").unlink()
    error, message = expected
    with pytest.raises(error, match=message) as info:
        get_dataset(name, data_dir=data)
    assert isinstance(info.value, UserError)
    assert not [d for d in _version_dirs(name) if (d / "dataset_info.json").exists()]


def test_cifar_zip_with_wrong_image_is_rejected_and_nothing_cached(tmp_path, fresh_cache):
    data = _fake_cifar(tmp_path / "ok")
    x, y = load_arrays("cifar10", "test", data_dir=data)
    assert x.shape == (10, 32, 32, 3) and y.tolist() == list(range(10))
    assert load_arrays("cifar10", "test", data_dir=data, image_size=16)[0].shape == (10, 16, 16, 3)
    ds = get_dataset("cifar10", data_dir=data, image_size=16)
    assert next(ds.stream(4, 0))["x"].shape == (4, 16, 16, 3)
    with pytest.raises(DatasetError, match="batch size 11 must be in"):
        ds.stream(11, 0)
    for odd, message in [(_jpeg(size=(28, 32)), "0000.jpg is 28x32 RGB"), (_jpeg(mode="L"), "0000.jpg is 32x32 L"),
                         (b"\xff\xd8 broken jpeg", "cannot decode cifar10/train/cat/0000.jpg")]:
        bad = _fake_cifar(tmp_path / "bad", odd=odd)
        with pytest.raises(DatasetError, match=message):
            get_dataset("cifar10", data_dir=bad)
    assert len([d for d in _version_dirs("cifar10") if (d / "dataset_info.json").exists()]) == 1  # only the good one


def test_catalog_dataset_without_tensorflow_explains_what_to_do(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    import importlib.util

    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed: TFDS would try to download")
    monkeypatch.delenv("GAN_JAX_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="needs TensorFlow .*Offline alternative: put mnist.npz"):
        get_dataset("mnist")
    with pytest.raises(DatasetNotFoundError, match="'fashion_mnist' is not prepared"):
        get_dataset("fashion_mnist", data_dir=tmp_path)


def _png(path: Path, size, mode="RGB", value=None, seed=0):
    w, h = size
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8) if value is None else np.full((h, w, channels), value, np.uint8)
    Image.fromarray(arr[..., 0] if channels == 1 else arr, mode).save(path)


def test_folder_dataset_crops_resizes_and_streams(tmp_path):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    _png(folder / "a.png", (40, 30))
    _png(folder / "b.jpg", (64, 64), seed=1)
    _png(folder / "sub" / "c.png", (100, 80), seed=2)
    (folder / "notes.txt").write_text("not an image")
    # a 60x20 image: white center square, black sides -> the center crop is all white
    arr = np.zeros((20, 60, 3), np.uint8)
    arr[:, 20:40] = 255
    Image.fromarray(arr).save(folder / "d.png")
    ds = get_dataset(f"folder:{folder}", image_size=16)
    assert ds.data_shape == (16, 16, 3) and ds.num_classes == 0 and ds.is_image
    x, y = load_arrays(f"folder:{folder}", image_size=16)
    assert x.shape == (4, 16, 16, 3) and (y == -1).all()
    assert x[2].min() == 255  # sorted: a.png, b.jpg, d.png, sub/c.png
    stream = ds.stream(3, 0)
    batch = next(stream)
    assert set(batch) == {"x"} and batch["x"].shape == (3, 16, 16, 3) and batch["x"].dtype == np.uint8
    gray = tmp_path / "gray"
    gray.mkdir()
    for i in range(3):
        _png(gray / f"{i}.png", (10 + i, 12), "L", seed=i)
    assert get_dataset(f"folder:{gray}", image_size=8).data_shape == (8, 8, 1)


@pytest.mark.parametrize("case", ["empty", "missing", "mixed_channels", "alpha", "broken"])
def test_bad_folders_raise_one_clear_error(tmp_path, case):
    folder = tmp_path / "imgs"
    if case != "missing":
        folder.mkdir()
    if case == "mixed_channels":
        _png(folder / "a.png", (8, 8))
        _png(folder / "b.png", (8, 8), "L")
    elif case == "alpha":
        _png(folder / "a.png", (8, 8), "RGBA")
    elif case == "broken":
        _png(folder / "a.png", (8, 8))
        (folder / "b.png").write_bytes(b"\x89PNG truncated")
    error, message = {"empty": (DatasetError, "holds no images"), "missing": (DatasetNotFoundError, "not found"),
                      "mixed_channels": (DatasetError, r"b.png: 1-channel image \(L\) in a folder of 3-channel"),
                      "alpha": (DatasetError, r"a.png: unsupported image mode 'RGBA'"),
                      "broken": (DatasetError, r"b.png: cannot decode image")}[case]
    with pytest.raises(error, match=message):
        get_dataset(f"folder:{folder}", image_size=8)


def test_digits_shards_are_disjoint_and_cover():
    ds = get_dataset("digits", image_size=8)
    images, _ = load_digits(8)
    parts = [next(ds.stream(len(images[i::3]), 0, shard_index=i, shard_count=3))["x"] for i in range(3)]
    got = sorted(im.tobytes() for part in parts for im in part)
    assert got == sorted(im.tobytes() for im in images)
    toy = get_dataset("ring")
    a, b = (next(toy.stream(8, 0, shard_index=i, shard_count=2))["x"] for i in range(2))
    assert not np.array_equal(a, b)  # processes draw different samples


def test_data_config_fields():
    from gan_jax.config import Config, apply_overrides

    config = apply_overrides(Config(), ["data.dir=/some/where", "data.augment=color,translation,cutout"])
    assert config.data.dir == "/some/where" and config.data.augment == ("color", "translation", "cutout")
    assert Config().data.dir == "" and Config().data.augment == ()
    from gan_jax.experiment import build_dataset

    with pytest.raises(UserError, match="unknown data.augment policy"):
        build_dataset(apply_overrides(Config(), ["data.augment=color,rotate"]))
