"""gan_jax.models.fast_conv: FastConv == nn.Conv and FastUpConv2x == UpConv2x, for every impl.

Each case compiles *one* function computing the reference and every implementation
(output + VJP w.r.t. params and input), so the whole file stays a few seconds.
"""

import flax.linen as nn
from jax import lax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.fast_conv import IMPLS, FastConv, FastUpConv2x, auto_impl, auto_upconv_impl, conv2d
from gan_jax.models.layers import UpConv2x

# "xla" is lax.conv_general_dilated (what nn.Conv runs) and "auto" one of the others:
# both are covered by the first case of each test only, to keep compilations few.
CONV_IMPLS = ("im2col", "s2d", "s2d_xla")
UP_IMPLS = ("im2col", "winograd", "col2im")


def normal(seed, shape, scale=1.0):
    return jnp.asarray(scale * np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def assert_close(actual, desired, rtol=1e-5, atol=1e-5):
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert actual.shape == desired.shape
    scale = max(1.0, float(np.abs(desired).max(initial=0.0)))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol * scale)


def _all_vjps(ref, fasts, params, x, ct):
    def one(module):
        y, vjp = jax.vjp(lambda p, x: module.apply(p, x), params, x)
        return y, vjp(ct)

    return jax.jit(lambda: (one(ref), [one(m) for m in fasts]))()


def _check(ref, fasts, params, x):
    y = ref.apply(params, x)
    ct = normal(99, y.shape)
    (y_ref, (gp_ref, gx_ref)), outs = _all_vjps(ref, fasts, params, x, ct)
    for y_f, (gp_f, gx_f) in outs:
        assert_close(y_f, y_ref)
        assert_close(gx_f, gx_ref)
        assert jax.tree_util.tree_structure(gp_f) == jax.tree_util.tree_structure(gp_ref)
        for a, b in zip(jax.tree_util.tree_leaves(gp_f), jax.tree_util.tree_leaves(gp_ref)):
            assert_close(a, b)


CONV_CASES = [
    # (input shape, features, kernel, strides, padding, use_bias)
    ((1, 8, 8, 3), 4, (4, 4), (2, 2), ((1, 1), (1, 1)), True),  # DCGAN D layer, batch 1
    ((3, 7, 5, 2), 5, (4, 4), (2, 2), ((1, 1), (1, 1)), False),  # odd, non-square
    ((1, 2, 2, 3), 2, (4, 4), (2, 2), ((1, 1), (1, 1)), True),  # 2x2 -> 1x1
    ((2, 5, 5, 4), 3, (2, 2), (1, 1), "VALID", True),  # UpConv2x's inner conv
    ((2, 6, 7, 3), 4, (3, 3), (1, 1), "SAME", False),
    ((2, 7, 8, 2), 3, (3, 3), (2, 2), ((0, 1), (2, 0)), True),  # kernel not a multiple of the stride
    ((2, 3, 8, 8, 3), 4, (4, 4), (2, 2), ((1, 1), (1, 1)), True),  # two batch axes
]


