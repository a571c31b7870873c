"""The gan-jax command line end to end on tiny settings, and its one-line errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gan_jax.cli import main

TINY = ["--set", "train.steps=3", "--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "data.image_size=16",
        "--set", "train.batch_size=16", "--set", "log.every=1", "--set", "log.sample_every=2", "--set", "log.num_samples=16"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run") / "w"
    assert main(["train", "dcgan_digits", "--workdir", str(workdir), "--no-progress", *TINY]) == 0
    return workdir


def test_train_writes_run(trained):
    assert json.loads((trained / "config.json").read_text())["train"]["steps"] == 3
    lines = [json.loads(l) for l in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [1, 2, 3]
    assert {"loss/d", "loss/d_real", "loss/d_fake", "loss/g", "perf/examples_per_sec"} <= set(lines[0])
    grid = Image.open(trained / "samples.png")
    assert grid.size[0] >= 64 and grid.size == grid.size[::-1]
    assert sorted(p.name for p in (trained / "samples").iterdir()) == ["step_0000002.png", "step_0000003.png"]
    assert (trained / "checkpoints" / "3").is_dir()


def test_sample_npy_and_png(trained, tmp_path):
    out = tmp_path / "s.npy"
    assert main(["sample", "--workdir", str(trained), "--num", "5", "--out", str(out)]) == 0
    a = np.load(out)
    assert a.shape == (5, 16, 16, 1) and a.dtype == np.uint8
    b = tmp_path / "b.npy"
    assert main(["sample", "--workdir", str(trained), "--num", "5", "--out", str(b)]) == 0
    np.testing.assert_array_equal(a, np.load(b))  # same seed, same samples
    assert main(["sample", "--workdir", str(trained), "--num", "5", "--out", str(b), "--seed", "1", "--no-ema"]) == 0
    assert not np.array_equal(a, np.load(b))
    png = tmp_path / "g.png"
    assert main(["sample", "--workdir", str(trained), "--num", "9", "--out", str(png)]) == 0
    Image.open(png).verify()


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gan-jax: error: ") and "\n" not in err, err
    return err


def test_bad_input_errors(capsys, tmp_path, trained):
    assert "unknown experiment 'nope'" in _error(capsys, ["train", "nope", "--workdir", str(tmp_path / "a")])
    assert "dcgan_digits" in _error(capsys, ["train", "nope", "--workdir", str(tmp_path / "a")])  # lists what exists
    assert "unknown config key 'train.stepz'" in _error(capsys, ["train", "--workdir", str(tmp_path / "a"), "--set", "train.stepz=3"])
    assert "expected int" in _error(capsys, ["train", "--workdir", str(tmp_path / "a"), "--set", "train.steps=many"])
    assert "key=value" in _error(capsys, ["train", "--workdir", str(tmp_path / "a"), "--set", "train.steps"])
    assert "unknown GAN loss" in _error(capsys, ["train", "--workdir", str(tmp_path / "a"), "--set", "recipe.loss=magic"])
    assert "log.every=0 must be >= 1" in _error(capsys, ["train", "--workdir", str(tmp_path / "a"), "--set", "log.every=0"])
    assert "log.eval_samples=-1 must be >= 0" in _error(capsys, ["train", "--workdir", str(tmp_path / "a"), "--set", "log.eval_samples=-1"])
    assert "unknown config key 'train.loss'" in _error(capsys, ["train", "--workdir", str(tmp_path / "a"), "--set", "train.loss=hinge"])
    err = _error(capsys, ["train", "dcgan_digits", "--workdir", str(tmp_path / "a"), "--set", "recipe.r1_gamma=10"])
    assert "BatchNorm" in err and "--set model.d_batch_norm=false" in err, err
    assert not (tmp_path / "a").exists()  # nothing written for rejected input
    assert "no gan-jax run" in _error(capsys, ["sample", "--workdir", str(tmp_path / "none"), "--out", str(tmp_path / "x.npy")])
    assert ".npy, .png or .txt" in _error(capsys, ["sample", "--workdir", str(trained), "--out", str(tmp_path / "x.jpg")])


def test_workdir_of_another_run_is_not_touched(capsys, trained):
    before = {p: p.stat().st_mtime_ns for p in trained.rglob("*")}
    assert "holds a different run" in _error(capsys, ["train", "dcgan_digits", "--workdir", str(trained), *TINY, "--set", "recipe.loss=hinge"])
    assert {p: p.stat().st_mtime_ns for p in trained.rglob("*")} == before


def test_interpolate_png_and_gif(trained, tmp_path, capsys):
    png, gif = tmp_path / "i.png", tmp_path / "i.gif"
    assert main(["interpolate", "--workdir", str(trained), "--out", str(png), "--pairs", "3", "--steps", "5"]) == 0
    assert main(["interpolate", "--workdir", str(trained), "--out", str(gif), "--pairs", "3", "--steps", "5"]) == 0
    grid = Image.open(png)
    assert grid.width > grid.height  # 3 rows of 5
    anim = Image.open(gif)
    assert anim.n_frames == 8  # there (5) and back (3)
    assert ".png or .gif" in _error(capsys, ["interpolate", "--workdir", str(trained), "--out", str(tmp_path / "i.mp4")])
    assert "needs a conditional model" in _error(capsys, ["sample", "--workdir", str(trained), "--out", str(tmp_path / "x.npy"), "--label", "3"])


def test_missing_checkpoint(capsys, trained, tmp_path):
    work = tmp_path / "nockpt"
    work.mkdir()
    (work / "config.json").write_text((trained / "config.json").read_text())
    assert "no checkpoint" in _error(capsys, ["sample", "--workdir", str(work), "--out", str(tmp_path / "x.npy")])


def test_console_script_and_core_without_tensorflow(tmp_path):
    # the core (and the GPU check script's imports) never import TF, TFDS, grain, torch or the drivers
    code = "import sys, gan_jax.steps, gan_jax.engine, gan_jax.parallel, gan_jax.losses, gan_jax.recipes.classic, gan_jax.models, " \
           "gan_jax.noise, gan_jax.optimizers, gan_jax.metrics.fid; " \
           "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorflow_datasets', 'torch', 'grain') " \
           "or m in ('gan_jax.train', 'gan_jax.cli', 'gan_jax.config', 'gan_jax.evaluate')]; " \
           "assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    # sampling sits below the driver and the evaluator: neither imports the other through it
    code = "import sys, gan_jax.sampling, gan_jax.evaluate; bad = [m for m in sys.modules if m == 'gan_jax.train']; assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "gan-jax"), "list"], capture_output=True, text=True)
    assert r.returncode == 0 and {"dcgan_digits", "toy_ring", "toy_grid"} <= set(r.stdout.split())


def test_sample_and_eval_print_no_orbax_warnings(trained, tmp_path):
    """Orbax's read-only CheckpointManager logs two absl warnings; users of sample/eval see none."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    for argv in (["sample", "--workdir", str(trained), "--num", "2", "--out", str(tmp_path / "s.npy")],
                 ["eval", "--workdir", str(trained), "--num", "20", "--metrics", "fid", "--no-progress"]):
        r = subprocess.run([sys.executable, "-m", "gan_jax.cli", *argv], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        assert "read_only" not in r.stderr and "read only" not in r.stderr and "WARNING:absl" not in r.stderr, r.stderr
