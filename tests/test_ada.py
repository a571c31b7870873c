import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import ada

# one batch shape and one jitted program for most tests: every preset and single op side by side
# (XLA's CPU compile dominates this file's runtime; one program compiles once and shares the PRNG)
N, S, C = 64, 8, 3
SINGLE = ("xflip", "rotate90", "xint", "rotate", "brightness")  # noise, cutout: presets of their own
#: XLA options for this file's compiles: no LLVM optimization (a third of the compile time on CPU;
#: the same programs, as in tests/test_steps.py)
FAST = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
fast_jit = functools.partial(jax.jit, compiler_options=FAST)


@fast_jit
def _all(x, x1, p, key):
    out = {name: ada.augment(x, p, key, pipeline=name) for name in ada.PIPELINES}
    out.update({op: ada.augment(x, p, key, pipeline=(op,)) for op in SINGLE})
    out["color1"] = ada.augment(x1, p, key, pipeline="color")  # one channel: the luma branch
    return out


def aug(x, p, key, pipeline):
    """``ada.augment`` through the shared program (``x`` of the shared shape)."""
    name = pipeline if isinstance(pipeline, str) else pipeline[0]
    return _all(x, _images(c=1), jnp.float32(p), key)[name]


def _images(n=N, size=S, c=C, seed=0):
    # numpy, not jax.random: an eager threefry compiles for seconds on CPU
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, c)).astype(np.float32))


def _reflect(i, n):
    m = np.mod(i, 2 * (n - 1))
    return np.where(m < n, m, 2 * (n - 1) - m)


def test_p0_is_the_identity_bit_for_bit_for_every_preset():
    x, x1 = np.asarray(_images()).copy(), np.asarray(_images(c=1)).copy()
    x[:, 0, 0, 0] = x1[:, 0, 0, 0] = -0.0  # -0.0 survives too
    zero, one = (_all(x, x1, jnp.float32(p), jax.random.key(1)) for p in (0.0, 1.0))
    for name in zero:
        ref = x1 if name == "color1" else x
        assert zero[name].dtype == x.dtype, name
        assert np.array_equal(np.asarray(zero[name]).view(np.uint32), ref.view(np.uint32)), name
        assert not np.array_equal(np.asarray(one[name]), ref), name


def test_presets_and_unknown_names():
    assert ada.PIPELINES["bgc"] == ada.PIPELINES["blit"] + ada.PIPELINES["geom"] + ada.PIPELINES["color"]
    assert ada.PIPELINES["bgcc"] == ada.PIPELINES["bgc"] + ("cutout",)
    assert set(ada.PIPELINES["bgcfnc"]) == set(ada.OPS)
    with pytest.raises(ValueError, match=r"unknown ADA pipeline 'bgx'; choose from \[.*'bgc'.*\]") as err:
        ada.augment(np.zeros((2, S, S, C), np.float32), 0.5, jax.random.key(0), pipeline="bgx")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown ADA ops"):
        ada.augment(np.zeros((2, S, S, C), np.float32), 0.5, jax.random.key(0), pipeline=("xflip", "shear"))


def test_xflip_flips_about_half_exactly():
    x = np.asarray(_images())
    y = np.asarray(aug(jnp.asarray(x), 1.0, jax.random.key(2), pipeline=("xflip",)))
    flipped = np.array([np.array_equal(b, a[:, ::-1]) for a, b in zip(x, y)])
    same = np.array([np.array_equal(a, b) for a, b in zip(x, y)])
    assert (flipped | same).all() and not (flipped & same).any()
    assert 0.3 < flipped.mean() < 0.7  # the flip bit is 1/2 once the op fires (p = 1)


