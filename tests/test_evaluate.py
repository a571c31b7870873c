"""gan_jax.evaluate / ``gan-jax eval`` end to end on a tiny run, classifier FID sanity on real
data, the reference-statistics cache, and the command's one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gan_jax.cli import main
from gan_jax.config import load_experiment, save_config
from gan_jax.metrics import StreamingStats, frechet_distance
from gan_jax.metrics import features as feats

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
TINY = ["train.steps=2", "model.g_width=8", "model.d_width=8", "data.image_size=28", "train.batch_size=16",
        "log.every=1", "log.sample_every=2", "log.num_samples=16"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GAN_JAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("eval") / "w"
    argv = ["train", "dcgan_digits", "--workdir", str(workdir), "--no-progress"]
    for kv in TINY:
        argv += ["--set", kv]
    assert main(argv) == 0
    return workdir


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gan-jax: error: ") and "\n" not in err, err
    return err


def _written(captured) -> Path:
    """The eval file ``gan-jax eval`` reported on stderr (its last line: ``wrote PATH``)."""
    return Path(captured.err.strip().splitlines()[-1].removeprefix("wrote "))


def test_eval_end_to_end_matches_direct_computation(run, capsys):
    from gan_jax.evaluate import real_images
    from gan_jax.experiment import build_state
    from gan_jax import checkpoint
    from gan_jax.config import read_config
    from gan_jax.images import to_uint8
    from gan_jax.sampling import sample

    assert main(["eval", "--workdir", str(run), "--num", "600", "--batch-size", "256", "--no-progress"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out.strip().splitlines()[-1])
    record = json.loads(_written(captured).read_text())
    assert {k: record[k] for k in printed} == printed
    assert printed["step"] == 2
    for key in ("fid_mnist", "kid_mnist", "kid_mnist_std", "is_mnist", "is_mnist_std", "precision_mnist", "recall_mnist",
                "density_mnist", "coverage_mnist"):
        assert np.isfinite(printed[key]), key
    assert 1.0 <= printed["is_mnist"] <= 10.0 and 0 <= printed["precision_mnist"] <= 1
    assert record["meta"]["feature_net"] == "mnist" and "not Inception FID" in record["meta"]["note"]

    # the streamed FID equals FID of all generated features at once vs all real features (np.cov)
    dataset, recipe, target = build_state(read_config(run / "config.json"))
    state = checkpoint.restore_state(run, target)
    net = feats.get_feature_net("mnist")
    fake, _ = feats.compute_features(net, to_uint8(sample(recipe, state, 600, seed=0)))
    real, _ = feats.compute_features(net, real_images("digits", 28))
    ref = frechet_distance(fake.mean(0), np.cov(fake, rowvar=False), real.mean(0), np.cov(real, rowvar=False))
    assert printed["fid_mnist"] == pytest.approx(ref, rel=1e-6)

    # the reference statistics were cached, keyed by dataset, size, net and protocol
    cached = list(feats.cache_dir().glob("digits-train-28x28x1__mnist-*__v1-uint8-none__nall.npz"))
    assert len(cached) == 1


def test_eval_subset_of_metrics_and_api(run):
    from gan_jax.evaluate import evaluate

    out = evaluate(run, metrics=("fid",), num=100, batch_size=64, progress=False)
    assert set(out) == {"step", "fid_mnist"}
    again = evaluate(run, metrics="fid", num=100, batch_size=64, progress=False)  # cache hit, same value
    assert again == out


def test_eval_errors(capsys, run, tmp_path):
    w = str(run)
    assert "no gan-jax run" in _error(capsys, ["eval", "--workdir", str(tmp_path / "none")])
    assert "unknown metric 'fdi'" in _error(capsys, ["eval", "--workdir", w, "--metrics", "fid,fdi"])
    assert "unknown feature net 'vgg'" in _error(capsys, ["eval", "--workdir", w, "--features", "vgg"])
    err = _error(capsys, ["eval", "--workdir", w, "--features", f"inception:{tmp_path / 'missing.pth'}"])
    assert "Inception weights not found" in err and "pytorch-fid/releases" in err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert "cannot read Inception weights" in _error(capsys, ["eval", "--workdir", w, "--features", f"inception:{bad}"])
    assert "3-channel" in _error(capsys, ["eval", "--workdir", w, "--features", "cifar10"])  # digits are grayscale
    assert "num must be >= 10" in _error(capsys, ["eval", "--workdir", w, "--num", "3"])
    nockpt = tmp_path / "nockpt"
    nockpt.mkdir()
    (nockpt / "config.json").write_text((run / "config.json").read_text())
    assert "no checkpoint" in _error(capsys, ["eval", "--workdir", str(nockpt)])
    toy = tmp_path / "toy"
    toy.mkdir()
    save_config(load_experiment("toy_ring"), toy / "config.json")
    assert "need image data" in _error(capsys, ["eval", "--workdir", str(toy)])
    assert not (tmp_path / "none").exists() and not (nockpt / "eval").exists()


def test_corrupt_classifier_weights_is_a_clear_error(tmp_path):
    from gan_jax.metrics import classifier

    bad = tmp_path / "w.npz"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="cannot read classifier weights"):
        classifier.load_classifier("mnist", str(bad))


def test_reference_cache_is_atomic_and_keyed(tmp_path):
    net = feats.get_feature_net("mnist")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 28, 28, 1), dtype=np.uint8)
    a = feats.reference_statistics("noise", images, net)
    assert Path(a["path"]).is_file() and a["count"] == 300 and a["subset"].shape == (300, net.dim)
    assert [p.name for p in Path(a["path"]).parent.iterdir() if p.name.startswith(Path(a["path"]).name + ".")] == []
    f, _ = feats.compute_features(net, images)
    np.testing.assert_allclose(a["mu"], f.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a["sigma"], np.cov(f.astype(np.float64), rowvar=False), rtol=1e-5, atol=1e-9)
    b = feats.reference_statistics("noise", lambda: pytest.fail("cache miss"), net, image_shape=(28, 28, 1))
    np.testing.assert_array_equal(a["sigma"], b["sigma"])
    c = feats.reference_statistics("noise", images, net, num=200)  # a different key
    assert c["key"] != a["key"] and c["count"] == 200
    from gan_jax.data.pipeline import limit_subset

    np.testing.assert_allclose(c["mu"], f[limit_subset(300, 200)].mean(0), rtol=1e-6, atol=1e-7)  # a fixed random 200
    # 32x32 images go through the resize protocol, which is part of the key
    d = feats.reference_statistics("noise", rng.integers(0, 256, (50, 32, 32, 1), dtype=np.uint8), net)
    assert "torchbilinear28x28" in d["key"]


# ----------------------------------------------------------------------------- real data


def _fid(f, ref):
    mu, sigma = StreamingStats.init(f.shape[1]).update(f).finalize()
    return frechet_distance(mu, sigma, ref["mu"], ref["sigma"])


def test_classifier_fid_mnist_real_small_noise_large():
    if not (DATASETS / "mnist.npz").is_file():
        pytest.skip(f"mnist.npz not found in {DATASETS}")
    with np.load(DATASETS / "mnist.npz") as z:
        train, test = z["x_train"][:10000, ..., None], z["x_test"][:2000, ..., None]
    net = feats.get_feature_net("mnist")
    ref = feats.reference_statistics("mnist", train, net, num=10000)
    real = _fid(feats.compute_features(net, test)[0], ref)
    noise = _fid(feats.compute_features(net, np.random.default_rng(0).integers(0, 256, (1000, 28, 28, 1), dtype=np.uint8))[0], ref)
    blank = _fid(feats.compute_features(net, np.zeros((1000, 28, 28, 1), np.uint8))[0], ref)
    print(f"fid_mnist: test split {real:.4g}, uniform noise {noise:.4g}, blank {blank:.4g}")
    assert real < 0.05 * noise and real < 0.05 * blank
    assert real < 1.0 < noise


def test_classifier_fid_cifar10_real_small_noise_large():
    from gan_jax.metrics._data import read_cifar10_zip

    if not (DATASETS / "cifar10-train-jpeg.zip").is_file():
        pytest.skip(f"CIFAR-10 zips not found in {DATASETS}")
    from gan_jax.metrics.classifier import default_weights_path

    if not default_weights_path("cifar10").is_file():
        pytest.skip("the CIFAR-10 classifier weights are not trained yet (benchmarks/train_classifier.py cifar10)")
    net = feats.get_feature_net("cifar10")
    train, _ = read_cifar10_zip(DATASETS / "cifar10-train-jpeg.zip", limit_per_class=400)
    test, _ = read_cifar10_zip(DATASETS / "cifar10-test-jpeg.zip", limit_per_class=100)
    ref = feats.reference_statistics("cifar10-400perclass", train, net)
    real = _fid(feats.compute_features(net, test)[0], ref)
    noise = _fid(feats.compute_features(net, np.random.default_rng(0).integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8))[0], ref)
    print(f"fid_cifar10: test split {real:.4g}, uniform noise {noise:.4g}")
    assert real < 0.1 * noise


def test_label_accuracy_metric_on_real_digits(run, capsys):
    """"acc": real MNIST test digits with their labels score ~ the classifier's accuracy, with shuffled
    labels ~ chance; unconditional runs and an unlabelled call are one-line errors."""
    from types import SimpleNamespace

    from gan_jax.config import UserError
    from gan_jax.evaluate import score_images

    if not (DATASETS / "mnist.npz").is_file():
        pytest.skip(f"mnist.npz not found in {DATASETS}")
    with np.load(DATASETS / "mnist.npz") as z:
        x, y = z["x_test"][:500, ..., None], z["y_test"][:500]
    dataset = SimpleNamespace(name="digits", data_shape=(28, 28, 1), num_classes=10, is_image=True)
    right = score_images([x[:250], x[250:]], dataset, metrics=["acc"], num=500, labels=y)
    wrong = score_images([x], dataset, metrics=["acc"], num=500, labels=np.random.default_rng(0).permutation(y))
    assert right["acc_mnist"] > 0.97 and wrong["acc_mnist"] < 0.2, (right, wrong)
    assert set(right) == {"acc_mnist"}
    with pytest.raises(UserError, match="needs a class-conditional model"):
        score_images([x], dataset, metrics=["acc"], num=500)
    assert "needs a class-conditional model" in _error(capsys, ["eval", "--workdir", str(run), "--metrics", "fid,acc"])


def test_eval_label_accuracy_of_a_conditional_run(tmp_path, capsys):
    """``gan-jax eval --metrics fid,acc`` on a class-conditional run reports acc_mnist (balanced labels)."""
    workdir = tmp_path / "cgan"
    argv = ["train", "cgan_mnist", "--workdir", str(workdir), "--no-progress"]
    for kv in ["data.name=digits", "data.image_size=28", "model.g_hidden=16", "model.d_hidden=16", "train.steps=2",
               "train.batch_size=16", "log.every=1", "log.sample_every=2", "log.num_samples=20"]:
        argv += ["--set", kv]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["eval", "--workdir", str(workdir), "--metrics", "fid,acc", "--num", "50"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) >= {"step", "fid_mnist", "acc_mnist"} and 0.0 <= out["acc_mnist"] <= 1.0
    saved = json.loads((workdir / "eval" / "step_2.json").read_text())
    assert saved["acc_mnist"] == out["acc_mnist"]


def test_eval_with_standing_statistics(run, capsys):
    """``--standing-stats N`` scores the generator with BatchNorm statistics of N fresh training-mode
    batches (recorded in the eval file)."""
    w = str(run)
    assert main(["eval", "--workdir", w, "--metrics", "fid", "--num", "50"]) == 0
    plain = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["eval", "--workdir", w, "--metrics", "fid", "--num", "50", "--standing-stats", "2"]) == 0
    captured = capsys.readouterr()
    standing = json.loads(captured.out.strip().splitlines()[-1])
    assert standing["fid_mnist"] != plain["fid_mnist"]  # other BatchNorm statistics, other samples
    # each evaluation of the step has its own file: the plain one is kept, the standing-statistics one is new
    path = _written(captured)
    assert path.parent == run / "eval" and path.name.startswith(f"step_{plain['step']}.") and path.name != f"step_{plain['step']}.json"
    assert json.loads(path.read_text())["meta"]["standing_stats"] == 2
    records = [json.loads(p.read_text()) for p in (run / "eval").glob(f"step_{plain['step']}*.json")]
    assert {r["fid_mnist"] for r in records if r["meta"]["num"] == 50} >= {plain["fid_mnist"], standing["fid_mnist"]}
    assert "standing statistics need N >= 1" in _error(capsys, ["eval", "--workdir", w, "--standing-stats", "-1"])


def test_eval_records_are_never_replaced(tmp_path):
    """Scoring the same step again writes step_N.2.json, step_N.3.json, ...: every earlier result stays."""
    from gan_jax.evaluate import _write_eval_record

    paths = [_write_eval_record(tmp_path, 5, {"fid": float(i)}) for i in range(3)]
    assert [p.name for p in paths] == ["step_5.json", "step_5.2.json", "step_5.3.json"]
    assert [json.loads(p.read_text())["fid"] for p in paths] == [0.0, 1.0, 2.0]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["step_5.2.json", "step_5.3.json", "step_5.json"]  # no temp files left


def test_eval_records_without_hard_links(tmp_path, monkeypatch):
    """On a file system without hard links the record is created exclusively under the same names."""
    from gan_jax import evaluate as ev

    def no_links(src, dst):
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(ev.os, "link", no_links)
    paths = [ev._write_eval_record(tmp_path, 7, {"fid": float(i)}) for i in range(2)]
    assert [p.name for p in paths] == ["step_7.json", "step_7.2.json"]
    assert [json.loads(p.read_text())["fid"] for p in paths] == [0.0, 1.0]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["step_7.2.json", "step_7.json"]
