"""Discriminator penalties in closed form: linear and quadratic critics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.regularizers import Penalty, gradient_penalty, r1_penalty


def linear_critic(w):
    """D(x) = w . flatten(x): the input gradient is w everywhere, so ||grad D|| = ||w||."""
    return lambda x: x.reshape((x.shape[0], -1)) @ w.reshape(-1)


def quadratic_critic(a):
    """D(x) = a/2 ||x||^2 per example: grad D(x) = a x."""
    return lambda x: 0.5 * a * jnp.sum(x.reshape((x.shape[0], -1)) ** 2, axis=1)


def batches(shape, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return jax.random.normal(k1, shape), 3.0 * jax.random.normal(k2, shape) + 1.0


# ----------------------------------------------------------------------------- gradient penalty


@pytest.mark.parametrize("scale", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("shape", [(8, 5), (4, 6, 6, 2)])
def test_gradient_penalty_linear_critic_closed_form(scale, shape):
    dim = int(np.prod(shape[1:]))
    w = scale * jax.random.normal(jax.random.PRNGKey(1), (dim,))
    w = w if scale == 0.0 else w / jnp.linalg.norm(w) * scale  # ||w|| == scale
    real, fake = batches(shape)
    norm = float(np.linalg.norm(np.asarray(w, np.float64)))
    for seed in range(3):  # any interpolates give the same value
        gp = gradient_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(seed))
        np.testing.assert_allclose(float(gp), (norm - 1.0) ** 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0, 1.7, 3.0])
def test_gradient_penalty_one_sided(scale):
    w = jnp.full((4,), scale / 2.0)  # ||w|| == scale
    real, fake = batches((6, 4))
    gp = gradient_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0), one_sided=True)
    np.testing.assert_allclose(float(gp), max(0.0, scale - 1.0) ** 2, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_target():
    w = jnp.array([3.0, 4.0])  # ||w|| = 5
    real, fake = batches((5, 2))
    gp = gradient_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0), target=2.0)
    np.testing.assert_allclose(float(gp), 9.0, rtol=1e-6)


def test_gradient_penalty_uses_interpolates():
    # D(x) = a/2 ||x||^2: ||grad D(x_hat)|| = a ||x_hat||; with real == fake the interpolate is that point
    x = jnp.array([[3.0, 4.0], [0.0, 1.0]])
    gp = gradient_penalty(d_fn=quadratic_critic(2.0), real=x, fake=x, rng=jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(gp), np.mean([(10.0 - 1.0) ** 2, (2.0 - 1.0) ** 2]), rtol=1e-6)
    # interpolates lie on the segment: real=0, fake=x gives norm (1-eps)*a*||x|| with eps in [0, 1)
    eps = jax.random.uniform(jax.random.PRNGKey(0), (2, 1))
    expected = np.mean((np.asarray(1.0 - eps[:, 0]) * 2.0 * np.array([5.0, 1.0]) - 1.0) ** 2)
    gp = gradient_penalty(d_fn=quadratic_critic(2.0), real=jnp.zeros_like(x), fake=x, rng=jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(gp), expected, rtol=1e-5)


def test_gradient_penalty_param_gradient_closed_form():
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    w = jnp.array([1.0, 2.0, 2.0])  # ||w|| = 3
    real, fake = batches((4, 3))
    g = jax.grad(lambda w: gradient_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0)))(w)
    np.testing.assert_allclose(np.asarray(g), 2.0 * 2.0 * np.asarray(w) / 3.0, rtol=1e-5)


@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_param_gradient_finite_at_zero_weights(one_sided):
    """A flat critic (w = 0) has zero input gradients; sqrt'(0) = inf must not leak into a NaN."""
    w = jnp.zeros((5,))
    real, fake = batches((4, 5))

    def gp(w):
        return gradient_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0), one_sided=one_sided)

    value, g = jax.value_and_grad(gp)(w)
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_allclose(float(value), 0.0 if one_sided else 1.0, atol=1e-5)
    # also under jit and for a critic with a bias (the bias has zero input gradient too)
    g = jax.jit(jax.grad(gp))(w)
    assert np.all(np.isfinite(np.asarray(g)))


