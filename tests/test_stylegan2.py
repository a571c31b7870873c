"""StyleGAN2(-ADA): closed-form checks of the layers and the recipe, the family's config errors, resume."""

from __future__ import annotations

import json
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import checkpoint
from gan_jax.cli import main
from gan_jax.config import CONFIG_FILE, UserError, apply_overrides, load_experiment, read_config
from gan_jax.engine import train_step_fn
from gan_jax.data import load_arrays
from gan_jax.experiment import build_state
from gan_jax.models import stylegan2 as sg
from gan_jax.optimizers import adam
from gan_jax.recipes.stylegan2 import mix_styles, path_length, r1

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

#: the auto preset (path length, mixing, residual D): the phases these tests check; stylegan2_mnist itself uses cifar
TINY = ["model.preset=auto", "model.z_dim=8", "model.w_dim=8", "model.channel_base=64", "model.channel_max=8", "train.batch_size=4", "log.every=1",
        "log.tensorboard=false", "log.num_samples=4", "log.sample_every=1000", "checkpoint.every=2"]


def _sets(*extra):
    return [x for s in (*TINY, f"data.dir={DATA_DIR}", "data.image_size=8", *extra) for x in ("--set", s)]


# ----------------------------------------------------------------------------- layers


def test_demodulated_conv_has_unit_variance_per_output_map():
    """Var(y_o) = sum_ik (s_i w_iko d_o)^2 Var(x) = 1 for i.i.d. unit-variance inputs (interior pixels)."""
    kx, kw, ks = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (4, 40, 40, 16))
    w = jax.random.normal(kw, (3, 3, 16, 6)) * jnp.linspace(0.1, 3.0, 6)  # very different filter norms
    s = jnp.exp(jax.random.normal(ks, (4, 16)))  # very different styles per example
    var, var_plain = jax.jit(lambda x, w, s: (jnp.var(sg.modulated_conv(x, w, s)[:, 1:-1, 1:-1], axis=(1, 2)),
                                              jnp.var(sg.modulated_conv(x, w, s, demodulate=False)[:, 1:-1, 1:-1], axis=(1, 2))))(x, w, s)
    np.testing.assert_allclose(var, 1.0, atol=0.08)  # per example and output map
    assert float(jnp.std(var_plain)) > 1.0  # without demodulation the variances differ wildly


