"""Every loss in ``gan_jax.losses`` against hand-computed values (float64 NumPy references)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses

LOG2 = math.log(2.0)

REAL = np.array([-2.0, -0.5, 0.0, 0.3, 1.5, 4.0], np.float32)
FAKE = np.array([-3.0, -1.0, 0.0, 0.25, 0.7, 2.5], np.float32)


def sp(x):
    """Stable float64 softplus, log(1 + e^x)."""
    return np.logaddexp(0.0, np.asarray(x, np.float64))


def relu(x):
    return np.maximum(np.asarray(x, np.float64), 0.0)


def f64(x):
    return np.asarray(x, np.float64)


def close(a, b, rtol=1e-6, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=rtol, atol=atol)


def g_loss(loss, fake_logits, real_logits):
    """The generator loss of any registered loss (relativistic ones also see the real logits)."""
    if loss.relativistic:
        return loss.g(fake_logits=fake_logits, real_logits=real_logits)
    return loss.g(fake_logits=fake_logits)


# ----------------------------------------------------------------------------- values


def test_minimax_d_values():
    r, f = losses.minimax_d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
    close(r, np.mean(sp(-f64(REAL))))
    close(f, np.mean(sp(f64(FAKE))))
    # -log D(x) - log(1 - D(G(z))) with an explicit sigmoid, where it is numerically safe
    sig = lambda x: 1.0 / (1.0 + np.exp(-f64(x)))
    close(r, np.mean(-np.log(sig(REAL))))
    close(f, np.mean(-np.log(1.0 - sig(FAKE))))


def test_minimax_d_at_zero_is_log2():
    r, f = losses.minimax_d(real_logits=jnp.zeros(5), fake_logits=jnp.zeros(5))
    close(r, LOG2)
    close(f, LOG2)


def test_minimax_g_values():
    g = losses.minimax_g(fake_logits=jnp.asarray(FAKE))
    close(g, -np.mean(sp(f64(FAKE))))
    close(losses.minimax_g(fake_logits=jnp.zeros(3)), -LOG2)


def test_nonsaturating_g_values():
    g = losses.nonsaturating_g(fake_logits=jnp.asarray(FAKE))
    close(g, np.mean(sp(-f64(FAKE))))
    close(losses.nonsaturating_g(fake_logits=jnp.zeros(3)), LOG2)


def test_wasserstein_values():
    r, f = losses.wasserstein_d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
    close(r, -np.mean(f64(REAL)))
    close(f, np.mean(f64(FAKE)))
    close(losses.wasserstein_g(fake_logits=jnp.asarray(FAKE)), -np.mean(f64(FAKE)))


def test_hinge_values():
    r, f = losses.hinge_d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
    close(r, np.mean(relu(1.0 - f64(REAL))))
    close(f, np.mean(relu(1.0 + f64(FAKE))))
    close(losses.hinge_g(fake_logits=jnp.asarray(FAKE)), -np.mean(f64(FAKE)))
    # hand values: margins satisfied -> exactly zero
    r, f = losses.hinge_d(real_logits=jnp.array([1.0, 2.0]), fake_logits=jnp.array([-1.0, -5.0]))
    assert float(r) == 0.0 and float(f) == 0.0
    r, f = losses.hinge_d(real_logits=jnp.array([0.0, -1.0]), fake_logits=jnp.array([0.0, 1.0]))
    close(r, 1.5)  # mean(1, 2)
    close(f, 1.5)


def test_least_squares_values():
    r, f = losses.least_squares_d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
    close(r, 0.5 * np.mean((f64(REAL) - 1.0) ** 2))
    close(f, 0.5 * np.mean(f64(FAKE) ** 2))
    close(losses.least_squares_g(fake_logits=jnp.asarray(FAKE)), 0.5 * np.mean((f64(FAKE) - 1.0) ** 2))
    # hand values
    r, f = losses.least_squares_d(real_logits=jnp.array([1.0, 3.0]), fake_logits=jnp.array([0.0, 2.0]))
    close(r, 1.0)  # 0.5 * mean(0, 4)
    close(f, 1.0)  # 0.5 * mean(0, 4)
    close(losses.least_squares_g(fake_logits=jnp.array([1.0, -1.0])), 1.0)


def test_losses_accept_any_shape():
    r2 = jnp.asarray(REAL).reshape(2, 3)
    f2 = jnp.asarray(FAKE).reshape(3, 2)
    for name, loss in losses.LOSSES.items():
        a = loss.d(real_logits=r2, fake_logits=f2)
        b = loss.d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
        close(a[0], b[0])
        close(a[1], b[1])
        close(g_loss(loss, f2, r2), g_loss(loss, jnp.asarray(FAKE), jnp.asarray(REAL)))
        assert jnp.shape(a[0]) == jnp.shape(a[1]) == jnp.shape(g_loss(loss, f2, r2)) == (), name


# ----------------------------------------------------------------------------- extreme logits


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_cross_entropy_extreme_logits_exact(big):
    # D confidently right: real -> +big, fake -> -big: loss ~ softplus(-big) ~ e^-big, tiny but finite
    r, f = losses.minimax_d(real_logits=jnp.array([big]), fake_logits=jnp.array([-big]))
    for v in (r, f):
        assert np.isfinite(float(v))
        assert 0.0 <= float(v) <= 4e-44  # softplus(-100) = 3.72e-44 (may flush to 0 in float32)
    # D confidently wrong: real -> -big, fake -> +big: loss == softplus(big) == big exactly
    r, f = losses.minimax_d(real_logits=jnp.array([-big]), fake_logits=jnp.array([big]))
    assert float(r) == big
    assert float(f) == big
    # generator losses
    assert float(losses.nonsaturating_g(fake_logits=jnp.array([-big]))) == big
    assert 0.0 <= float(losses.nonsaturating_g(fake_logits=jnp.array([big]))) <= 4e-44
    assert float(losses.minimax_g(fake_logits=jnp.array([big]))) == -big
    assert -4e-44 <= float(losses.minimax_g(fake_logits=jnp.array([-big]))) <= 0.0


def test_softplus_minus_100_value():
    # 3.7200759760208356e-44 is subnormal in float32; accept it or a flush to zero, nothing else
    r, _ = losses.minimax_d(real_logits=jnp.array([100.0]), fake_logits=jnp.array([0.0]))
    assert float(r) == pytest.approx(3.7200759760208356e-44, abs=2e-45) or float(r) == 0.0


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_all_losses_finite_at_extremes(big):
    logits = jnp.array([-big, -1.0, 0.0, 1.0, big])
    for name, loss in losses.LOSSES.items():
        r, f = loss.d(real_logits=logits, fake_logits=logits[::-1])
        g = g_loss(loss, logits, logits[::-1])
        assert np.isfinite(float(r)) and np.isfinite(float(f)) and np.isfinite(float(g)), name


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_gradients_finite_at_extremes(big):
    logits = jnp.array([-big, -1.0, 0.0, 1.0, big])
    for name, loss in losses.LOSSES.items():
        kw = {"label_smoothing": 0.1} if loss.smoothable else {}
        gd_r, gd_f = jax.grad(lambda r, f: sum(loss.d(real_logits=r, fake_logits=f, **kw)), argnums=(0, 1))(logits, logits)
        gg = jax.grad(lambda f: g_loss(loss, f, logits[::-1]))(logits)
        for arr in (gd_r, gd_f, gg):
            assert np.all(np.isfinite(np.asarray(arr))), name


def test_cross_entropy_gradients_at_extremes_exact():
    n = 4
    big = 1e4
    # non-saturating G loss does not saturate: d/dx softplus(-x) = -sigmoid(-x) -> -1 as x -> -inf
    g = jax.grad(lambda f: losses.nonsaturating_g(fake_logits=f))(jnp.full((n,), -big))
    close(g, np.full(n, -1.0 / n))
    # the saturating one does: d/dx -softplus(x) = -sigmoid(x) -> 0 as x -> -inf
    g = jax.grad(lambda f: losses.minimax_g(fake_logits=f))(jnp.full((n,), -big))
    close(g, np.zeros(n), atol=1e-30)
    # D loss gradients: real term -sigmoid(-x)/n, fake term sigmoid(x)/n
    gr = jax.grad(lambda r: losses.minimax_d(real_logits=r, fake_logits=jnp.zeros(n))[0])(jnp.full((n,), -big))
    close(gr, np.full(n, -1.0 / n))
    gf = jax.grad(lambda f: losses.minimax_d(real_logits=jnp.zeros(n), fake_logits=f)[1])(jnp.full((n,), big))
    close(gf, np.full(n, 1.0 / n))


# ----------------------------------------------------------------------------- label smoothing


@pytest.mark.parametrize("s", [0.0, 0.1, 0.25, 0.9])
def test_label_smoothing_values(s):
    r, f = losses.minimax_d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE), label_smoothing=s)
    t = 1.0 - s
    close(r, np.mean(t * sp(-f64(REAL)) + (1 - t) * sp(f64(REAL))))
    # the fake term does not depend on the smoothing (one-sided)
    _, f0 = losses.minimax_d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
    assert float(f) == float(f0)


@pytest.mark.parametrize("s", [0.0, 0.1, 0.3])
def test_label_smoothing_at_logit_zero_is_log2(s):
    r, f = losses.minimax_d(real_logits=jnp.zeros(4), fake_logits=jnp.zeros(4), label_smoothing=s)
    close(r, LOG2)
    close(f, LOG2)


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_label_smoothing_at_large_logits(big):
    s = 0.1
    # real logit +big: (1-s) softplus(-big) + s softplus(big) = s * big (up to e^-big)
    r, f = losses.minimax_d(real_logits=jnp.array([big]), fake_logits=jnp.array([-big]), label_smoothing=s)
    close(r, s * big, rtol=1e-6, atol=0)
    assert 0.0 <= float(f) <= 4e-44  # fake term unchanged
    # real logit -big: (1-s) * big
    r, _ = losses.minimax_d(real_logits=jnp.array([-big]), fake_logits=jnp.array([0.0]), label_smoothing=s)
    close(r, (1 - s) * big, rtol=1e-6, atol=0)
    # the smoothed loss is minimised at logit log((1-s)/s), not at +inf
    x = jnp.linspace(-5.0, 5.0, 10001)
    vals = jax.vmap(lambda v: losses.minimax_d(real_logits=v[None], fake_logits=jnp.zeros(1), label_smoothing=s)[0])(x)
    assert float(x[jnp.argmin(vals)]) == pytest.approx(math.log((1 - s) / s), abs=2e-3)


@pytest.mark.parametrize("s", [-0.1, 1.0, 1.5])
def test_invalid_label_smoothing_raises(s):
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.minimax_d(real_logits=jnp.zeros(2), fake_logits=jnp.zeros(2), label_smoothing=s)


# ----------------------------------------------------------------------------- registry


def test_registry_pairs():
    assert set(losses.LOSSES) == {
        "minimax", "nonsaturating", "wasserstein", "hinge", "least_squares", "relativistic_avg", "relativistic_avg_ls"
    }
    assert losses.get_loss("minimax") == (losses.minimax_d, losses.minimax_g, True, False)
    assert losses.get_loss("nonsaturating") == (losses.minimax_d, losses.nonsaturating_g, True, False)
    assert losses.get_loss("wasserstein") == (losses.wasserstein_d, losses.wasserstein_g, False, False)
    assert losses.get_loss("hinge") == (losses.hinge_d, losses.hinge_g, False, False)
    assert losses.get_loss("least_squares") == (losses.least_squares_d, losses.least_squares_g, False, False)
    assert losses.get_loss("relativistic_avg") == (losses.relativistic_avg_d, losses.relativistic_avg_g, False, True)
    assert losses.get_loss("relativistic_avg_ls") == (losses.relativistic_avg_ls_d, losses.relativistic_avg_ls_g, False, True)


def test_get_loss_unknown_name_raises():
    with pytest.raises(ValueError) as info:
        losses.get_loss("wgan")
    msg = str(info.value)
    assert "wgan" in msg
    for name in losses.LOSSES:
        assert name in msg


def test_losses_are_keyword_only():
    with pytest.raises(TypeError):
        losses.minimax_d(jnp.zeros(2), jnp.zeros(2))  # type: ignore[misc]
    with pytest.raises(TypeError):
        losses.nonsaturating_g(jnp.zeros(2))  # type: ignore[misc]


def test_losses_jit():
    for name, loss in losses.LOSSES.items():
        d = jax.jit(lambda r, f: loss.d(real_logits=r, fake_logits=f))(jnp.asarray(REAL), jnp.asarray(FAKE))
        d_ref = loss.d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
        close(d[0], d_ref[0])
        close(d[1], d_ref[1])


# ----------------------------------------------------------------------------- relativistic average


def test_relativistic_avg_values():
    r, f = losses.relativistic_avg_d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
    mr, mf = np.mean(f64(REAL)), np.mean(f64(FAKE))
    close(r, np.mean(sp(-(f64(REAL) - mf))))  # -log sigmoid(C_r - mean C_f)
    close(f, np.mean(sp(f64(FAKE) - mr)))  # -log(1 - sigmoid(C_f - mean C_r))
    g = losses.relativistic_avg_g(fake_logits=jnp.asarray(FAKE), real_logits=jnp.asarray(REAL))
    close(g, np.mean(sp(-(f64(FAKE) - mr))) + np.mean(sp(f64(REAL) - mf)))
    # equal logits: D cannot tell, every term is log 2
    r, f = losses.relativistic_avg_d(real_logits=jnp.full(4, 3.0), fake_logits=jnp.full(3, 3.0))
    close(r, LOG2)
    close(f, LOG2)
    close(losses.relativistic_avg_g(fake_logits=jnp.full(3, -1.0), real_logits=jnp.full(4, -1.0)), 2 * LOG2)


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_relativistic_avg_extreme_logits(big):
    # D confidently right (C_r = big, C_f = -big): D's terms ~ softplus(-2 big) ~ 0, G's = 2 * softplus(2 big) = 4 big
    r, f = losses.relativistic_avg_d(real_logits=jnp.array([big, big]), fake_logits=jnp.array([-big]))
    assert 0.0 <= float(r) <= 1e-40 and 0.0 <= float(f) <= 1e-40
    assert float(losses.relativistic_avg_g(fake_logits=jnp.array([-big]), real_logits=jnp.array([big, big]))) == 4 * big
    # D confidently wrong: each D term is softplus(2 big) = 2 big; G's terms ~ 0
    r, f = losses.relativistic_avg_d(real_logits=jnp.array([-big]), fake_logits=jnp.array([big]))
    assert float(r) == 2 * big and float(f) == 2 * big
    assert 0.0 <= float(losses.relativistic_avg_g(fake_logits=jnp.array([big]), real_logits=jnp.array([-big]))) <= 1e-40
    g = jax.grad(lambda f: losses.relativistic_avg_g(fake_logits=f, real_logits=jnp.array([big])))(jnp.array([-big]))
    np.testing.assert_allclose(np.asarray(g), [-2.0], rtol=1e-6)  # d/dC_f of 2 softplus(2 big - ... ) terms: -1 - 1


def test_relativistic_avg_ls_values():
    a, b = 2.0, -1.5
    r, f = losses.relativistic_avg_ls_d(real_logits=jnp.array([a]), fake_logits=jnp.array([b]))
    close(r, (a - b - 1.0) ** 2)  # 2.5^2
    close(f, (b - a + 1.0) ** 2)  # 2.5^2
    close(losses.relativistic_avg_ls_g(fake_logits=jnp.array([b]), real_logits=jnp.array([a])), (b - a - 1.0) ** 2 + (a - b + 1.0) ** 2)
    # D's optimum: real exceeds the average fake by exactly 1 -> zero D loss, G loss (-2)^2 + 2^2 = 8
    r, f = losses.relativistic_avg_ls_d(real_logits=jnp.array([1.0, 1.0]), fake_logits=jnp.array([0.0, 0.0]))
    assert float(r) == 0.0 and float(f) == 0.0
    close(losses.relativistic_avg_ls_g(fake_logits=jnp.zeros(2), real_logits=jnp.ones(2)), 8.0)
    # means over the batch: with REAL / FAKE
    mr, mf = np.mean(f64(REAL)), np.mean(f64(FAKE))
    r, f = losses.relativistic_avg_ls_d(real_logits=jnp.asarray(REAL), fake_logits=jnp.asarray(FAKE))
    close(r, np.mean((f64(REAL) - mf - 1) ** 2), rtol=1e-5)
    close(f, np.mean((f64(FAKE) - mr + 1) ** 2), rtol=1e-5)


# ----------------------------------------------------------------------------- ACGAN


def test_classifier_ce_values():
    # uniform logits: log K for every label
    close(losses.classifier_ce(class_logits=jnp.zeros((3, 10)), labels=jnp.array([0, 4, 9])), math.log(10.0))
    logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = jnp.array([0, 1])
    ref = np.mean([np.log(np.exp(2) + 1 + np.exp(-1)) - 2.0, np.log(2 * np.exp(0.5) + np.exp(3)) - 0.5])
    close(losses.classifier_ce(class_logits=logits, labels=labels), ref)


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_acgan_extreme_logits(big):
    logits = jnp.array([[big, 0.0, 0.0]])
    # confidently right: CE = log(1 + 2 e^-big) ~ 0; confidently wrong: CE = big + log(1 + 2 e^-big) = big
    right, wrong = losses.acgan_d(real_class_logits=logits, fake_class_logits=logits, real_labels=jnp.array([0]), fake_labels=jnp.array([2]))
    assert 0.0 <= float(right) <= 1e-40
    assert float(wrong) == big
    assert float(losses.acgan_g(fake_class_logits=logits, fake_labels=jnp.array([1]))) == big
    g = jax.grad(lambda l: losses.acgan_g(fake_class_logits=l, fake_labels=jnp.array([1])))(logits)
    np.testing.assert_allclose(np.asarray(g), [[1.0, -1.0, 0.0]], atol=1e-6)  # softmax - onehot