def test_gradient_penalty_zero_weights_mlp_finite():
    """Same for a tiny Flax critic with all-zero parameters."""
    import flax.linen as nn

    class Tiny(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1)(nn.tanh(nn.Dense(4)(x)))[:, 0]

    model = Tiny()
    real, fake = batches((6, 3))
    params = jax.tree.map(jnp.zeros_like, model.init(jax.random.PRNGKey(0), real)["params"])

    def loss(p):
        return gradient_penalty(d_fn=lambda x: model.apply({"params": p}, x), real=real, fake=fake, rng=jax.random.PRNGKey(0))

    value, grads = jax.value_and_grad(loss)(params)
    assert np.isfinite(float(value))
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.isfinite(np.asarray(leaf)))


# ----------------------------------------------------------------------------- R1


@pytest.mark.parametrize("a", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("shape", [(7, 3), (3, 4, 4, 2)])
def test_r1_quadratic_closed_form(a, shape):
    real, fake = batches(shape)
    value = r1_penalty(d_fn=quadratic_critic(a), real=real, fake=fake, rng=jax.random.PRNGKey(0))
    r = np.asarray(real, np.float64).reshape(shape[0], -1)
    expected = a**2 * np.mean(np.sum(r**2, axis=1))
    np.testing.assert_allclose(float(value), expected, rtol=1e-5, atol=1e-7)


def test_r1_ignores_fake_and_rng():
    real, fake = batches((5, 3))
    d = quadratic_critic(1.5)
    v1 = r1_penalty(d_fn=d, real=real, fake=fake, rng=jax.random.PRNGKey(0))
    v2 = r1_penalty(d_fn=d, real=real, fake=fake * 10.0, rng=jax.random.PRNGKey(7))
    assert float(v1) == float(v2)


def test_r1_linear_critic_and_param_gradient():
    w = jnp.array([1.0, -2.0, 2.0])
    real, fake = batches((4, 3))
    v, g = jax.value_and_grad(lambda w: r1_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0)))(w)
    np.testing.assert_allclose(float(v), 9.0, rtol=1e-6)  # ||w||^2
    np.testing.assert_allclose(np.asarray(g), 2.0 * np.asarray(w), rtol=1e-6)  # d/dw ||w||^2
    g0 = jax.grad(lambda w: r1_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0)))(jnp.zeros(3))
    np.testing.assert_array_equal(np.asarray(g0), 0.0)


# ----------------------------------------------------------------------------- Penalty hook


def _gp_penalty(weight, every):
    return Penalty(name="gp", fn=gradient_penalty, weight=weight, every=every)


def test_penalty_eager_weight():
    w = jnp.array([3.0, 4.0])  # GP = 16
    real, fake = batches((4, 2))
    p = _gp_penalty(10.0, 1)
    v = p(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(v), 160.0, rtol=1e-5)


def test_lazy_penalty_value_is_weighted_not_scaled():
    """A lazy Penalty returns weight * fn like an eager one: ``every`` only routes it into the
    classic recipe's Dreg phase, whose loss the engine multiplies by ``every`` (tests/test_engine.py)."""
    w = jnp.array([3.0, 4.0])  # ||w|| = 5, GP = 16
    real, fake = batches((4, 2))
    lazy = jax.jit(lambda w: _gp_penalty(10.0, 4)(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0)))
    np.testing.assert_allclose(float(lazy(w)), 10.0 * 16.0, rtol=1e-5)
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
    np.testing.assert_allclose(np.asarray(jax.grad(lazy)(w)), 20.0 * 4.0 * np.asarray(w) / 5.0, rtol=1e-5)
    p = Penalty(name="r1", fn=r1_penalty, weight=0.5, every=16)
    d = quadratic_critic(2.0)
    expected = 0.5 * 4.0 * np.mean(np.sum(np.asarray(real, np.float64) ** 2, axis=1))
    np.testing.assert_allclose(float(p(d_fn=d, real=real, fake=fake, rng=jax.random.PRNGKey(0))), expected, rtol=1e-5)


