"""``gan-jax project``: projector.py's schedules, the optimisation on a generated target, the CLI and its one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import cli
from gan_jax.cli import main
from gan_jax.images import to_uint8
from gan_jax.projection import FEATURE_WEIGHTS, feature_fn, learning_rate, loss_terms, project, w_noise_scale
from gan_jax.sampling import mapped_w, synthesize

from test_stylegan2 import _sets

#: a 1-step, 8 px StyleGAN2 on MNIST without the lazy regularisers (they only cost compile time here)
FAST = ("train.steps=1", "checkpoint.every=1", "recipe.pl_weight=0", "recipe.r1_gamma=0", "recipe.style_mixing=0", "model.mapping_layers=1")


@pytest.fixture(scope="module")
def run(tmp_path_factory, shared_datasets) -> Path:
    workdir = tmp_path_factory.mktemp("stylegan2") / "w"
    assert main(["train", "stylegan2_mnist", "--workdir", str(workdir), "--no-progress", *_sets(*FAST)]) == 0
    return workdir


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """An RGB image of another size than the run's (8x8 gray): the loader converts, crops and resizes."""
    path = tmp_path_factory.mktemp("img") / "digit.png"
    a = np.zeros((20, 24, 3), np.uint8)
    a[4:16, 9:15] = 255
    Image.fromarray(a).save(path)
    return path


def test_learning_rate_and_w_noise_follow_projector():
    # lr: 0.1 * min(1, t / 0.05) * (0.5 - 0.5 cos(pi min(1, (1 - t) / 0.25)))
    for t, want in [(0.0, 0.0), (0.025, 0.05), (0.05, 0.1), (0.5, 0.1), (0.75, 0.1), (0.875, 0.05), (1.0, 0.0),
                    (0.8, 0.1 * (0.5 - 0.5 * np.cos(np.pi * 0.8)))]:
        assert float(learning_rate(t)) == pytest.approx(want, abs=1e-7), t
    # noise: w_std * 0.05 * max(0, 1 - t / 0.75)^2
    for t, want in [(0.0, 0.1), (0.375, 0.025), (0.75, 0.0), (0.9, 0.0)]:
        assert float(w_noise_scale(t, 2.0)) == pytest.approx(want, abs=1e-7), t


def test_projecting_a_generated_image_recovers_it(run):
    _, recipe, state = cli._restore(run)
    net = state.nets["G"]
    num_ws, w_dim = net.module.num_ws, net.module.w_dim
    w_star = mapped_w(recipe, state, jax.random.normal(jax.random.PRNGKey(5), (1, recipe.latent_dim)))
    target = to_uint8(synthesize(recipe, state, jnp.broadcast_to(w_star[:, None], (1, num_ws, w_dim))))[0]
    start = synthesize(recipe, state, jnp.broadcast_to(state.extra["w_avg"], (1, num_ws, w_dim)))[0]
    feats, t01 = feature_fn("mnist"), jnp.asarray(target, jnp.float32) / 255.0
    mse0, dist0 = loss_terms(jnp.asarray((start + 1) / 2), t01, feats(t01[None])[0], feats)
    initial = float(mse0) + FEATURE_WEIGHTS["mnist"] * float(dist0)

    r = project(recipe, state, target, num_steps=100, features="mnist", w_std_samples=1000)
    final = r.pixel_mse + FEATURE_WEIGHTS["mnist"] * r.feature_dist
    print(f"loss at w_avg {initial:.4g}, projected {final:.4g}")
    assert final < 0.3 * initial, (initial, final)
    assert r.image.shape == target.shape and r.image.dtype == np.uint8
    assert r.ws.shape == (num_ws, w_dim) and np.all(r.ws == r.ws[0])  # one w for every layer
    assert r.losses.shape == (100,) and r.trajectory.shape == (100, num_ws, w_dim)
    np.testing.assert_allclose(r.trajectory[-1], r.ws)

    # another image (and seed) reuses the compiled step: a notebook projecting a folder compiles once
    from gan_jax import projection

    compiled = projection._step._cache_size()
    other = project(recipe, state, 255 - target, num_steps=100, seed=1, features="mnist", w_std_samples=1000)
    assert projection._step._cache_size() == compiled
    assert not np.array_equal(other.ws, r.ws)


def test_cli_writes_side_by_side_w_and_video_and_refuses_to_overwrite(run, image, tmp_path, capsys):
    out, w = tmp_path / "proj.png", tmp_path / "w.npy"
    argv = ["project", "--workdir", str(run), "--image", str(image), "--out", str(out), "--steps", "20", "--save-w", str(w),
            "--video", "--w-plus", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "pixel MSE" in printed and "feature distance (mnist)" in printed
    with Image.open(out) as im:  # 8 px target | projection, scaled 64 // 8 = 8 times
        assert im.size == (2 * 8 * 8, 8 * 8) and im.mode == "L"
    with Image.open(out.with_suffix(".gif")) as gif:
        assert gif.n_frames > 1
    ws = np.load(w)
    assert ws.shape == (1, 4, 8) and not np.all(ws == ws[:, :1])  # (1, num_ws, w_dim): 4 styles at 8 px, one w per layer
    before = out.read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "exists" in err and len(err.strip().splitlines()) == 1 and out.read_bytes() == before


def test_bad_input_is_one_line(run, image, tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken.png"
    broken.write_text("not a png")
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"")
    base = ["project", "--workdir", str(run), "--image", str(image)]
    out = str(tmp_path / "o.png")
    cases = [
        ([*base, "--out", str(tmp_path / "o.jpg")], "--out must end in .png"),
        ([*base, "--out", str(taken)], "exists; choose a new path"),
        ([*base, "--out", out, "--steps", "0"], "--steps must be >= 1"),
        ([*base, "--out", out, "--save-w", str(tmp_path / "w.txt")], "--save-w must end in .npy"),
        ([*base, "--out", out, "--feature-weight", "-1"], "--feature-weight must be >= 0"),
        (["project", "--workdir", str(run), "--image", str(tmp_path / "missing.png"), "--out", out], "is not an image file"),
        (["project", "--workdir", str(run), "--image", str(broken), "--out", out], "cannot decode image"),
        ([*base, "--out", out, "--features", "cifar10"], "takes 3-channel images"),
        (["project", "--workdir", str(tmp_path), "--image", str(image), "--out", out], "holds no gan-jax run"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
    restore = cli._restore
    for change, message in [({"truncation": None}, "project needs a StyleGAN2 run"), ({"num_classes": 10}, "this one is conditional")]:
        def changed(workdir, change=change):  # the run with another recipe: a generator without W, a conditional one
            dataset, recipe, state = restore(workdir)
            return dataset, dataclasses.replace(recipe, **change), state

        monkeypatch.setattr(cli, "_restore", changed)
        assert main([*base, "--out", out]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not Path(out).exists()