@pytest.mark.parametrize("shape,features,kernel,strides,padding,use_bias", CONV_CASES)
def test_fast_conv_matches_nn_conv(shape, features, kernel, strides, padding, use_bias):
    kw = dict(features=features, kernel_size=kernel, strides=strides, padding=padding, use_bias=use_bias)
    ref = nn.Conv(**kw)
    x = normal(0, shape)
    params = ref.init(jax.random.key(0), x)
    fast_params = FastConv(**kw).init(jax.random.key(0), x)
    # same parameter tree and the same initial values (checkpoints are interchangeable)
    assert jax.tree_util.tree_structure(fast_params) == jax.tree_util.tree_structure(params)
    for a, b in zip(jax.tree_util.tree_leaves(fast_params), jax.tree_util.tree_leaves(params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    if use_bias:  # the default init is zeros: make the bias path visible
        params = {"params": {**params["params"], "bias": normal(1, (features,))}}
    impls = CONV_IMPLS + (("xla", "auto") if shape == CONV_CASES[0][0] else ())
    if (tuple(kernel), tuple(strides)) in (((4, 4), (2, 2)), ((2, 2), (1, 1))):
        impls += ("winograd",)  # F(2x2, 2x2): a 2x2 stride-1 kernel, or 4x4 stride 2 via space-to-depth
    _check(ref, [FastConv(**kw, impl=impl) for impl in impls], params, x)


UP_CASES = [
    # (batch, H, W, in, out, use_bias)
    (1, 4, 4, 2, 3, True),  # batch 1
    (3, 5, 5, 4, 3, True),  # odd
    (2, 3, 6, 2, 5, False),  # non-square
]
UP_FIRST = UP_CASES[0]


@pytest.mark.parametrize("batch,h,w,cin,cout,use_bias", UP_CASES)
def test_fast_upconv_matches_upconv_and_conv_transpose(batch, h, w, cin, cout, use_bias):
    x = normal(2, (batch, h, w, cin))
    ref = UpConv2x(cout, use_bias=use_bias)
    params = ref.init(jax.random.key(0), x)
    fast_params = FastUpConv2x(cout, use_bias=use_bias).init(jax.random.key(0), x)
    assert jax.tree_util.tree_structure(fast_params) == jax.tree_util.tree_structure(params)
    for a, b in zip(jax.tree_util.tree_leaves(fast_params), jax.tree_util.tree_leaves(params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    params = {"params": {**params["params"], "kernel": normal(3, (4, 4, cin, cout), 0.2)}}
    if use_bias:
        params["params"]["bias"] = normal(4, (cout,))
    first = (batch, h, w, cin, cout, use_bias) == UP_FIRST
    impls = UP_IMPLS + (("xla", "auto") if first else ())
    # UpConv2x == nn.ConvTranspose is tests/test_layers.py's job; one case here closes the loop
    transpose = [nn.ConvTranspose(cout, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)), use_bias=use_bias)] if first else []
    _check(ref, [FastUpConv2x(cout, use_bias=use_bias, impl=impl) for impl in impls] + transpose, params, x)


def test_bfloat16_and_preferred_element_type():
    x = normal(5, (2, 8, 8, 3))
    kw = dict(features=4, kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
    params = nn.Conv(**kw).init(jax.random.key(0), x)

    @jax.jit
    def run(params, x):
        ref = nn.Conv(**kw, dtype=jnp.bfloat16).apply(params, x)
        fast = [FastConv(**kw, dtype=jnp.bfloat16, impl=i).apply(params, x) for i in ("im2col", "s2d", "s2d_xla", "winograd")]
        f32 = [FastConv(**kw, dtype=jnp.bfloat16, preferred_element_type=jnp.float32, impl=i).apply(params, x) for i in ("xla", "im2col", "s2d", "winograd")]
        return ref, fast, f32

    ref, fast, f32 = run(params, x)
    exact = nn.Conv(**kw).apply(params, x)
    assert ref.dtype == jnp.bfloat16
    for y in fast:
        assert y.dtype == jnp.bfloat16
        assert_close(y.astype(jnp.float32), ref.astype(jnp.float32), rtol=2e-2, atol=2e-2)
    for y in f32:  # bfloat16 products, float32 accumulation and output
        assert y.dtype == jnp.float32
        assert_close(y, exact, rtol=2e-2, atol=2e-2)


def test_auto_and_errors():
    # not the CPU: always lax's convolution
    assert auto_impl((64, 18, 18, 128), (2, 2, 128, 256), (1, 1), backend="gpu") == "xla"
    # CPU: GEMM for the generator's big stride-1 convs, lax for its last layer and for D's strided convs
    assert auto_impl((64, 18, 18, 128), (2, 2, 128, 256), (1, 1), backend="cpu") == "im2col"
    assert auto_impl((64, 34, 34, 64), (2, 2, 64, 12), (1, 1), backend="cpu") == "xla"
    assert auto_impl((64, 8, 8, 256), (4, 4, 256, 512), (2, 2), backend="cpu") == "winograd"
    assert auto_impl((64, 64, 64, 3), (4, 4, 3, 64), (2, 2), backend="cpu") == "xla"
    assert auto_upconv_impl((64, 8, 8, 256), 128, backend="cpu") == "winograd"
    assert auto_upconv_impl((64, 4, 4, 512), 256, backend="cpu") == "winograd"
    assert auto_upconv_impl((64, 2, 2, 512), 256, backend="cpu") == "col2im"
    assert auto_upconv_impl((64, 8, 8, 256), 128, backend="gpu") == "xla"
    assert set(IMPLS) == {"auto", "xla", "im2col", "s2d", "s2d_xla", "winograd"}
    x, k = normal(6, (1, 4, 4, 2)), normal(7, (2, 2, 2, 3))
    with pytest.raises(ValueError, match="unknown impl"):
        conv2d(x, k, impl="fft")
    with pytest.raises(ValueError, match="needs a 2x2 stride-1 or 4x4 stride-2"):
        conv2d(x, normal(8, (3, 3, 2, 3)), impl="winograd")
    with pytest.raises(ValueError, match="larger than"):
        conv2d(x, normal(8, (5, 5, 2, 3)), impl="im2col")


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_tiles_and_transpose_match_lax(tile):
    """Both Winograd tile sizes, odd sizes (padded tiles), the transposed op, and their
    gradients (custom VJPs) against lax.conv; bfloat16 inputs with float32 accumulation
    give float32 outputs and gradients of the input dtypes."""
    from gan_jax.models.fast_conv import winograd_tile, winograd_valid, winograd_valid_T

    s, k = normal(10, (2, 10, 7, 5)), normal(11, (2, 2, 5, 6), 0.5)
    ref = lambda s, k: lax.conv_general_dilated(s, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = ref(s, k)
    ct = normal(12, y.shape)
    ours = lambda s, k: winograd_valid(s, k, tile=tile)
    assert_close(ours(s, k), y)
    for a, b in zip(jax.grad(lambda s, k: jnp.sum(ours(s, k) * ct), (0, 1))(s, k), jax.grad(lambda s, k: jnp.sum(ref(s, k) * ct), (0, 1))(s, k)):
        assert_close(a, b)
    # the transpose of s -> conv(s, k) is y -> winograd_valid_T(y, k)
    _, vjp = jax.vjp(lambda s: ref(s, k), s)
    ours_t = lambda y, k: winograd_valid_T(y, k, tile=tile)
    assert_close(ours_t(ct, k), vjp(ct)[0])
    ct2 = normal(13, s.shape)
    ref_t = lambda y, k: jax.vjp(lambda s: ref(s, k), s)[1](y)[0]
    for a, b in zip(jax.grad(lambda y, k: jnp.sum(ours_t(y, k) * ct2), (0, 1))(ct, k), jax.grad(lambda y, k: jnp.sum(ref_t(y, k) * ct2), (0, 1))(ct, k)):
        assert_close(a, b)
    with pytest.raises(ValueError, match="tile must be one of"):
        winograd_valid(s, k, tile=3)
    if tile == 4:
        return
    # bfloat16 in, float32 accumulation out; gradients come back in the input dtypes (and
    # half precision always gets the additions-only F(2x2, 2x2))
    assert winograd_tile((16, 16), (64, 64), jnp.bfloat16) == 2 and winograd_tile((16, 16), (64, 64)) == 4
    sb, kb = s.astype(jnp.bfloat16), k.astype(jnp.bfloat16)
    yb = winograd_valid(sb, kb, preferred_element_type=jnp.float32, tile=tile)
    assert yb.dtype == jnp.float32
    assert_close(yb, y, rtol=3e-2, atol=3e-2)
    gs, gk = jax.grad(lambda s, k: jnp.sum(winograd_valid(s, k, preferred_element_type=jnp.float32, tile=tile) * ct), (0, 1))(sb, kb)
    assert gs.dtype == jnp.bfloat16 and gk.dtype == jnp.bfloat16
    gt = jax.grad(lambda y: jnp.sum(winograd_valid_T(y, kb, preferred_element_type=jnp.float32, tile=tile) * ct2))(ct.astype(jnp.bfloat16))
    assert gt.dtype == jnp.bfloat16


@pytest.mark.parametrize(
    "shape,pads,tile",
    [
        ((2, 17, 14, 3), ((1, 1), (1, 1)), 4),  # odd rows: a padded pixel row no output reads
        ((2, 17, 14, 3), ((1, 1), (1, 1)), 2),
        ((1, 12, 9, 2), ((2, 0), (0, 3)), 2),  # uneven padding, both phases of the leading pad
        ((1, 11, 12, 2), ((-1, 2), (1, -2)), 4),  # negative padding crops
    ],
)
def test_winograd_conv_s2_matches_lax(shape, pads, tile):
    """The stride-2 Winograd conv with padding and space-to-depth folded into the tile
    transforms (phase by phase) and its custom VJP, against lax.conv, at both tiles."""
    from gan_jax.models.fast_conv import winograd_conv_s2

    x, k = normal(20, shape), normal(21, (4, 4, shape[-1], 5), 0.5)
    ref = lambda x, k: lax.conv_general_dilated(x, k, (2, 2), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    ours = lambda x, k: winograd_conv_s2(x, k, pads, tile=tile)
    y = ref(x, k)
    ct = normal(22, y.shape)
    assert_close(ours(x, k), y)
    for a, b in zip(jax.grad(lambda x, k: jnp.sum(ours(x, k) * ct), (0, 1))(x, k), jax.grad(lambda x, k: jnp.sum(ref(x, k) * ct), (0, 1))(x, k)):
        assert_close(a, b)


def test_winograd_upconv_tile4_matches_conv_transpose():
    """winograd_upconv with enough channels for F(4x4, 2x2) (the DCGAN-64 choice from 8x8
    inputs) against the ConvTranspose it replaces: output and both gradients."""
    from gan_jax.models.fast_conv import winograd_tile, winograd_upconv

    x, kernel = normal(23, (2, 8, 8, 32)), normal(24, (4, 4, 32, 8), 0.2)
    assert winograd_tile((8, 8), (4 * 8, 32)) == 4  # what winograd_upconv picks for this layer
    ref = lambda x, k: UpConv2x(8, use_bias=False).apply({"params": {"kernel": k}}, x)
    y = ref(x, kernel)
    ct = normal(25, y.shape)
    assert_close(winograd_upconv(x, kernel), y)
    for a, b in zip(jax.grad(lambda x, k: jnp.sum(winograd_upconv(x, k) * ct), (0, 1))(x, kernel), jax.grad(lambda x, k: jnp.sum(ref(x, k) * ct), (0, 1))(x, kernel)):
        assert_close(a, b)
