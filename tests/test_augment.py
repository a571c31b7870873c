import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.augment import AUGMENT_POLICIES, diff_augment

ALL = ("color", "translation", "cutout", "flip")
# one batch shape everywhere: eager JAX compiles each primitive once per shape, so sharing it
# keeps this file fast
N, S, C = 32, 16, 3


def _images(n=N, size=S, c=C, seed=0):
    return jax.random.uniform(jax.random.key(seed), (n, size, size, c), minval=-1.0, maxval=1.0)


def _shift(im, dy, dx):
    """Reference translation: out[i, j] = im[i + dy, j + dx], zero outside."""
    out = np.zeros_like(im)
    h, w = im.shape[:2]
    for i in range(h):
        for j in range(w):
            if 0 <= i + dy < h and 0 <= j + dx < w:
                out[i, j] = im[i + dy, j + dx]
    return out


def test_policies_shapes_and_identity():
    assert set(AUGMENT_POLICIES) == set(ALL)
    x = _images()
    assert diff_augment(x, jax.random.key(1), ()) is x
    for policy in [(p,) for p in ALL]:
        y = diff_augment(x, jax.random.key(1), policy)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert not np.array_equal(np.asarray(y), np.asarray(x)), policy
    assert diff_augment(x.astype(jnp.bfloat16), jax.random.key(1), ALL).dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        diff_augment(x, jax.random.key(1), ("color", "rotate"))


def test_translation_shifts_by_at_most_an_eighth_with_zero_fill():
    x = np.asarray(_images()) + 2.0  # no zeros in the input
    y = np.asarray(diff_augment(jnp.asarray(x), jax.random.key(3), ("translation",)))
    shifts = []
    for xi, yi in zip(x, y):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if np.array_equal(_shift(xi, dy, dx), yi)]
        assert len(found) == 1  # 16 / 8 = 2 pixels at most, in each direction
        shifts.append(found[0])
    dys, dxs = zip(*shifts)
    assert {min(dys), max(dys), min(dxs), max(dxs)} == {-2, 2}  # both extremes drawn in 32 examples
    assert len(set(shifts)) > 5  # per-example randomness


def test_cutout_zeroes_one_half_size_square_clipped_at_borders():
    x = jnp.ones((N, S, S, C))
    y = np.asarray(diff_augment(x, jax.random.key(5), ("cutout",)))
    assert (y == y[..., :1]).all()  # the same square in every channel
    full = 0
    for yi in y[..., 0]:
        rows, cols = np.nonzero(yi == 0)
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert (r1 - r0) * (c1 - c0) == len(rows)  # one axis-aligned rectangle
        assert 4 <= r1 - r0 <= 8 and 4 <= c1 - c0 <= 8  # the reference keeps >= half the square inside
        assert r1 - r0 == 8 or r0 == 0 or r1 == S  # shorter only where clipped by the border
        assert c1 - c0 == 8 or c0 == 0 or c1 == S
        full += (r1 - r0, c1 - c0) == (8, 8)
    assert full > 2  # fully inside for o in [4, 12] per axis: about (9/17)^2 = 28 % of examples
    assert set(np.unique(y)) == {0.0, 1.0}


def test_color_on_constant_images_is_a_brightness_offset():
    # saturation and contrast pivot on the per-example mean, so they leave flat images alone
    x = jnp.full((N, S, S, C), 0.25)
    y = np.asarray(diff_augment(x, jax.random.key(7), ("color",)))
    offsets = y[:, 0, 0, 0] - 0.25
    np.testing.assert_allclose(y, np.broadcast_to(y[:, :1, :1, :1], y.shape), atol=1e-6)
    assert offsets.min() >= -0.5 and offsets.max() < 0.5 and offsets.std() > 0.2


def test_color_saturation_and_contrast_scale_deviations():
    x = _images()
    y = np.asarray(diff_augment(x, jax.random.key(8), ("color",)))
    # contrast factor in [0.5, 1.5) and saturation factor in [0, 2): spread changes per example
    ratio = y.std(axis=(1, 2, 3)) / np.asarray(x).std(axis=(1, 2, 3))
    assert ratio.min() < 0.6 and ratio.max() > 1.3


def test_flip_is_horizontal_and_per_example():
    x = np.asarray(_images())
    y = np.asarray(diff_augment(jnp.asarray(x), jax.random.key(9), ("flip",)))
    same = [np.array_equal(a, b) for a, b in zip(x, y)]
    flipped = [np.array_equal(a[:, ::-1], b) for a, b in zip(x, y)]
    assert all(s or f for s, f in zip(same, flipped))
    assert 6 < sum(flipped) < 26


def test_gradients_flow_jit_and_rng_determinism():
    x = _images()
    w = jax.random.normal(jax.random.key(2), x.shape)
    loss_and_grad = jax.jit(jax.value_and_grad(lambda x, k: jnp.sum(diff_augment(x, k, ALL) * w)))
    value, g = loss_and_grad(x, jax.random.key(4))
    assert np.isfinite(np.asarray(g)).all() and float(jnp.abs(g).sum()) > 0
    assert float(value) == pytest.approx(float(loss_and_grad(x, jax.random.key(4))[0]))
    assert float(value) != pytest.approx(float(loss_and_grad(x, jax.random.key(5))[0]))
    # translation's gradient is the inverse shift: the pixels that stayed in view, each counted once
    ones = jnp.ones((N, S, S, C))
    out, vjp = jax.vjp(lambda x: diff_augment(x, jax.random.key(6), ("translation",)), ones)
    assert float(vjp(jnp.ones_like(out))[0].sum()) == float(out.sum()) < ones.size