def test_penalty_every_must_be_positive():
    with pytest.raises(ValueError, match="every"):
        _gp_penalty(1.0, 0)


# ----------------------------------------------------------------------------- R2, DRAGAN


from gan_jax.regularizers import (  # noqa: E402
    annealed_std,
    clip_weights,
    dragan_penalty,
    historical_averaging_penalty,
    instance_noise,
    one_sided_gradient_penalty,
    orthogonal_penalty,
    r2_penalty,
    running_average,
)


@pytest.mark.parametrize("a", [0.0, 0.5, 2.0])
def test_r2_quadratic_closed_form_uses_fake(a):
    real, fake = batches((5, 2, 3))
    value = r2_penalty(d_fn=quadratic_critic(a), real=real, fake=fake, rng=jax.random.PRNGKey(0))
    f = np.asarray(fake, np.float64).reshape(5, -1)
    np.testing.assert_allclose(float(value), a**2 * np.mean(np.sum(f**2, axis=1)), rtol=1e-5, atol=1e-7)
    same = r2_penalty(d_fn=quadratic_critic(a), real=real * 7.0, fake=fake, rng=jax.random.PRNGKey(3))
    assert float(same) == float(value)


@pytest.mark.parametrize("scale", [0.0, 1.0, 2.5])
def test_dragan_linear_critic_closed_form(scale):
    w = jnp.full((4,), scale / 2.0)  # ||w|| == scale, the input gradient everywhere
    real, fake = batches((6, 4))
    v = dragan_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(1))
    assert v.shape == ()
    np.testing.assert_allclose(float(v), (scale - 1.0) ** 2, rtol=1e-5, atol=1e-6)
    g = jax.grad(lambda w: dragan_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(1)))(w)
    assert np.all(np.isfinite(np.asarray(g)))  # also at w = 0 (zero input gradient)


def test_dragan_perturbs_around_real_data():
    # D(x) = 1/2 ||x||^2: ||grad D(x_hat)|| = ||x_hat||, x_hat = x + alpha * 0.5 * std(x) * U (by hand, same keys)
    real, fake = batches((5, 3))
    rng = jax.random.PRNGKey(4)
    v = dragan_penalty(d_fn=quadratic_critic(1.0), real=real, fake=fake, rng=rng)
    k_noise, k_alpha = jax.random.split(rng)
    x = np.asarray(real, np.float64)
    noise = np.asarray(jax.random.uniform(k_noise, real.shape))
    alpha = np.asarray(jax.random.uniform(k_alpha, (5, 1)))
    x_hat = x + alpha * 0.5 * x.std() * noise
    expected = np.mean((np.linalg.norm(x_hat, axis=1) - 1.0) ** 2)
    np.testing.assert_allclose(float(v), expected, rtol=1e-5)
    # the fake batch is not used
    assert float(dragan_penalty(d_fn=quadratic_critic(1.0), real=real, fake=fake * 0.0, rng=rng)) == float(v)


def test_one_sided_gradient_penalty_function():
    w = jnp.array([0.3, 0.4])  # ||w|| = 0.5 < 1: no one-sided penalty
    real, fake = batches((4, 2))
    assert float(one_sided_gradient_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0))) == 0.0
    w = jnp.array([3.0, 4.0])
    np.testing.assert_allclose(float(one_sided_gradient_penalty(d_fn=linear_critic(w), real=real, fake=fake, rng=jax.random.PRNGKey(0))), 16.0, rtol=1e-5)


# ----------------------------------------------------------------------------- parameter-space tricks


def test_clip_weights_keeps_params_in_range():
    params = {"a": jnp.array([-5.0, -0.01, 0.0, 0.005, 0.02, 3.0]), "b": {"k": jnp.linspace(-1, 1, 12).reshape(3, 4)}}
    out = clip_weights(params, 0.01)
    for leaf in jax.tree.leaves(out):
        assert float(jnp.max(jnp.abs(leaf))) <= 0.01
    np.testing.assert_array_equal(np.asarray(out["a"]), np.array([-0.01, -0.01, 0.0, 0.005, 0.01, 0.01], np.float32))
    with pytest.raises(ValueError):
        clip_weights(params, 0.0)