def test_modulated_conv_equals_per_example_weights():
    """conv(x * s, w) * d is the reference's per-example weight w''_bijk = s_bi w_ijk d_bk."""
    kx, kw, ks = jax.random.split(jax.random.PRNGKey(1), 3)
    x, w, s = jax.random.normal(kx, (2, 6, 6, 3)), jax.random.normal(kw, (3, 3, 3, 5)), jax.random.normal(ks, (2, 3))
    y = sg.modulated_conv(x, w, s)
    for b in range(2):
        wb = w * s[b][None, None, :, None]
        wb = wb / jnp.sqrt(jnp.sum(wb**2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        ref = jax.lax.conv_general_dilated(x[b : b + 1], wb, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        np.testing.assert_allclose(y[b : b + 1], ref, rtol=1e-5, atol=1e-5)


def test_upsampling_modulated_conv_is_the_references_transposed_conv_then_fir():
    """up=True == conv_transpose2d(x * s, w, stride 2) (scattered by hand), zero-padded by 1 and filtered
    with the [1, 3, 3, 1] FIR at gain 4 (the reference's conv2d_resample(up=2, padding=1)), then
    demodulated -- every pixel, borders included, for even and odd sizes."""
    f = np.array([1.0, 3.0, 3.0, 1.0]) / 8
    for size in (4, 5):
        kx, kw, ks = jax.random.split(jax.random.PRNGKey(size), 3)
        x, w, s = jax.random.normal(kx, (2, size, size, 3)), jax.random.normal(kw, (3, 3, 3, 4)), jax.random.normal(ks, (2, 3))
        got = np.asarray(sg.modulated_conv(x, w, s, up=True))
        xs, wn = np.asarray(x * s[:, None, None, :], np.float64), np.asarray(w, np.float64)
        t = np.zeros((2, 2 * size + 1, 2 * size + 1, 4))
        for m in range(size):
            for n in range(size):
                t[:, 2 * m : 2 * m + 3, 2 * n : 2 * n + 3] += np.einsum("bi,hwio->bhwo", xs[:, m, n], wn)
        tp = np.pad(t, ((0, 0), (1, 1), (1, 1), (0, 0)))
        ref = sum(4 * f[i] * f[j] * tp[:, i : i + 2 * size, j : j + 2 * size] for i in range(4) for j in range(4))
        d = 1 / np.sqrt(np.asarray(s, np.float64) ** 2 @ (wn**2).sum(axis=(0, 1)) + 1e-8)
        assert got.shape == (2, 2 * size, 2 * size, 4)
        np.testing.assert_allclose(got, ref * d[:, None, None, :], rtol=1e-4, atol=1e-5)


def test_equalised_lr_scaling():
    """Stored weights ~ N(0, 1 / lr_mul), used as w * lr_mul / sqrt(fan_in); gradients scale by the same factor."""
    layer = sg.EqualDense(300, lr_mul=0.01, bias_init=0.5)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 64))
    params = layer.init(jax.random.PRNGKey(1), x)["params"]
    assert abs(float(jnp.std(params["weight"])) - 100.0) < 3.0 and float(params["bias"][0]) == 0.5
    y = layer.apply({"params": params}, x)
    np.testing.assert_allclose(y, x @ params["weight"] * (0.01 / 8.0) + 0.5 * 0.01, rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda p: jnp.sum(layer.apply({"params": p}, x)))(params)
    np.testing.assert_allclose(g["weight"], jnp.sum(x, 0)[:, None] * (0.01 / 8.0) * jnp.ones((1, 300)), rtol=1e-5)
    conv = sg.EqualConv(4, kernel=3, activation="linear", use_bias=False)
    xc = jnp.ones((1, 5, 5, 2))
    pc = conv.init(jax.random.PRNGKey(2), xc)["params"]
    centre = conv.apply({"params": pc}, xc)[0, 2, 2]
    np.testing.assert_allclose(centre, jnp.sum(pc["weight"], axis=(0, 1, 2)) / math.sqrt(2 * 9), rtol=1e-5)
    # leaky ReLU carries the reference's gain sqrt(2)
    act = sg.EqualDense(1, activation="lrelu")
    pa = {"weight": jnp.ones((1, 1)), "bias": jnp.zeros((1,))}
    np.testing.assert_allclose(act.apply({"params": pa}, jnp.array([[-1.0], [2.0]]))[:, 0], [-0.2 * math.sqrt(2), 2 * math.sqrt(2)], rtol=1e-6)


def test_fir_resampling_matches_the_reference_formulas():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1) ** 1.5
    up = np.asarray(sg.upsample_2x(x))[0, :, :, 0]
    xn = np.asarray(x)[0, :, :, 0]
    p = np.pad(xn, 1)
    rows = np.zeros((8, 4))
    rows[0::2] = 0.25 * p[0:4, 1:5] + 0.75 * xn
    rows[1::2] = 0.75 * xn + 0.25 * p[2:6, 1:5]
    pr = np.pad(rows, ((0, 0), (1, 1)))
    ref = np.zeros((8, 8))
    ref[:, 0::2] = 0.25 * pr[:, 0:4] + 0.75 * rows
    ref[:, 1::2] = 0.75 * rows + 0.25 * pr[:, 2:6]
    np.testing.assert_allclose(up, ref, rtol=1e-6)
    down = np.asarray(sg.downsample_2x(x))[0, :, :, 0]
    f = np.array([1, 3, 3, 1]) / 8
    pd = np.pad(xn, 1)
    ref_d = np.array([[sum(f[a] * f[b] * pd[2 * i + a, 2 * j + b] for a in range(4) for b in range(4)) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(down, ref_d, rtol=1e-6)


def test_minibatch_std_by_hand():
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 2, 2, 3))
    out = sg.minibatch_std(x, group_size=4)
    assert out.shape == (8, 2, 2, 4)
    xn = np.asarray(x)
    for n in range(8):  # example n is in the group {m : m % 2 == n % 2}
        group = xn[n % 2 :: 2]
        expected = np.mean(np.sqrt(np.var(group, axis=0) + 1e-8))
        np.testing.assert_allclose(out[n, :, :, 3], expected, rtol=1e-5)
    np.testing.assert_array_equal(out[..., :3], x)


def test_generator_truncation_and_methods():
    G = sg.StyleGAN2Generator((16, 16, 3), z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8)
    z = jax.random.normal(jax.random.PRNGKey(0), (3, 8))
    w_avg = jnp.linspace(-1, 1, 8)
    keys = jax.random.split(jax.random.PRNGKey(5), 3)

    @jax.jit
    def outputs(z):  # one compiled program (eagerly every op compiles on its own)
        v = G.init(jax.random.PRNGKey(1), z)
        ws = jnp.broadcast_to(G.apply(v, z, method="mapping")[:, None], (3, 6, 8))
        return (G.apply(v, z, truncation_psi=0.0, w_avg=w_avg), G.apply(v, jnp.broadcast_to(w_avg, (3, 6, 8)), method="synthesis"),
                G.apply(v, z, truncation_psi=1.0, w_avg=w_avg), G.apply(v, z), ws, G.apply(v, z, noise_keys=keys))

    at_zero, from_avg, psi_one, plain, ws, noisy = outputs(z)
    assert G.num_ws == sg.num_ws(16) == 6
    np.testing.assert_allclose(at_zero, from_avg, rtol=1e-6, atol=1e-6)  # psi = 0: every sample is w_avg's image
    np.testing.assert_allclose(psi_one, plain, rtol=1e-5, atol=1e-5)  # w_avg + (w - w_avg): rounding only
    cut = sg.truncate(ws, w_avg, 0.0, cutoff=2)
    np.testing.assert_allclose(cut[:, :2], jnp.broadcast_to(w_avg, (3, 2, 8)))
    np.testing.assert_array_equal(cut[:, 2:], ws[:, 2:])
    assert noisy.shape == (3, 16, 16, 3) and float(jnp.abs(noisy - plain).max()) >= 0.0


def test_style_mixing_cutoff():
    w, w2 = jnp.zeros((2, 4)), jnp.ones((2, 4))
    ws = mix_styles(w, w2, 6, jnp.asarray(2))
    np.testing.assert_array_equal(ws[:, :2], 0.0)
    np.testing.assert_array_equal(ws[:, 2:], 1.0)
    np.testing.assert_array_equal(mix_styles(w, w2, 6, jnp.asarray(6)), 0.0)


# ----------------------------------------------------------------------------- regularisers


def test_path_length_on_a_linear_synthesis_map_by_hand():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4, 10)).astype(np.float32)  # img[b, p] = sum_ld ws[b, l, d] A[l, d, p]
    ws = rng.normal(size=(5, 3, 4)).astype(np.float32)
    r = rng.normal(size=(5, 10)).astype(np.float32)
    penalty, new_mean, lengths = path_length(lambda w: jnp.einsum("bld,ldp->bp", w, A), jnp.asarray(ws), jnp.asarray(r), jnp.asarray(0.7),
                                             decay=0.01)
    g = np.einsum("bp,ldp->bld", r, A)  # J^T r
    ref_len = np.sqrt(np.mean(np.sum(g**2, axis=2), axis=1))
    ref_mean = 0.7 + 0.01 * (ref_len.mean() - 0.7)
    np.testing.assert_allclose(lengths, ref_len, rtol=1e-5)
    np.testing.assert_allclose(new_mean, ref_mean, rtol=1e-6)
    np.testing.assert_allclose(penalty, (ref_len - ref_mean) ** 2, rtol=1e-4)