def test_rotate90_and_integer_translation_are_exact_pixel_maps():
    x = np.asarray(_images())
    y = np.asarray(aug(jnp.asarray(x), 1.0, jax.random.key(3), pipeline=("rotate90",)))
    ks = []
    for a, b in zip(x, y):
        np.testing.assert_array_equal(np.sort(a, axis=None), np.sort(b, axis=None))  # a permutation
        found = [k for k in range(4) if np.array_equal(np.rot90(a, k, axes=(0, 1)), b)]
        assert len(found) == 1
        ks += found
    assert set(ks) == {0, 1, 2, 3}

    # xint: out[i, j] = x[i - ty, j - tx] with reflect fill, |t| <= round(0.125 * 8) = 1 pixel
    y = np.asarray(aug(jnp.asarray(x), 1.0, jax.random.key(4), pipeline=("xint",)))
    rows, cols = np.arange(S)[:, None], np.arange(S)[None, :]
    shifts = []
    for a, b in zip(x, y):
        found = [(ty, tx) for ty in (-1, 0, 1) for tx in (-1, 0, 1)
                 if np.array_equal(a[_reflect(rows - ty, S), _reflect(cols - tx, S)], b)]
        assert len(found) == 1
        shifts += found
    assert len(set(shifts)) == 9  # every shift drawn in 64 images


def test_blit_output_values_come_from_the_input():
    x = np.asarray(_images())
    y = np.asarray(aug(jnp.asarray(x), 1.0, jax.random.key(5), pipeline="blit"))
    assert all(np.isin(b, a).all() for a, b in zip(x, y))


def test_rotation_fires_with_probability_p_over_pre_and_post():
    # p_rot = 1 - sqrt(1 - p) for each of the two rotations: P(image rotated) = p
    x = _images()
    y = aug(x, 0.5, jax.random.key(6), pipeline=("rotate",))
    changed = np.asarray(jnp.any(y != x, axis=(1, 2, 3)))
    assert 0.3 < changed.mean() < 0.7


@fast_jit
def _color_cases(x):
    """Hand-checkable color matrices (one jitted call: eager ops would each compile)."""
    # cases 0-4: brightness + contrast, lumaflip, hue 120 degrees, saturation 0, everything (for one channel)
    m = ada.color_matrix(jnp.asarray([0.1, 0, 0, 0, 0.3]), jnp.asarray([2.0, 1, 1, 1, 1]),
                         jnp.asarray([0.0, 1, 0, 0, 1]), jnp.asarray([0, 0, 2 * np.pi / 3, 0, 1]),
                         jnp.asarray([1.0, 1, 1, 0, 0.2]))
    per_image = lambda c: jnp.broadcast_to(c, (x.shape[0], 4, 4))
    return m, ada.apply_color(x, per_image(m[3])), ada.apply_color(x[..., :1], per_image(m[4]))


def test_color_matrix_by_hand():
    x = _images()
    m, gray, luma = (np.asarray(v) for v in _color_cases(x))
    # brightness first, then contrast: 2 * (x + 0.1)
    np.testing.assert_allclose(m[0], [[2, 0, 0, 0.2], [0, 2, 0, 0.2], [0, 0, 2, 0.2], [0, 0, 0, 1]], atol=1e-6)
    expect = np.eye(4)
    expect[:3, :3] -= 2 / 3  # lumaflip: Householder reflection about the plane orthogonal to the gray axis
    np.testing.assert_allclose(m[1], expect, atol=1e-6)
    # 120 degrees of hue around the gray axis permutes the channels cyclically (r -> g -> b -> r)
    np.testing.assert_allclose(m[2], [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], atol=1e-6)
    # saturation 0 projects onto the gray axis: every channel becomes the channel mean
    np.testing.assert_allclose(gray, np.broadcast_to(np.asarray(x).mean(-1, keepdims=True), x.shape), atol=1e-6)
    # one channel: the luma part only (lumaflip negates, brightness adds, hue / saturation vanish)
    np.testing.assert_allclose(luma, -(np.asarray(x)[..., :1] + 0.3), atol=1e-6)


def test_brightness_is_one_additive_offset_per_image():
    x = _images()
    y = np.asarray(aug(x, 1.0, jax.random.key(7), pipeline=("brightness",)))
    d = y - np.asarray(x)
    np.testing.assert_allclose(d, np.broadcast_to(d[:, :1, :1, :1], d.shape), atol=1e-6)
    assert 0.1 < d[:, 0, 0, 0].std() < 0.3  # brightness_std 0.2


