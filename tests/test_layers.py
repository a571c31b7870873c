"""UpConv2x == nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.layers import UpConv2x

PADDING = ((2, 2), (2, 2))


def reference(features, use_bias=True, **kw):
    return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=PADDING, use_bias=use_bias, **kw)


def normal(seed, shape, scale=1.0):
    # numpy, not jax.random: every new shape would compile another threefry kernel
    return jnp.asarray(scale * np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def random_params(seed, cin, cout, use_bias):
    """Params in the nn.ConvTranspose layout, with a non-zero bias (the default init is zeros)."""
    params = {"kernel": normal(seed, (4, 4, cin, cout), 0.2)}
    if use_bias:
        params["bias"] = normal(seed + 1, (cout,))
    return {"params": params}


def assert_close(actual, desired, rtol=1e-5, atol=1e-5):
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert actual.shape == desired.shape
    scale = max(1.0, float(np.abs(desired).max(initial=0.0)))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol * scale)


CASES = [
    # (batch, H, W, in, out, use_bias)
    (1, 1, 1, 1, 1, True),
    (3, 1, 1, 3, 2, False),
    (1, 4, 4, 1, 3, True),
    (3, 4, 4, 3, 1, False),
    (1, 7, 7, 3, 3, False),
    (3, 7, 7, 4, 3, True),
    (1, 8, 8, 5, 1, True),
    (3, 8, 8, 1, 4, False),
    (1, 16, 16, 3, 3, True),
    (3, 16, 16, 8, 3, False),
    (2, 3, 5, 2, 3, True),  # non-square
]


def _forward_and_vjp(module, params, x, ct):
    y, vjp = jax.vjp(lambda p, x: module.apply(p, x), params, x)
    return y, vjp(ct)


@pytest.mark.parametrize("batch,h,w,cin,cout,use_bias", CASES)
def test_forward_and_gradients_match_conv_transpose(batch, h, w, cin, cout, use_bias):
    seed = h * 1000 + w * 100 + cin * 10 + cout
    x = normal(seed, (batch, h, w, cin))
    params = random_params(seed + 1, cin, cout, use_bias)
    ct = normal(seed + 2, (batch, 2 * h, 2 * w, cout))

    # one compiled program per case (eager dispatch would compile every primitive separately)
    @jax.jit
    def both(params, x, ct):
        return _forward_and_vjp(reference(cout, use_bias), params, x, ct), _forward_and_vjp(
            UpConv2x(cout, use_bias=use_bias), params, x, ct
        )

    (y_ref, (gp_ref, gx_ref)), (y_new, (gp_new, gx_new)) = both(params, x, ct)
    assert y_new.shape == (batch, 2 * h, 2 * w, cout)
    assert_close(y_new, y_ref)
    assert_close(gx_new, gx_ref)
    assert jax.tree_util.tree_structure(gp_new) == jax.tree_util.tree_structure(gp_ref)
    for a, b in zip(jax.tree_util.tree_leaves(gp_new), jax.tree_util.tree_leaves(gp_ref)):
        assert_close(a, b)


def test_eager_forward_and_gradients():
    """Same check without jit (op-by-op), on one small case."""
    x = normal(10, (2, 3, 3, 2))
    params = random_params(11, 2, 3, True)
    ct = normal(12, (2, 6, 6, 3))
    (y_ref, (gp_ref, gx_ref)), (y_new, (gp_new, gx_new)) = (
        _forward_and_vjp(reference(3), params, x, ct),
        _forward_and_vjp(UpConv2x(3), params, x, ct),
    )
    assert_close(y_new, y_ref)
    assert_close(gx_new, gx_ref)
    for a, b in zip(jax.tree_util.tree_leaves(gp_new), jax.tree_util.tree_leaves(gp_ref)):
        assert_close(a, b)


@pytest.mark.parametrize("use_bias", [True, False])
def test_param_tree_and_init_identical(use_bias):
    # shapes as in _TwoUps below: eager init compiles the (slow-to-compile) truncated-normal
    # initialiser once per kernel shape, and the other tests reuse it from the cache
    x = jnp.ones((1, 4, 4, 6))
    p_ref = reference(4, use_bias).init(jax.random.key(0), x)
    p_new = UpConv2x(4, use_bias=use_bias).init(jax.random.key(0), x)
    assert jax.tree_util.tree_structure(p_new) == jax.tree_util.tree_structure(p_ref)
    assert set(p_new["params"]) == ({"kernel", "bias"} if use_bias else {"kernel"})
    assert p_new["params"]["kernel"].shape == (4, 4, 6, 4)
    for a, b in zip(jax.tree_util.tree_leaves(p_new), jax.tree_util.tree_leaves(p_ref)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)  # same initialisers, same rng stream


class _TwoUps(nn.Module):
    """Generator-like stack: the swap recipe is UpConv2x(..., name=f"ConvTranspose_{i}")."""

    fast: bool

    @nn.compact
    def __call__(self, h):
        for i, (ch, bias) in enumerate([(4, False), (3, True)]):
            if self.fast:
                h = UpConv2x(ch, use_bias=bias, name=f"ConvTranspose_{i}")(h)
            else:
                h = nn.ConvTranspose(ch, (4, 4), strides=(2, 2), padding=PADDING, use_bias=bias)(h)
            h = nn.relu(h) if i == 0 else h
        return h


def test_swap_inside_a_model_keeps_checkpoint_and_outputs():
    x = normal(1, (2, 4, 4, 6))
    p_ref = _TwoUps(fast=False).init(jax.random.key(2), x)
    p_new = _TwoUps(fast=True).init(jax.random.key(2), x)
    assert jax.tree_util.tree_structure(p_new) == jax.tree_util.tree_structure(p_ref)
    for a, b in zip(jax.tree_util.tree_leaves(p_new), jax.tree_util.tree_leaves(p_ref)):
        np.testing.assert_array_equal(a, b)
    # params of one apply in the other
    assert_close(jax.jit(_TwoUps(fast=True).apply)(p_ref, x), jax.jit(_TwoUps(fast=False).apply)(p_ref, x))


def test_extra_and_missing_batch_dims():
    x = normal(5, (2, 3, 4, 4, 2))
    params = random_params(6, 2, 3, True)

    @jax.jit
    def both(params, x):
        return UpConv2x(3).apply(params, x), reference(3).apply(params, x)

    y, y_ref = both(params, x)
    assert y.shape == (2, 3, 8, 8, 3)
    assert_close(y, y_ref)
    y, y_ref = both(params, x[0, 0])  # no batch dimension
    assert y.shape == (8, 8, 3)
    assert_close(y, y_ref)


def _rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_bfloat16():
    x = normal(7, (2, 8, 8, 16))
    params = random_params(8, 16, 8, True)
    ct = normal(9, (2, 16, 16, 8))

    @jax.jit
    def run(params, x, ct):
        p16 = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), params)
        x16, ct16 = x.astype(jnp.bfloat16), ct.astype(jnp.bfloat16)
        return {
            "f32": _forward_and_vjp(reference(8), params, x, ct),
            # compute dtype bf16, float32 params (mixed precision) ...
            "new_mixed": _forward_and_vjp(UpConv2x(8, dtype=jnp.bfloat16), params, x, ct16),
            "ref_mixed": _forward_and_vjp(reference(8, dtype=jnp.bfloat16), params, x, ct16),
            # ... and everything bf16
            "new_bf16": _forward_and_vjp(UpConv2x(8), p16, x16, ct16),
            "ref_bf16": _forward_and_vjp(reference(8), p16, x16, ct16),
        }

    out = run(params, x, ct)
    leaves = {k: jax.tree_util.tree_leaves(v) for k, v in out.items()}  # y, bias grad, kernel grad, x grad
    assert leaves["new_mixed"][0].dtype == leaves["new_bf16"][0].dtype == jnp.bfloat16
    assert leaves["new_mixed"][2].dtype == jnp.float32  # grads come back in the param dtype
    for mode in ("mixed", "bf16"):
        for new, ref, f32 in zip(leaves[f"new_{mode}"], leaves[f"ref_{mode}"], leaves["f32"]):
            assert new.shape == f32.shape
            # bf16 error relative to float32, and never much worse than nn.ConvTranspose's own bf16 error
            assert _rel_err(new, f32) < 3e-2
            assert _rel_err(new, f32) <= 2 * _rel_err(ref, f32) + 1e-2


def test_weight_gradient_is_an_ordinary_convolution():
    """Performance guard (see UpConv2x's docstring): with the padding inside the convolution,
    XLA swaps the operands of the weight-gradient convolution (window reversal), which
    XLA:CPU runs in a naive loop ~45x slower. Compile only, tiny shapes."""
    if jax.default_backend() != "cpu":
        pytest.skip("inspects XLA:CPU's optimised HLO")
    x = jnp.ones((2, 8, 8, 4))
    params = random_params(13, 4, 4, True)
    ct = jnp.ones((2, 16, 16, 4))
    hlo = jax.jit(lambda p, x, ct: _forward_and_vjp(UpConv2x(4), p, x, ct)).lower(params, x, ct).compile().as_text()
    convolutions = [line for line in hlo.splitlines() if "convolution(" in line]
    assert convolutions
    assert not any("reversal" in line for line in convolutions), convolutions


def test_dcgan_generator_upsample_variants_agree():
    """The DCGAN generator gives the same samples with either upsampling layer, from one set of parameters."""
    from gan_jax.models import DCGANGenerator

    z = jax.random.normal(jax.random.PRNGKey(0), (3, 16))
    fast = DCGANGenerator(image_shape=(32, 32, 3), width=8, upsample="subpixel")
    ref = DCGANGenerator(image_shape=(32, 32, 3), width=8, upsample="conv_transpose")
    # jitted: op-by-op dispatch would compile every small op of the Winograd layers on its own
    variables = jax.jit(lambda k: fast.init(k, z, train=False))(jax.random.PRNGKey(1))
    ref_vars = jax.eval_shape(lambda k: ref.init(k, z, train=False), jax.random.PRNGKey(1))
    assert jax.tree.structure(variables) == jax.tree.structure(ref_vars)
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(lambda v: v.shape, ref_vars)
    out_fast = jax.jit(lambda v: fast.apply(v, z, train=False))(variables)
    out_ref = jax.jit(lambda v: ref.apply(v, z, train=False))(variables)
    np.testing.assert_allclose(out_fast, out_ref, rtol=1e-5, atol=1e-5)
