"""The real MNIST and CIFAR-10 files (../shared/datasets) through the offline TFDS cache and grain."""

import collections
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from gan_jax.data import get_dataset, load_arrays

MNIST_TRAIN_HISTOGRAM = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_exact_counts_histogram_and_order(shared_datasets):
    x, y = load_arrays("mnist", "train", data_dir=shared_datasets)
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8 and y.dtype == np.int32
    assert np.bincount(y).tolist() == MNIST_TRAIN_HISTOGRAM
    assert x.min() == 0 and x.max() == 255
    xt, yt = load_arrays("mnist", "test", data_dir=shared_datasets)
    assert xt.shape == (10000, 28, 28, 1) and np.bincount(yt).sum() == 10000
    with np.load(shared_datasets / "mnist.npz") as raw:  # stored losslessly, in the original order
        np.testing.assert_array_equal(x[..., 0], raw["x_train"])
        np.testing.assert_array_equal(yt, raw["y_test"])
    assert load_arrays("mnist", "train", data_dir=shared_datasets)[0] is x  # memoised


def test_cifar10_counts_histogram_and_pixels(shared_datasets):
    x, y = load_arrays("cifar10", "train", data_dir=shared_datasets)
    assert x.shape == (50000, 32, 32, 3) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [5000] * 10
    assert x.min() == 0 and x.max() == 255
    xt, yt = load_arrays("cifar10", "test", data_dir=shared_datasets)
    assert xt.shape == (10000, 32, 32, 3) and np.bincount(yt).tolist() == [1000] * 10
    with zipfile.ZipFile(shared_datasets / "cifar10-test-jpeg.zip") as zf:  # stored order: class, then file name
        last = sorted(n for n in zf.namelist() if n.endswith(".jpg"))[-1]
        assert "/truck/" in last
        np.testing.assert_array_equal(xt[-1], np.asarray(Image.open(io.BytesIO(zf.read(last))).convert("RGB")))


def test_limit_trains_on_a_random_subset_of_every_class(shared_datasets):
    """The offline CIFAR-10 is stored class by class: ``data.limit`` must not mean its first images."""
    from gan_jax.data.pipeline import limit_subset

    _, y = load_arrays("cifar10", "train", data_dir=shared_datasets)
    keep = limit_subset(len(y), 1000)
    assert len(np.unique(keep)) == 1000 and keep.max() < len(y) and (np.diff(keep) > 0).all()
    np.testing.assert_array_equal(keep, limit_subset(len(y), 1000))  # fixed: a resumed run trains on the same images
    assert np.bincount(y[keep], minlength=10).min() >= 70  # ~100 per class, not 1,000 airplanes
    stream = get_dataset("cifar10", data_dir=shared_datasets, image_size=32, limit=1000).stream(100, 0)
    seen = np.concatenate([next(stream)["y"] for _ in range(10)])  # one epoch of the subset
    np.testing.assert_array_equal(np.bincount(seen, minlength=10), np.bincount(y[keep], minlength=10))


def test_stream_deterministic_and_resumable(shared_datasets):
    ds = get_dataset("cifar10", data_dir=shared_datasets, image_size=32)
    assert ds.data_shape == (32, 32, 3) and ds.num_classes == 10 and ds.is_image
    a, b = ds.stream(64, 3), ds.stream(64, 3)
    for _ in range(3):
        ba, bb = next(a), next(b)
        np.testing.assert_array_equal(ba["x"], bb["x"])
        np.testing.assert_array_equal(ba["y"], bb["y"])
    assert ba["x"].shape == (64, 32, 32, 3) and ba["x"].dtype == np.uint8 and ba["y"].dtype == np.int32
    assert not np.array_equal(next(ds.stream(64, 4))["y"], next(ds.stream(64, 3))["y"])
    state = json.loads(json.dumps(a.get_state()))
    expected = [next(a) for _ in range(2)]
    c = ds.stream(64, 3)
    c.set_state(state)
    for e in expected:
        np.testing.assert_array_equal(next(c)["x"], e["x"])


def test_two_process_shards_are_disjoint_and_cover_the_split(shared_datasets):
    ds = get_dataset("mnist", data_dir=shared_datasets, image_size=28, split="test")
    x, y = load_arrays("mnist", "test", data_dir=shared_datasets)
    everything = collections.Counter((im.tobytes(), int(label)) for im, label in zip(x, y))
    seen = collections.Counter()
    for shard in (0, 1):
        stream = ds.stream(1000, 11, shard_index=shard, shard_count=2)
        for _ in range(5):  # 5,000 examples = one epoch of this shard
            batch = next(stream)
            seen.update((im.tobytes(), int(label)) for im, label in zip(batch["x"], batch["y"]))
    assert seen == everything


def test_mnist_padded_to_32(shared_datasets):
    x28, _ = load_arrays("mnist", "test", data_dir=shared_datasets)
    x32, _ = load_arrays("mnist", "test", data_dir=shared_datasets, image_size=32)
    assert x32.shape == (10000, 32, 32, 1)
    np.testing.assert_array_equal(x32[:, 2:30, 2:30], x28)
    assert x32[:, :2].max() == 0 and x32[:, :, 30:].max() == 0
    ds = get_dataset("mnist", data_dir=shared_datasets, image_size=32)
    assert ds.data_shape == (32, 32, 1) and next(ds.stream(8, 0))["x"].shape == (8, 32, 32, 1)


def test_env_data_dir_and_build_dataset(shared_datasets, monkeypatch):
    from gan_jax.config import Config, UserError
    from gan_jax.experiment import build_dataset

    monkeypatch.setenv("GAN_JAX_DATA_DIR", str(shared_datasets))
    assert get_dataset("cifar10").data_shape == (32, 32, 3)
    config = Config()
    config.data.name, config.data.image_size, config.data.dir = "mnist", 32, str(shared_datasets)
    assert build_dataset(config).data_shape == (32, 32, 1)
    config.data.dir = str(shared_datasets / "nope")
    with pytest.raises(UserError, match="not found"):
        build_dataset(config)
