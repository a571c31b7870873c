"""Image-translation datasets: pairing, sharding, resuming, MNIST-M, gray/edges, user folders."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_jax.data import Dataset, DatasetError, DatasetNotFoundError, get_dataset, load_arrays
from gan_jax.data import translation as tr
from gan_jax.data.digits import load_digits
from gan_jax.data.local_tfds import CIFAR10_CLASSES


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def _fake_cifar_zips(directory: Path) -> None:
    """One random 32x32 JPEG per class and split (10 images each), laid out like the real zips."""
    for s, split in enumerate(("train", "test")):
        with zipfile.ZipFile(directory / f"cifar10-{split}-jpeg.zip", "w", zipfile.ZIP_STORED) as zf:
            for i, cls in enumerate(CIFAR10_CLASSES):
                buf = io.BytesIO()
                Image.fromarray(np.random.default_rng([s, i]).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
                zf.writestr(f"cifar10/{split}/{cls}/0000.jpg", buf.getvalue())


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, shared_datasets) -> str:
    """Real MNIST (a link) beside fake 10-image CIFAR-10 zips."""
    directory = tmp_path_factory.mktemp("translation_data")
    (directory / "mnist.npz").symlink_to(shared_datasets / "mnist.npz")
    _fake_cifar_zips(directory)
    return str(directory)


def _rows(x: np.ndarray) -> list[bytes]:
    return sorted(im.tobytes() for im in x)


# --- edges and gray ---------------------------------------------------------------------------


def test_edges_outline_a_square():
    im = np.zeros((1, 16, 16, 1), np.uint8)
    im[0, 4:12, 4:12] = 255
    e = tr.edges(im)[0, ..., 0]
    assert e.dtype == np.uint8 and set(np.unique(e)) == {0, 255}
    ys, xs = np.nonzero(e == 0)
    # edges hug the square's border (within a pixel), all four sides, and nothing else
    assert ys.min() >= 2 and ys.max() <= 13 and xs.min() >= 2 and xs.max() <= 13
    assert (e[6:10, 6:10] == 255).all() and (e[:2] == 255).all()
    for side in (e[2:5, 6:10], e[11:14, 6:10], e[6:10, 2:5], e[6:10, 11:14]):
        assert (side == 0).any()
    assert (tr.edges(np.full((2, 8, 8, 3), 77, np.uint8)) == 255).all()  # flat image: no edges


def test_cifar10_gray_and_edges_on_fake_zips(tiny_dir):
    for size in (32, 16):
        gray = get_dataset("cifar10_gray", data_dir=tiny_dir, image_size=size)
        train_a, train_b, info = tr.translation_arrays("cifar10_gray", data_dir=tiny_dir, image_size=size)
        assert gray.data_shape == (size, size, 3) and gray.num_classes == 0 and gray.is_image and gray.translation is info
        assert info.shape_a == (size, size, 1) and info.shape_b == (size, size, 3) and info.paired and info.aligned_test
        assert train_a.shape == (10, size, size, 1) and info.test_b.shape == (10, size, size, 3)
        np.testing.assert_array_equal(train_b, load_arrays("cifar10", "train", data_dir=tiny_dir, image_size=size)[0])
        rgb = train_b.astype(np.float64)
        luma = np.floor((299 * rgb[..., 0] + 587 * rgb[..., 1] + 114 * rgb[..., 2]) / 1000 + 0.5)
        np.testing.assert_array_equal(train_a[..., 0], luma)
        # the test split in a fixed random order, labels moved with their images (the zips store class by class)
        test_x, test_y = load_arrays("cifar10", "test", data_dir=tiny_dir, image_size=size)
        order = np.random.default_rng(tr.HELD_OUT_SEED).permutation(10)
        assert order.tolist() != list(range(10)) and info.test_labels.tolist() == np.asarray(test_y)[order].tolist()
        np.testing.assert_array_equal(info.test_b, test_x[order])
        assert info.features == (None, "cifar10")
        assert info.domains == ("gray", "cifar10")
    edges = get_dataset("cifar10_edges", data_dir=tiny_dir)
    info = edges.translation
    assert info.domains == ("edges", "cifar10") and info.shape_a == (32, 32, 1) and info.features == (None, "cifar10")
    np.testing.assert_array_equal(info.test_a, tr.edges(info.test_b))
    batch = next(edges.stream(4, 0))
    assert batch["a"].shape == (4, 32, 32, 1) and batch["b"].shape == (4, 32, 32, 3)
    assert batch["a"].dtype == batch["b"].dtype == np.uint8
    np.testing.assert_array_equal(batch["a"], tr.edges(batch["b"]))
    with pytest.raises(DatasetError) as e:
        edges.stream(11, 0)
    assert "batch size 11 must be in [1, 10]" in _one_line(e)


# --- pairing, sharding, resuming ----------------------------------------------------------------


def test_digits_edges_pairs_stay_aligned_across_shards():
    ds = get_dataset("digits_edges", image_size=16)
    train_a, train_b, info = tr.translation_arrays("digits_edges", image_size=16)
    assert isinstance(ds, Dataset) and ds.translation is info and ds.data_shape == (16, 16, 1)
    assert len(train_a) == 1617 and len(info.test_a) == len(info.test_labels) == 180  # 10% of 1,797 held out
    assert info.paired and info.aligned_test and info.features == (None, "mnist") and info.domains == ("edges", "digits")
    digits, labels = load_digits(16)
    assert _rows(np.concatenate([train_b, info.test_b])) == _rows(digits)
    np.testing.assert_array_equal(info.test_labels, labels[tr._held_out(len(digits), "digits")[1]])
    np.testing.assert_array_equal(train_a, tr.edges(train_b))
    seen = []
    for shard in range(2):
        n = len(range(shard, len(train_a), 2))
        stream = ds.stream(n, 3, shard_index=shard, shard_count=2)
        epoch = next(stream)  # one batch = the shard's whole epoch
        np.testing.assert_array_equal(epoch["a"], tr.edges(epoch["b"]))
        assert not np.array_equal(epoch["b"], train_b[shard::2])  # shuffled
        seen.append(np.concatenate([epoch["a"], epoch["b"]], axis=-1))
        small = ds.stream(100, 3, shard_index=shard, shard_count=2)
        for _ in range(10):  # crosses an epoch boundary (8 batches per epoch)
            batch = next(small)
            np.testing.assert_array_equal(batch["a"], tr.edges(batch["b"]))
    assert _rows(np.concatenate(seen)) == _rows(np.concatenate([train_a, train_b], axis=-1))  # disjoint and covering
    with pytest.raises(DatasetError) as e:
        ds.stream(809, 0, shard_index=1, shard_count=2)
    assert "batch size 809 must be in [1, 808]" in _one_line(e) and "shard 1 of 2" in str(e.value)


def _check_resume(ds: Dataset, batch_size: int, k: int = 3) -> None:
    stream = ds.stream(batch_size, 5)
    for _ in range(k):
        next(stream)
    state = json.loads(json.dumps(stream.get_state()))
    expected = [next(stream) for _ in range(4)]
    again = ds.stream(batch_size, 5)
    again.set_state(state)
    for batch in expected:
        got = next(again)
        assert set(got) == {"a", "b"}
        np.testing.assert_array_equal(got["a"], batch["a"])
        np.testing.assert_array_equal(got["b"], batch["b"])
    np.testing.assert_array_equal(next(ds.stream(batch_size, 5))["b"], next(ds.stream(batch_size, 5))["b"])
    assert not np.array_equal(next(ds.stream(batch_size, 5))["b"], next(ds.stream(batch_size, 6))["b"])


def test_resume_paired_and_unpaired(tiny_dir):
    _check_resume(get_dataset("digits_edges", image_size=16), 500)  # 3 batches per epoch: resumes across epochs
    mnistm = get_dataset("mnist_mnistm", data_dir=tiny_dir)
    _check_resume(mnistm, 64)
    assert set(mnistm.stream(8, 0).get_state()) == {"a", "b"}


# --- MNIST-M ----------------------------------------------------------------------------------


def test_mnist_m_blend_by_hand():
    digit = np.array([0, 255, 128, 200], np.uint8).reshape(1, 1, 4, 1)
    patch = np.array([[10, 200, 128], [10, 200, 128], [255, 0, 100], [199, 201, 0]], np.uint8).reshape(1, 1, 4, 3)
    out = tr.blend_mnist_m(digit, patch)
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [[10, 200, 128], [245, 55, 127], [127, 128, 28], [1, 1, 200]]


def test_mnist_mnistm_splits(tiny_dir):
    ds = get_dataset("mnist_mnistm", data_dir=tiny_dir)
    train_a, train_b, info = tr.translation_arrays("mnist_mnistm", data_dir=tiny_dir)
    assert ds.data_shape == (32, 32, 3) and not info.paired and info.aligned_test
    assert info.domains == ("mnist", "mnist_m") and info.features == ("mnist", None)
    assert info.shape_a == (32, 32, 1) and info.shape_b == (32, 32, 3)
    assert train_a.shape == (30000, 32, 32, 1) and train_b.shape == (30000, 32, 32, 3)
    assert info.test_a.shape == (10000, 32, 32, 1) and info.test_b.shape == (10000, 32, 32, 3)
    for x in (train_a, train_b, info.test_a, info.test_b, info.test_labels):
        assert not x.flags.writeable
    assert train_a.dtype == train_b.dtype == info.test_b.dtype == np.uint8 and info.test_labels.dtype == np.int32
    mnist, _ = load_arrays("mnist", "train", data_dir=tiny_dir, image_size=32)
    mnist_test, mnist_labels = load_arrays("mnist", "test", data_dir=tiny_dir, image_size=32)
    pool, _ = load_arrays("cifar10", "train", data_dir=tiny_dir, image_size=32)
    pool_test, _ = load_arrays("cifar10", "test", data_dir=tiny_dir, image_size=32)
    # training: a is MNIST train [0, 30000), b is built from the other half (no hidden pairs)
    np.testing.assert_array_equal(train_a, mnist[:30000])
    index, flip = tr.mnist_m_patches(30000, len(pool), tr.MNIST_M_SEEDS["train"])
    assert 0.4 < flip.mean() < 0.6
    patches = np.where(flip[:, None, None, None], pool[index][:, :, ::-1], pool[index])
    np.testing.assert_array_equal(train_b, np.abs(patches.astype(np.int16) - mnist[30000:]).astype(np.uint8))
    # test: the same 10k MNIST test digits on test patches, in order, with their labels
    np.testing.assert_array_equal(info.test_a, mnist_test)
    np.testing.assert_array_equal(info.test_labels, mnist_labels)
    index, flip = tr.mnist_m_patches(10000, len(pool_test), tr.MNIST_M_SEEDS["test"])
    patches = np.where(flip[:, None, None, None], pool_test[index][:, :, ::-1], pool_test[index]).astype(np.int16)
    # each MNIST-M test image is exactly |its patch - the aligned MNIST test digit| ...
    np.testing.assert_array_equal(info.test_b, np.abs(patches - mnist_test).astype(np.uint8))
    # ... and not the next one
    assert not np.array_equal(info.test_b[:100], np.abs(patches[:100] - mnist_test[1:101]).astype(np.uint8))
    batch = next(ds.stream(16, 0))
    assert batch["a"].shape == (16, 32, 32, 1) and batch["b"].shape == (16, 32, 32, 3)


# --- user folders -----------------------------------------------------------------------------


def _png(path: Path, size, channels=3, value=None, seed=0):
    w, h = size
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8) if value is None
           else np.full((h, w, channels), value, np.uint8))
    Image.fromarray(arr[..., 0] if channels == 1 else arr).save(path)


def test_folders_unpaired(tmp_path):
    for i in range(12):
        _png(tmp_path / "horses" / f"{i:02d}.png", (10 + i, 8), seed=i)
    for i in range(5):
        _png(tmp_path / "zebras" / "sub" / f"{i}.jpg", (9, 9), channels=1, seed=100 + i)
    ds = get_dataset(f"folders:{tmp_path / 'horses'}, {tmp_path / 'zebras'}", image_size=8)
    info = ds.translation
    assert not info.paired and not info.aligned_test and info.test_labels is None and info.features == (None, None)
    assert info.domains == ("horses", "zebras") and info.shape_a == (8, 8, 3) and info.shape_b == (8, 8, 1)
    assert ds.data_shape == (8, 8, 1)
    assert len(info.test_a) == 1 and len(info.test_b) == 1  # round(12 * 0.1) = 1; at least 1 of 5
    train_a, train_b, _ = tr.translation_arrays(f"folders:{tmp_path / 'horses'},{tmp_path / 'zebras'}", image_size=8)
    assert len(train_a) == 11 and len(train_b) == 4
    batch = next(ds.stream(4, 0))
    assert batch["a"].shape == (4, 8, 8, 3) and batch["b"].shape == (4, 8, 8, 1)
    with pytest.raises(DatasetError) as e:
        ds.stream(5, 0)
    assert "training b images" in _one_line(e)
    # the two domains are drawn in independent orders: the same folder twice gives different a and b
    same = get_dataset(f"folders:{tmp_path / 'horses'},{tmp_path / 'horses'}", image_size=8)
    batch = next(same.stream(11, 0))
    assert not np.array_equal(batch["a"], batch["b"]) and _rows(batch["a"]) == _rows(batch["b"])
    _png(tmp_path / "one" / "x.png", (8, 8))
    with pytest.raises(DatasetError) as e:
        get_dataset(f"folders:{tmp_path / 'horses'},{tmp_path / 'one'}", image_size=8)
    assert "has 1 image" in _one_line(e) and "at least 2" in str(e.value)


def _pairs(root: Path, n: int) -> None:
    # pair i: a is gray level 20 i, b is a JPEG of colour (20 i + 5, ...): a pair is recognisable by value
    for i in range(n):
        _png(root / "A" / "x" / f"{i:03d}.png", (8 + i, 10), channels=1, value=20 * i)
        _png(root / "B" / "x" / f"{i:03d}.jpg", (8 + i, 10), value=20 * i + 5)


def test_folder_pairs_matched_by_stem(tmp_path):
    _pairs(tmp_path, 10)
    ds = get_dataset(f"folder_pairs:{tmp_path / 'A'},{tmp_path / 'B'}", image_size=8)
    train_a, train_b, info = tr.translation_arrays(f"folder_pairs:{tmp_path / 'A'},{tmp_path / 'B'}", image_size=8)
    assert info.paired and info.aligned_test and info.domains == ("A", "B") and info.features == (None, None)
    assert info.shape_a == (8, 8, 1) and info.shape_b == (8, 8, 3) and ds.data_shape == (8, 8, 3)
    assert len(train_a) == 9 and len(info.test_a) == len(info.test_b) == 1
    for a, b in [*zip(train_a, train_b), (info.test_a[0], info.test_b[0])]:
        assert abs(int(b.mean()) - int(a.mean()) - 5) <= 2
    stream = ds.stream(9, 1)
    for _ in range(3):
        batch = next(stream)
        assert not np.array_equal(batch["a"], train_a)  # shuffled ...
        diff = batch["b"].mean(axis=(1, 2, 3)) - batch["a"].mean(axis=(1, 2, 3))
        assert np.all(np.abs(diff - 5) <= 2)  # ... in pairs


def test_bad_translation_inputs_raise_one_clear_line(tmp_path):
    _pairs(tmp_path, 4)
    a, b = tmp_path / "A", tmp_path / "B"
    for extra in ("011", "012"):
        _png(a / f"{extra}.png", (8, 8), channels=1)
    _png(b / "z.png", (8, 8))
    with pytest.raises(DatasetError) as e:
        get_dataset(f"folder_pairs:{a},{b}", image_size=8)
    message = _one_line(e)
    assert f"2 in {a} without a partner" in message and "011, 012" in message and f"1 in {b}" in message and "(z)" in message
    for extra in (a / "011.png", a / "012.png", b / "z.png"):
        extra.unlink()
    _png(b / "x" / "002.jpg", (12, 10))  # its partner is 10x10
    with pytest.raises(DatasetError) as e:
        get_dataset(f"folder_pairs:{a},{b}", image_size=8)
    assert "002.png is 10x10 but its pair" in _one_line(e) and "002.jpg is 12x10" in str(e.value)
    for spec in ["folder_pairs:" + str(a), f"folders:{a},{b},{a}", "folders:,", f"folders:{a},"]:
        with pytest.raises(DatasetError) as e:
            get_dataset(spec)
        assert "DIR_A,DIR_B" in _one_line(e)
    for spec in [f"folders:{a},{tmp_path / 'nope'}", f"folder_pairs:{tmp_path / 'nope'},{b}"]:
        with pytest.raises(DatasetNotFoundError) as e:
            get_dataset(spec)
        assert f"{tmp_path / 'nope'} not found" in _one_line(e)
    with pytest.raises(DatasetError) as e:
        get_dataset("cifar10_edgy")
    assert "cifar10_edges" in _one_line(e) and "folder_pairs:<dir_a>,<dir_b>" in str(e.value)


def test_missing_offline_files_come_through_unchanged(tmp_path):
    missing = tmp_path / "nothing_here"
    with pytest.raises(DatasetNotFoundError) as direct:
        load_arrays("cifar10", "train", data_dir=str(missing))
    for name in ("cifar10_edges", "mnist_mnistm"):
        with pytest.raises(DatasetNotFoundError) as e:
            get_dataset(name, data_dir=str(missing))
        if name == "cifar10_edges":
            assert str(e.value) == str(direct.value)
    (tmp_path / "only_cifar").mkdir()
    _fake_cifar_zips(tmp_path / "only_cifar")
    with pytest.raises(DatasetNotFoundError) as e:
        get_dataset("mnist_mnistm", data_dir=str(tmp_path / "only_cifar"))
    assert "mnist.npz" in _one_line(e)


# --- determinism ------------------------------------------------------------------------------


def test_builds_are_deterministic(tiny_dir):
    for name, data_dir in [("digits_edges", None), ("mnist_mnistm", tiny_dir), ("cifar10_edges", tiny_dir)]:
        train_a, train_b, info = tr.translation_arrays(name, data_dir=data_dir)
        fresh = tr._build.__wrapped__(name, 32, data_dir)  # bypass the memo (source images stay load_arrays' memo)
        assert fresh.train_a is not train_a or fresh.train_b is not train_b
        for x, y in [(train_a, fresh.train_a), (train_b, fresh.train_b), (info.test_a, fresh.info.test_a),
                     (info.test_b, fresh.info.test_b), (info.test_labels, fresh.info.test_labels)]:
            np.testing.assert_array_equal(x, y)
    # pinned on the shipped digits (numpy 2.4, Pillow 13): a change of edge rule, held-out seed, numpy's
    # random stream or Pillow's bilinear resize shows up here; update it only for an intended change
    train_a, _, info = tr.translation_arrays("digits_edges")
    digest = hashlib.sha256(train_a.tobytes() + info.test_labels.tobytes()).hexdigest()
    assert digest == "cac37bca10341db3d2fad98afe8e5a831388231ef1eff4d1c978d21470350a92"


# --- random crops and flips (data.load_size, data.flip) -----------------------------------------


def _coords(load: int, tag: int) -> np.ndarray:
    """uint8 (load, load, 3) image whose pixel (y, x) is (y, x, tag): a crop shows where it came from."""
    y, x = np.meshgrid(np.arange(load), np.arange(load), indexing="ij")
    return np.stack([y, x, np.full_like(y, tag)], -1).astype(np.uint8)


def _window(image: np.ndarray, load: int) -> tuple[int, int, bool]:
    """(top, left, flipped) of a crop of a ``_coords`` image; asserts it is one whole window inside it."""
    size = image.shape[0]
    r = np.arange(size)
    top, cols = int(image[0, 0, 0]), image[0, :, 1].astype(int)
    flipped = bool(cols[0] > cols[-1])
    left = int(cols.min())
    np.testing.assert_array_equal(image[..., 0], np.broadcast_to((top + r)[:, None], (size, size)))
    np.testing.assert_array_equal(image[..., 1], np.broadcast_to((left + (r[::-1] if flipped else r))[None, :], (size, size)))
    assert 0 <= top <= load - size and 0 <= left <= load - size
    return top, left, flipped


def _coord_pairs(root: Path, n: int, load: int) -> str:
    """``folder_pairs:`` of n load x load pairs (no resize on loading): a = coords with tag i, b = tag i + 100."""
    for i in range(n):
        for side, tag in (("A", i), ("B", i + 100)):
            (root / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(_coords(load, tag)).save(root / side / f"{i:02d}.png")
    return f"folder_pairs:{root / 'A'},{root / 'B'}"


def _windows(batch: np.ndarray, load: int) -> list[tuple[int, int, bool]]:
    return [_window(im, load) for im in batch]


def test_paired_crops_and_flips_are_one_draw_per_pair(tmp_path):
    name = _coord_pairs(tmp_path, 20, 12)
    ds = get_dataset(name, image_size=8, load_size=12, flip=True)
    info = ds.translation
    assert ds.data_shape == info.shape_a == info.shape_b == (8, 8, 3)
    train_a, train_b, _ = tr.translation_arrays(name, image_size=8, load_size=12)
    assert train_a.shape == (18, 12, 12, 3) and info.test_a.shape == (2, 8, 8, 3)
    stream = ds.stream(6, 0)
    windows = []
    for _ in range(6):  # 3 batches per epoch: crosses epochs
        batch = next(stream)
        assert batch["a"].shape == batch["b"].shape == (6, 8, 8, 3) and batch["a"].dtype == np.uint8
        np.testing.assert_array_equal(batch["a"][..., :2], batch["b"][..., :2])  # the same window and flip for a and b ...
        np.testing.assert_array_equal(batch["b"][..., 2], batch["a"][..., 2] + 100)  # ... of the same pair
        assert {int(t) for t in batch["a"][:, 0, 0, 2]} <= set(train_a[:, 0, 0, 2].tolist())  # training pairs only
        windows += _windows(batch["a"], 12)
    tops, lefts, flips = zip(*windows)
    assert len(set(tops)) >= 3 and len(set(lefts)) >= 3 and 0.2 < np.mean(flips) < 0.8  # per-example draws
    # crops without flips, and flips without crops
    assert not any(f for *_, f in _windows(next(get_dataset(name, image_size=8, load_size=12).stream(6, 0))["a"], 12))
    plain = next(get_dataset(name, image_size=12, flip=True).stream(18, 0))["a"]
    assert {w[:2] for w in _windows(plain, 12)} == {(0, 0)} and 0 < np.mean([w[2] for w in _windows(plain, 12)]) < 1


def test_unpaired_domains_jitter_independently():
    same = np.repeat(_coords(12, 7)[None], 4, 0)  # four equal images: only the jitter tells a from b
    for paired in (True, False):
        stream = tr.TranslationStream(same, same, paired, 4, 0, crop=8, flip=True)
        batches = [next(stream) for _ in range(3)]
        a, b = (np.concatenate([x[k] for x in batches]) for k in "ab")
        _windows(a, 12)
        _windows(b, 12)
        assert np.array_equal(a, b) == paired


def _check_jitter_resume(ds: Dataset, batch_size: int) -> None:
    for k in (2, 5):  # within the first epoch, and after an epoch boundary
        stream = ds.stream(batch_size, 5)
        for _ in range(k):
            next(stream)
        state = json.loads(json.dumps(stream.get_state()))
        assert state["batches"] == k
        expected = [next(stream) for _ in range(4)]
        old = {key: v for key, v in state.items() if key != "batches"}  # a state saved before the counter existed
        for saved in (state, old):
            again = ds.stream(batch_size, 5)
            again.set_state(saved)
            for batch in expected:
                got = next(again)
                np.testing.assert_array_equal(got["a"], batch["a"])
                np.testing.assert_array_equal(got["b"], batch["b"])


def test_jitter_resumes_exactly(tmp_path):
    _check_jitter_resume(get_dataset(_coord_pairs(tmp_path / "p", 20, 12), image_size=8, load_size=12, flip=True), 6)
    for d in ("x", "y"):
        for i in range(10 if d == "x" else 14):
            _png(tmp_path / d / f"{i}.png", (12, 12), seed=i)
    _check_jitter_resume(get_dataset(f"folders:{tmp_path / 'x'},{tmp_path / 'y'}", image_size=8, load_size=12, flip=True), 4)


def test_jitter_depends_on_seed_and_shard():
    same = np.repeat(_coords(12, 7)[None], 8, 0)  # equal images: the batch order cannot hide the jitter

    def draws(seed, shard=0, count=1):
        stream = tr.TranslationStream(same, same, True, 4, seed, shard_index=shard, shard_count=count, crop=8, flip=True)
        return np.concatenate([next(stream)["a"] for _ in range(3)])

    np.testing.assert_array_equal(draws(0), draws(0))
    assert not np.array_equal(draws(0), draws(1))
    np.testing.assert_array_equal(draws(3, 1, 2), draws(3, 1, 2))
    assert not np.array_equal(draws(3, 0, 2), draws(3, 1, 2))  # each process draws its own jitter


def test_jitter_leaves_test_images_and_plain_streams_alone(tmp_path):
    from gan_jax.data.folder import load_folder

    for i in range(12):
        _png(tmp_path / "h" / f"{i:02d}.png", (20 + i, 18), seed=i)
        _png(tmp_path / "z" / f"{i:02d}.png", (17, 17), channels=1, seed=50 + i)
    name = f"folders:{tmp_path / 'h'},{tmp_path / 'z'}"
    plain_a, plain_b, plain = tr.translation_arrays(name, image_size=8)
    jitter = get_dataset(name, image_size=8, load_size=11, flip=True)
    train_a, train_b, info = tr.translation_arrays(name, image_size=8, load_size=11)
    assert jitter.translation is info and info.shape_a == (8, 8, 3) and info.shape_b == (8, 8, 1)
    for d, test, stored, train in (("h", info.test_a, train_a, plain_a), ("z", info.test_b, train_b, plain_b)):
        held_train, held_test = tr._held_out(12, d)
        # the held-out images: the old center crop + resize to image_size, no crop, no flip
        np.testing.assert_array_equal(test, load_folder(str(tmp_path / d), 8)[held_test])
        np.testing.assert_array_equal(test, (plain.test_a if d == "h" else plain.test_b))
        np.testing.assert_array_equal(train, load_folder(str(tmp_path / d), 8)[held_train])
        np.testing.assert_array_equal(stored, load_folder(str(tmp_path / d), 11)[held_train])  # training at load_size
    # defaults: the stream and its state are what they were before jitter existed
    stream = get_dataset(name, image_size=8).stream(4, 3)
    batch = next(stream)
    assert set(stream.get_state()) == {"a", "b"}
    side_seed = int(np.random.SeedSequence([3, 0]).generate_state(1)[0])
    from gan_jax.data.arrays import ArrayStream

    np.testing.assert_array_equal(batch["a"], plain_a[next(ArrayStream(np.arange(11), None, 4, side_seed))["x"]])


def test_bad_jitter_settings_raise_one_clear_line(tmp_path):
    name = _coord_pairs(tmp_path, 4, 12)
    with pytest.raises(DatasetError) as e:
        get_dataset(name, image_size=8, load_size=6)
    assert "data.load_size=6 must be >= data.image_size=8" in _one_line(e)
    with pytest.raises(DatasetError) as e:
        get_dataset(name, load_size=-1)
    assert "data.load_size=-1 must be >= data.image_size=64" in _one_line(e)
    for dataset, kwargs, what in [("digits_edges", {"load_size": 36}, "data.load_size=36"), ("digits", {"flip": True}, "data.flip=true"),
                                  (f"folder:{tmp_path / 'A'}", {"load_size": 70, "flip": True}, "data.load_size=70 and data.flip=true")]:
        with pytest.raises(DatasetError) as e:
            get_dataset(dataset, **kwargs)
        message = _one_line(e)
        assert message.startswith(what + ":") and "folders:DIR_A,DIR_B and folder_pairs:DIR_A,DIR_B" in message, message
        assert repr(dataset) in message
    with pytest.raises(DatasetError) as e:
        tr.translation_arrays("cifar10_gray", load_size=40)
    assert "data.load_size=40" in _one_line(e)


def _folder_experiments(tmp_path: Path) -> dict[str, list[str]]:
    """Tiny overrides of cyclegan_folder / pix2pix_folder on small folders (U-Nets need 32 px)."""
    for i in range(6):
        _png(tmp_path / "h" / f"{i}.png", (24, 20), seed=i)
        _png(tmp_path / "z" / f"{i}.png", (20, 20), channels=1, seed=10 + i)
    tiny = ["model.ngf=4", "model.ndf=4", "model.d_layers=2", "train.batch_size=2", "train.steps=2", "log.every=1",
            "log.sample_every=2", "log.eval_samples=2", "log.num_samples=4", "log.tensorboard=false", "checkpoint.every=2",
            "recipe.decay_steps=0"]
    return {"cyclegan_folder": [*tiny, f"data.name=folders:{tmp_path / 'h'},{tmp_path / 'z'}", "data.image_size=16",
                                "data.load_size=18", "model.n_blocks=1", "recipe.pool_size=2"],
            "pix2pix_folder": [*tiny, f"data.name={_coord_pairs(tmp_path / 'p', 6, 40)}", "data.image_size=32", "data.load_size=36"]}


def test_folder_experiments_build_with_jitter(tmp_path):
    """cyclegan_folder and pix2pix_folder keep the reference's augmentation and build through the config path."""
    import jax

    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.experiment import build_dataset, build_state

    for experiment, sets in _folder_experiments(tmp_path).items():
        config = load_experiment(experiment)
        assert (config.data.image_size, config.data.load_size, config.data.flip) == (256, 286, True)
        small = apply_overrides(config, sets)
        dataset = build_dataset(small)
        size = small.data.image_size
        assert dataset.translation.shape_a[:2] == dataset.translation.test_b.shape[1:3] == (size, size)
        stream = dataset.stream(small.train.batch_size, small.train.seed)
        batch = next(stream)
        assert batch["a"].shape[1:3] == batch["b"].shape[1:3] == (size, size) and stream.get_state()["batches"] == 1
        built = []
        state = jax.eval_shape(lambda: built.append(build_state(small, dataset)) or built[0][2])  # shapes only
        assert jax.tree.leaves(state.nets[built[0][1].generator].params)
        with pytest.raises(DatasetError) as e:
            build_dataset(apply_overrides(small, ["data.load_size=12"]))
        assert f"data.load_size=12 must be >= data.image_size={size}" in _one_line(e)


@pytest.mark.slow
def test_folder_experiments_train_with_jitter(tmp_path):
    """Two steps of each folder experiment through the CLI (~45 CPU-s each, mostly XLA compiling);
    the jitter's counter travels with the checkpoint."""
    from gan_jax.cli import main

    for experiment, sets in _folder_experiments(tmp_path).items():
        w = tmp_path / experiment
        assert main(["train", experiment, "--workdir", str(w), "--no-progress", *[x for s in sets for x in ("--set", s)]]) == 0
        data = json.loads((w / "config.json").read_text())["data"]
        assert data["flip"] and data["load_size"] == data["image_size"] + (2 if experiment == "cyclegan_folder" else 4)
        saved = [json.loads(f.read_text()) for f in (w / "checkpoints").rglob("*") if f.is_file() and b'"batches"' in f.read_bytes()]
        assert saved and saved[0]["batches"] == 2, experiment