def test_orthogonal_penalty():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(18, 4)))  # orthonormal columns
    params = {"conv": {"kernel": jnp.asarray(q.reshape(3, 3, 2, 4), jnp.float32), "bias": jnp.ones(4)}, "dense": {"kernel": jnp.eye(3)}}
    assert abs(float(orthogonal_penalty(params))) < 1e-10
    # only off-diagonal entries count: orthogonal but not normalised filters are free too
    assert abs(float(orthogonal_penalty({"k": 3.0 * jnp.asarray(q, jnp.float32)}))) < 1e-9
    # W = [[1, 1], [0, 1]]: W^T W = [[1, 1], [1, 2]] -> off-diagonal 1, 1 -> penalty 2
    np.testing.assert_allclose(float(orthogonal_penalty({"k": jnp.array([[1.0, 1.0], [0.0, 1.0]])})), 2.0, rtol=1e-6)
    # gradient of the sum of squares: 4 W (W^T W * (1 - I)); here W^T W * (1 - I) = [[0, 1], [1, 0]]
    w = jnp.array([[1.0, 1.0], [0.0, 1.0]])
    g = jax.grad(lambda w: orthogonal_penalty({"k": w}))(w)
    off = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(np.asarray(g), 4.0 * np.asarray(w) @ off, rtol=1e-6)


def test_historical_averaging_value_and_running_average():
    params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([[3.0]])}
    avg = {"a": jnp.array([0.0, 0.0]), "b": jnp.array([[1.0]])}
    np.testing.assert_allclose(float(historical_averaging_penalty(params, avg)), 1.0 + 4.0 + 4.0)
    g = jax.grad(historical_averaging_penalty)(params, avg)  # 2 (theta - avg); the average is a constant
    np.testing.assert_allclose(np.asarray(g["a"]), [2.0, 4.0])
    assert jax.grad(historical_averaging_penalty, argnums=1)(params, avg)["a"].tolist() == [0.0, 0.0]
    # running_average(count=t) after t values is their mean
    seq = [{"a": jnp.array([float(i), -2.0 * i])} for i in range(5)]
    mean = seq[0]
    for t, p in enumerate(seq[1:], start=2):
        mean = running_average(mean, p, t)
    np.testing.assert_allclose(np.asarray(mean["a"]), [2.0, -4.0], rtol=1e-6)


def test_instance_noise_and_annealing():
    x = jnp.zeros((3, 4))
    y = instance_noise(x, jax.random.PRNGKey(0), 0.5)
    # one key per example (split of the batch key), so the noise does not depend on the device count
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    expected = np.stack([np.asarray(jax.random.normal(k, (4,))) for k in keys])
    np.testing.assert_allclose(np.asarray(y), 0.5 * expected, rtol=1e-6)
    assert float(annealed_std(0.1, 0, jnp.asarray(10 ** 6))) == pytest.approx(0.1)
    for step, expected in [(0, 0.2), (50, 0.1), (100, 0.0), (150, 0.0)]:
        assert float(annealed_std(0.2, 100, jnp.asarray(step))) == pytest.approx(expected, abs=1e-7)


def test_lazy_and_eager_penalties_agree_for_r2_and_dragan():
    real, fake = batches((4, 3))
    for fn in (r2_penalty, dragan_penalty):
        eager = Penalty(name="p", fn=fn, weight=0.5)
        lazy = Penalty(name="p", fn=fn, weight=0.5, every=8)
        d = quadratic_critic(2.0)
        kw = dict(d_fn=d, real=real, fake=fake, rng=jax.random.PRNGKey(0))
        e = float(eager(**kw))
        assert e > 0
        np.testing.assert_allclose(float(lazy(**kw)), e, rtol=1e-6)