def test_color_on_one_channel_is_affine_per_image():
    x = _images(c=1)
    y = np.asarray(aug(_images(), 1.0, jax.random.key(8), pipeline="color1"))
    for a, b in zip(np.asarray(x).reshape(N, -1), y.reshape(N, -1)):
        coef = np.polyfit(a, b, 1)
        np.testing.assert_allclose(np.polyval(coef, a), b, atol=1e-5)


def test_noise_and_cutout():
    x = _images()
    y = np.asarray(aug(x, 1.0, jax.random.key(9), pipeline="cutout"))
    zeroed = (y == 0).all(-1)
    assert ((y == np.asarray(x)) | (y == 0)).all() and zeroed.any(axis=(1, 2)).all()
    assert zeroed.sum(axis=(1, 2)).max() == 16  # a 4x4 square when fully inside (cutout_size 0.5)
    y = np.asarray(aug(x, 1.0, jax.random.key(9), pipeline="noise"))
    sigma = (y - np.asarray(x)).std(axis=(1, 2, 3))
    assert 0.03 < sigma.mean() < 0.13 and sigma.max() < 0.5  # E|N(0, 0.1)| = 0.08


def test_determinism_and_gradients():
    x = _images()
    k = jax.random.key(10)
    a = np.asarray(aug(x, 0.5, k, pipeline="bgcfnc"))
    np.testing.assert_array_equal(a, np.asarray(aug(x, 0.5, k, pipeline="bgcfnc")))
    assert not np.array_equal(a, np.asarray(aug(x, 0.5, jax.random.key(11), pipeline="bgcfnc")))
    assert np.isfinite(a).all()

    w = jnp.asarray(np.random.default_rng(12).normal(size=x.shape).astype(np.float32))
    grad = fast_jit(jax.grad(lambda x, p: jnp.sum(ada.augment(x, p, k, pipeline="bgcfnc") * w)))
    g = np.asarray(grad(x, jnp.float32(0.5)))
    assert np.isfinite(g).all() and np.abs(g).sum() > 0
    np.testing.assert_array_equal(np.asarray(grad(x, jnp.float32(0.0))), np.asarray(w))  # identity at p = 0


def test_device_split_augments_like_the_global_batch():
    # vmap with an axis name stands in for pmap: example_keys gives each slice its global keys
    x, k, p = _images(), jax.random.key(13), jnp.float32(0.7)
    whole = aug(x, p, k, pipeline="bgcfnc")
    local = functools.partial(ada.augment, p=p, key=k, pipeline="bgcfnc", axis_name="d")
    split = fast_jit(jax.vmap(local, axis_name="d"))
    parts = split(x.reshape(4, N // 4, S, S, C)).reshape(x.shape)
    # the same draws; the two compiles may order float ops differently (~1 ulp)
    np.testing.assert_allclose(np.asarray(parts), np.asarray(whole), rtol=0, atol=1e-5)


def test_adjust_p():
    step = 64 * 4 / 500_000
    assert float(ada.adjust_p(0.1, 0.7, batch_size=64)) == pytest.approx(0.1 + step, rel=1e-6)
    assert float(ada.adjust_p(0.1, 0.2, batch_size=64)) == pytest.approx(0.1 - step, rel=1e-6)
    assert float(ada.adjust_p(0.1, 0.6, batch_size=64)) == pytest.approx(0.1)  # at the target: unchanged
    assert float(ada.adjust_p(1e-4, 0.0, batch_size=64)) == 0.0  # clamped at 0
    assert float(ada.adjust_p(1.0, 1.0, batch_size=64)) > 1.0  # not clamped above, as the reference
    traced = jax.jit(lambda p, r: ada.adjust_p(p, r, batch_size=32, interval=2, target=0.5, speed_kimg=100.0))
    assert float(traced(jnp.float32(0.3), jnp.float32(0.9))) == pytest.approx(0.3 + 64 / 100_000, rel=1e-6)
