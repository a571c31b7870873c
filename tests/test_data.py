import numpy as np
import pytest

from gan_jax.data import get_dataset, sample_toy, toy_modes
from gan_jax.data.digits import load_digits
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