def test_r1_by_hand():
    x = jnp.arange(6.0).reshape(2, 3, 1, 1)
    np.testing.assert_allclose(r1(lambda x: jnp.sum(3.0 * x**2, axis=(1, 2, 3)), x), np.sum((6 * np.asarray(x)) ** 2, axis=(1, 2, 3)))


def test_lazy_rescaling_of_adam():
    """mb_ratio = N / (N + 1): lr x ratio, betas ** ratio (the reference's training_loop)."""
    grads = [{"w": jnp.array([0.3, -1.2])}, {"w": jnp.array([-0.5, 0.1])}, {"w": jnp.array([2.0, 0.4])}]
    for every in (4, 16):
        ratio = every / (every + 1)
        ours, ref = adam(0.0025, 0.0, 0.99, lazy_every=every), optax.adam(0.0025 * ratio, b1=0.0, b2=0.99**ratio, eps=1e-8)
        p = {"w": jnp.zeros(2)}
        so, sr = ours.init(p), ref.init(p)
        for g in grads:
            uo, so = ours.update(g, so, p)
            ur, sr = ref.update(g, sr, p)
            np.testing.assert_allclose(uo["w"], ur["w"], rtol=1e-6)


# ----------------------------------------------------------------------------- the family


def _config(*sets):
    return apply_overrides(load_experiment("stylegan2_mnist"), [*TINY, f"data.dir={DATA_DIR}", "data.image_size=8", *sets])


