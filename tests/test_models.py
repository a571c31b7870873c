"""Model building blocks of the GAN family: spectral normalisation, conditional BatchNorm,
the projection and ACGAN discriminators, SNGAN ResNet and conditional DCGAN/MLP shapes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import (
    SN_COLLECTION,
    ConditionalBatchNorm,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    SNConv,
    SNDense,
    SNGANDiscriminator,
    SNGANGenerator,
)
from gan_jax.models.spectral import power_iteration

KEY = jax.random.PRNGKey(0)


def _fast_jit(f, *args):
    """``f`` compiled for ``args`` at XLA's cheapest optimisation level (the ResNet D compiles
    ~3x faster; these tests check values, not speed)."""
    opts = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
    return jax.jit(f).lower(*args).compile(compiler_options=opts)


def top_singular_value(w) -> float:
    w = np.asarray(w, np.float64)
    return float(np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0])


# ----------------------------------------------------------------------------- spectral norm


def test_power_iteration_converges_to_top_singular_value():
    w = jax.random.normal(KEY, (12, 7))
    u = jax.random.normal(jax.random.PRNGKey(1), (7,))
    u, sigma = power_iteration(w, u, n_steps=200)
    np.testing.assert_allclose(float(sigma), top_singular_value(w), rtol=1e-5)
    # zero steps: sigma = ||w u|| for the given u (<= the top singular value for a unit u)
    _, s0 = power_iteration(w, jnp.eye(7)[0], n_steps=0)
    np.testing.assert_allclose(float(s0), np.linalg.norm(np.asarray(w)[:, 0]), rtol=1e-6)
    # sigma's gradient w.r.t. w is v u^T (u held constant), v = w u / ||w u||
    g = jax.grad(lambda w: power_iteration(w, u, 0)[1])(w)
    v = np.asarray(w @ u) / float(sigma)
    np.testing.assert_allclose(np.asarray(g), np.outer(v, np.asarray(u)), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("layer, x_shape", [(SNDense(7), (5, 12)), (SNConv(4, (3, 3)), (2, 6, 6, 3))])
def test_spectral_norm_layer_converges_and_keeps_params(layer, x_shape):
    x = jax.random.normal(jax.random.PRNGKey(2), x_shape)
    variables = layer.init(KEY, x, update_stats=False)
    assert set(variables) == {"params", SN_COLLECTION}
    params = variables["params"]
    kernel0 = np.asarray(params["kernel"]).copy()

    @jax.jit
    def train_call(spectral):
        return layer.apply({"params": params, SN_COLLECTION: spectral}, x, update_stats=True, mutable=[SN_COLLECTION])

    spectral = variables[SN_COLLECTION]
    for _ in range(60):
        out, updated = train_call(spectral)
        spectral = updated[SN_COLLECTION]
    # the stored weight is never rewritten
    np.testing.assert_array_equal(np.asarray(params["kernel"]), kernel0)
    sigma = top_singular_value(kernel0)
    u = spectral["u"]
    np.testing.assert_allclose(float(jnp.linalg.norm(kernel0.reshape(-1, kernel0.shape[-1]) @ u)), sigma, rtol=1e-4)
    # the output is that of the layer with kernel / sigma_max
    ref_layer = {**params, "kernel": kernel0 / sigma}
    if isinstance(layer, SNDense):
        ref = x @ ref_layer["kernel"] + ref_layer["bias"]
    else:
        ref = jax.lax.conv_general_dilated(x, ref_layer["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + ref_layer["bias"]
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-4, atol=1e-5)
    # eval mode and immutable collections leave u alone
    _, same = layer.apply({"params": params, SN_COLLECTION: spectral}, x, update_stats=False, mutable=[SN_COLLECTION])
    np.testing.assert_array_equal(np.asarray(same[SN_COLLECTION]["u"]), np.asarray(u))
    layer.apply({"params": params, SN_COLLECTION: spectral}, x, update_stats=True)  # not mutable: no update, no error


def test_spectral_norm_one_iteration_per_mutable_call():
    layer = SNDense(3)
    x = jnp.ones((2, 4))
    v = layer.init(KEY, x, update_stats=False)
    _, upd = layer.apply(v, x, update_stats=True, mutable=[SN_COLLECTION])
    w = v["params"]["kernel"]
    expected, _ = power_iteration(w, v[SN_COLLECTION]["u"], 1)
    np.testing.assert_allclose(np.asarray(upd[SN_COLLECTION]["u"]), np.asarray(expected), rtol=1e-6)


# ----------------------------------------------------------------------------- conditional BN


def test_conditional_batch_norm_uses_per_class_gains():
    cbn = ConditionalBatchNorm(num_classes=3)
    x = jax.random.normal(KEY, (4, 2, 2, 5))
    y = jnp.array([0, 2, 1, 2])
    v = cbn.init(KEY, x, y, train=False)
    assert set(v["params"]) == {"gamma", "beta"}  # no shared scale/bias
    np.testing.assert_array_equal(np.asarray(v["params"]["gamma"]["embedding"]), 1.0)
    np.testing.assert_array_equal(np.asarray(v["params"]["beta"]["embedding"]), 0.0)
    gamma = jnp.arange(1.0, 16.0).reshape(3, 5)
    beta = -jnp.arange(15.0).reshape(3, 5) / 10
    params = {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}
    stats = {"BatchNorm_0": {"mean": jnp.zeros(5), "var": jnp.ones(5)}}
    out = cbn.apply({"params": params, "batch_stats": stats}, x, y, train=False)
    xn = np.asarray(x, np.float64) / np.sqrt(1.0 + 1e-5)
    ref = xn * np.asarray(gamma)[np.asarray(y)][:, None, None, :] + np.asarray(beta)[np.asarray(y)][:, None, None, :]
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-6)
    # training mode: batch statistics, then the same per-class affine map
    out, upd = cbn.apply({"params": params, "batch_stats": stats}, x, y, train=True, mutable=["batch_stats"])
    xn = np.asarray(x, np.float64)
    xn = (xn - xn.mean(axis=(0, 1, 2))) / np.sqrt(xn.var(axis=(0, 1, 2)) + 1e-5)
    ref = xn * np.asarray(gamma)[np.asarray(y)][:, None, None, :] + np.asarray(beta)[np.asarray(y)][:, None, None, :]
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-5)
    # unconditional: an ordinary BatchNorm
    plain = ConditionalBatchNorm(num_classes=0).init(KEY, x, train=False)
    assert set(plain["params"]["BatchNorm_0"]) == {"scale", "bias"}


# ----------------------------------------------------------------------------- projection / ACGAN D


@pytest.mark.parametrize("sn", [True])  # with SN (False only drops the two sigmas; same code path)
def test_projection_discriminator_is_inner_product_form(sn):
    d = SNGANDiscriminator(width=4, spectral_norm=sn, num_classes=3)
    x = jax.random.normal(KEY, (3, 32, 32, 3))
    y = jnp.array([2, 0, 1])
    v = _fast_jit(lambda k: d.init(k, x, y, train=False), KEY)(KEY)
    # random (non-zero) parameters everywhere, so every term matters
    leaves, tree = jax.tree.flatten(v["params"])
    keys = jax.random.split(jax.random.PRNGKey(5), len(leaves))
    params = jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)])
    variables = {**v, "params": params}
    apply = _fast_jit(lambda v, y: d.apply(v, x, y, train=False, mutable=["intermediates"]), variables, y)
    out, inter = apply(variables, y)
    phi = np.asarray(inter["intermediates"]["features"][0], np.float64)
    w, b = np.asarray(params["linear"]["kernel"], np.float64), np.asarray(params["linear"]["bias"], np.float64)
    emb = np.asarray(params["embed"]["embedding"], np.float64)
    if sn:  # sigma = ||w u|| with the stored u (eval mode: no power iteration)
        w = w / np.linalg.norm(w @ np.asarray(v[SN_COLLECTION]["linear"]["u"]))
        emb = emb / np.linalg.norm(emb @ np.asarray(v[SN_COLLECTION]["embed"]["u"]))
    ref = phi @ w[:, 0] + b[0] + np.sum(emb[np.asarray(y)] * phi, axis=1)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-4)
    # the projection term is what makes the label matter
    other, _ = apply(variables, (y + 1) % 3)
    assert not np.allclose(np.asarray(other), np.asarray(out))


def test_acgan_heads():
    for d, x in [
        (SNGANDiscriminator(width=4, aux_classes=10), jnp.zeros((2, 32, 32, 3))),
        (DCGANDiscriminator(width=4, aux_classes=10), jnp.zeros((2, 28, 28, 1))),
        (DCGANDiscriminator(width=4, aux_classes=10, spectral_norm=True, batch_norm=False), jnp.zeros((2, 16, 16, 1))),
    ]:
        out = jax.eval_shape(lambda k: d.init_with_output(k, x, train=False)[0], KEY)
        logits, class_logits = out
        assert logits.shape == (2,) and class_logits.shape == (2, 10)


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("size", [32, 48, 64])
@pytest.mark.parametrize("num_classes", [0, 5])
def test_sngan_shapes(size, num_classes):
    g = SNGANGenerator(image_shape=(size, size, 3), width=4, num_classes=num_classes)
    d = SNGANDiscriminator(width=4, num_classes=num_classes)
    z = jnp.zeros((2, 16))
    y = jnp.array([0, 1]) if num_classes else None
    g_vars = jax.eval_shape(lambda k: g.init(k, z, y, train=False), KEY)
    x = jax.eval_shape(lambda v: g.apply(v, z, y, train=True, mutable=["batch_stats"])[0], g_vars)
    assert x.shape == (2, size, size, 3)
    d_vars = jax.eval_shape(lambda k: d.init(k, jnp.zeros(x.shape), y, train=False), KEY)
    assert set(d_vars) == {"params", SN_COLLECTION}  # no BatchNorm in D
    logits = jax.eval_shape(lambda v: d.apply(v, jnp.zeros(x.shape), y, train=True, mutable=[SN_COLLECTION])[0], d_vars)
    assert logits.shape == (2,)
    if num_classes:
        assert "gamma" in g_vars["params"]["GBlock_0"]["ConditionalBatchNorm_0"]
        assert g_vars["params"]["GBlock_0"]["ConditionalBatchNorm_0"]["gamma"]["embedding"].shape[0] == num_classes


def test_sngan_unsupported_size_raises():
    with pytest.raises(ValueError, match="SNGAN ResNet supports"):
        jax.eval_shape(lambda k: SNGANGenerator(image_shape=(28, 28, 1), width=4).init(k, jnp.zeros((1, 4)), train=False), KEY)


def test_conditional_dcgan_and_mlp_use_labels():
    g = DCGANGenerator(image_shape=(16, 16, 1), width=4, num_classes=3)
    d = DCGANDiscriminator(width=4, num_classes=3)
    z = jax.random.normal(KEY, (2, 5))
    y0, y1 = jnp.array([0, 0]), jnp.array([1, 2])
    gv = jax.jit(lambda k: g.init(k, z, y0, train=False))(KEY)
    assert gv["params"]["Dense_0"]["kernel"].shape[0] == 5 + 3  # one-hot concatenated to z
    g_apply = jax.jit(lambda v, y: g.apply(v, z, y, train=False))
    assert not np.allclose(g_apply(gv, y0), g_apply(gv, y1))
    x = jnp.zeros((2, 16, 16, 1))
    dv = jax.eval_shape(lambda k: d.init(k, x, y0, train=False), KEY)
    assert dv["params"]["Conv_0"]["kernel"].shape[2] == 1 + 3  # label maps concatenated to x
    mg, md = MLPGenerator(output_shape=(4,), hidden=(8,), num_classes=3), MLPDiscriminator(hidden=(8,), num_classes=3)
    mv = mg.init(KEY, z, y0)
    assert mv["params"]["Dense_0"]["kernel"].shape[0] == 8
    assert not np.allclose(mg.apply(mv, z, y0), mg.apply(mv, z, y1))
    dvm = md.init(KEY, jnp.ones((2, 4)), y0)
    assert dvm["params"]["Dense_0"]["kernel"].shape[0] == 7
    with pytest.raises(ValueError, match="needs labels"):
        md.init(KEY, jnp.ones((2, 4)))