#: XLA:CPU's cheapest optimisation level: these tests check values and structure, not speed, and
#: compiling dominates them (as in tests/test_experiments.py)
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@pytest.fixture
def fast_init(monkeypatch):
    """The family's state initialised by one program compiled cheaply (eagerly, every initialiser compiles on its own)."""
    from gan_jax.families import stylegan2 as family
    from gan_jax.recipes import stylegan2 as recipes

    def build(**kw):
        rng = kw.pop("rng")
        state = jax.jit(lambda k: recipes.stylegan2(rng=k, **kw)[1]).lower(rng).compile(compiler_options=FAST_COMPILE)(rng)
        return recipes.stylegan2_recipe(kw["spec"], kw.get("name", "stylegan2")), state

    monkeypatch.setattr(family, "stylegan2", build)


def test_recipe_phases_lazy_intervals_and_gain(fast_init):
    dataset, recipe, state = build_state(_config())
    phases = {p.name: p for p in recipe.phases}
    assert list(phases) == ["Gmain", "Greg", "Dmain", "Dreg"]
    assert phases["Greg"].every == 4 and phases["Dreg"].every == 16 and phases["Greg"].scale_lazy_loss
    assert recipe.active_at(0) == {"Greg", "Dreg"} and recipe.active_at(4) == {"Greg"} and recipe.active_at(5) == frozenset()
    cifar = apply_overrides(load_experiment("stylegan2_cifar10"), [f"data.dir={DATA_DIR}", "model.channel_base=64", "model.channel_max=8",
                                                                      "model.z_dim=8", "model.w_dim=8", "train.batch_size=32"])
    _, r2, s2 = build_state(cifar)
    assert [p.name for p in r2.phases] == ["Gmain", "Dmain", "Dreg"]  # cifar: no path length, no mixing, orig D
    assert s2.nets["D"].module.architecture == "orig" and s2.nets["D"].module.mbstd_group == 32
    assert s2.nets["G"].module.mapping_layers == 2
    # EMA of 500 kimg at batch 32 with ramp-up 0.05
    assert s2.nets["G"].ema.decay == pytest.approx(0.5 ** (32 / 500_000)) and s2.nets["G"].ema.rampup == 0.05


@pytest.mark.slow  # the kill -9 / resume test below trains the same recipe (with ADA) in the default run
def test_train_steps_update_w_avg_pl_mean_and_stay_finite(fast_init):
    dataset, recipe, state = build_state(_config())
    x = jnp.asarray(load_arrays("mnist", data_dir=str(DATA_DIR), image_size=8)[0][:4])
    for i in range(2):
        fn = jax.jit(train_step_fn(recipe, recipe.active_at(i))).lower(state, {"x": x}).compile(compiler_options=FAST_COMPILE)
        state, metrics = fn(state, {"x": x})
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert float(jnp.abs(state.extra["w_avg"]).sum()) > 0 and float(state.extra["pl_mean"]) > 0


@pytest.mark.parametrize(
    "sets, message",
    [
        (["model.preset=ffhq"], "unknown model.preset 'ffhq'"),
        (["data.image_size=300"], "StyleGAN2 supports square images of 8 to 256 px"),
        (["data.limit=-3"], "data.limit must be >= 0"),
        (["data.name=digits", "data.limit=10"], "data.limit applies to image datasets"),
        (["recipe.augment=adaptive"], "unknown recipe.augment 'adaptive'"),
        (["recipe.augment_p=1.5"], "recipe.augment_p must be in [0, 1]"),
        (["model.d_architecture=skip"], "unknown model.d_architecture 'skip'"),
        (["train.batch_size=6"], "must be divisible by the minibatch-std group 4"),
    ],
)
def test_config_errors_are_one_line(sets, message):
    with pytest.raises(UserError) as e:
        build_state(_config(*sets))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_conditional_needs_labels(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    with pytest.raises(UserError, match="model.conditional=true needs a labelled dataset"):
        build_state(_config(f"data.name=folder:{folder}", "model.conditional=true"))


# ----------------------------------------------------------------------------- resume and the CLI


def _leaves(workdir, step):
    state = checkpoint.restore_state(workdir, build_state(read_config(workdir / CONFIG_FILE))[2], step)
    return state, [np.asarray(x) for x in jax.tree.leaves(state)]


def test_stylegan2_ada_sigkill_then_resume_equals_uninterrupted_and_cli(tmp_path, kill_after_checkpoint, capsys):
    """kill -9 mid-run, resume: G, its EMA, D, both Adam states, w_avg, pl_mean, ADA's p equal an uninterrupted run bit for bit."""
    total = 8
    sets = _sets("recipe.augment=ada", "recipe.augment_p=0.2", "recipe.ada_kimg=0.05", "recipe.g_reg_every=2", "recipe.d_reg_every=4",
                 f"train.steps={total}")
    ref = tmp_path / "ref"
    assert main(["train", "stylegan2_mnist", "--workdir", str(ref), "--no-progress", *sets]) == 0
    rows = [json.loads(line) for line in (ref / "metrics.jsonl").read_text().splitlines()]
    assert {"loss/g_pl", "penalty/r1", "ada/p", "pl/mean"} <= set().union(*rows)
    ref_state, ref_leaves = _leaves(ref, total)
    p = float(ref_state.extra["ada"]["p"])
    assert p != pytest.approx(0.2)  # ADA moved p (by 4 x 4 / 50 per adjustment at this speed)
    assert round((p - 0.2) / (4 * 4 / 50), 4) in {-2.0, -1.0, 0.0, 1.0, 2.0} or p == 0.0  # two adjustments, each +-0.32, clamped at 0
    assert float(ref_state.extra["pl_mean"]) > 0 and float(jnp.abs(ref_state.extra["w_avg"]).sum()) > 0

    work = tmp_path / "w"
    cmd = [sys.executable, "-m", "gan_jax.cli", "train", "stylegan2_mnist", "--workdir", str(work), "--no-progress", *sets]
    killed_at = kill_after_checkpoint(cmd, work, 2)
    assert 2 <= killed_at < total
    assert main(["train", "stylegan2_mnist", "--workdir", str(work), "--no-progress", *sets]) == 0
    _, got = _leaves(work, total)
    assert len(got) == len(ref_leaves)
    for u, v in zip(got, ref_leaves):
        np.testing.assert_array_equal(u, v)

    # the CLI on the trained run: truncated samples, a style-mixing grid, W interpolation, bad values
    out = tmp_path / "s.png"
    assert main(["sample", "--workdir", str(ref), "--num", "4", "--out", str(out), "--truncation", "0.5"]) == 0 and out.is_file()
    assert main(["mix", "--workdir", str(ref), "--out", str(tmp_path / "m.png"), "--rows", "2", "--cols", "3", "--layers", "0-3"]) == 0
    assert main(["interpolate", "--workdir", str(ref), "--out", str(tmp_path / "i.png"), "--space", "w", "--pairs", "2", "--steps", "3"]) == 0
    capsys.readouterr()
    for argv, message in [
        (["sample", "--workdir", str(ref), "--num", "4", "--out", str(out), "--truncation", "1.5"], "truncation psi must be in [0, 1]"),
        (["mix", "--workdir", str(ref), "--out", str(tmp_path / "m.png"), "--layers", "3-99"], "style layers must satisfy"),
        (["mix", "--workdir", str(ref), "--out", str(tmp_path / "m.png"), "--layers", "x"], "--layers must look like A-B"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_truncation_rules_for_w_and_z_generators():
    import dataclasses

    from gan_jax.engine import Recipe
    from gan_jax.sampling import check_truncation, fixed_latents

    plain = Recipe(name="dcgan", phases=(), latent_dim=16)
    big = dataclasses.replace(plain, name="biggan", truncation="z")
    style = dataclasses.replace(plain, name="stylegan2", truncation="w")
    z = np.asarray(fixed_latents(big, 500, 0, truncation=0.5))
    assert np.abs(z).max() <= 1.0 + 1e-6 and z.std() > 0.2  # 0.5 x N(0, 1) truncated to [-2, 2]
    np.testing.assert_array_equal(fixed_latents(style, 4, 0, truncation=0.5), fixed_latents(style, 4, 0))  # W truncation is G's
    check_truncation(style, 0.0)
    check_truncation(big, 1.0)
    for recipe, psi, message in [(plain, 0.5, "truncation is defined for StyleGAN2"), (style, 1.5, "must be in [0, 1]"),
                                 (big, 0.0, "must be in (0, 1]"), (style, -0.1, "must be in [0, 1]")]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
            check_truncation(recipe, psi)
