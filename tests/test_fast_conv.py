"""gan_jax.models.fast_conv: FastConv == nn.Conv and FastUpConv2x == UpConv2x for every impl,
the Winograd building blocks against lax.conv, second-order gradients (R1, WGAN-GP, path
length) against impl="xla", and impl="auto" following the compilation platform.

Every check compiles *one* jitted function computing the reference and the implementations
(outputs and VJPs), with tiny shapes, so the whole file stays a few seconds of compilation.
"""

import os
import re
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gan_jax.models.fast_conv import (
    IMPLS,
    UP_IMPLS,
    FastConv,
    FastUpConv2x,
    auto_impl,
    auto_upconv_impl,
    conv2d,
    winograd_conv_s2,
    winograd_tile,
    winograd_upconv,
    winograd_valid,
    winograd_valid_T,
)
from gan_jax.models.layers import UpConv2x

DN = ("NHWC", "HWIO", "NHWC")
D_PAD = ((1, 1), (1, 1))


def normal(seed, shape, scale=1.0):
    return jnp.asarray(scale * np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def assert_close(actual, desired, rtol=1e-5, atol=1e-5):
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert actual.shape == desired.shape
    scale = max(1.0, float(np.abs(desired).max(initial=0.0)))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol * scale)


def assert_trees_close(actual, desired, **kw):
    assert jax.tree_util.tree_structure(actual) == jax.tree_util.tree_structure(desired)
    for a, b in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(desired)):
        assert_close(a, b, **kw)


#: these tests compare numbers, not speed: XLA:CPU's LLVM optimisation level 0 halves their
#: compile times (the HLO passes, fusion included, run as usual)
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _run(f, *args):
    """``jax.jit(f)(*args)``, compiled with ``FAST_COMPILE``."""
    return jax.jit(f).lower(*args).compile(FAST_COMPILE)(*args)


def _check(ref, fasts, params, x):
    """Output and VJP (w.r.t. params and input) of every module in ``fasts`` == ``ref``'s."""
    ct = normal(99, jax.eval_shape(ref.apply, params, x).shape)

    def one(module):
        y, vjp = jax.vjp(module.apply, params, x)
        return y, vjp(ct)

    want, outs = _run(lambda: (one(ref), [one(m) for m in fasts]))
    for got in outs:
        assert_trees_close(got, want)


def _random_params(module, x, seed):
    """Random-normal parameters (scale 0.3) in ``module``'s tree (shapes by eval_shape: no compilation)."""
    leaves, tree = jax.tree_util.tree_flatten(jax.eval_shape(module.init, jax.random.key(0), x))
    return tree.unflatten([normal(seed + i, leaf.shape, 0.3) for i, leaf in enumerate(leaves)])


def _fwd_and_grads(fns, args, ct):
    """For each fn: its output and the gradient of ``sum(fn(*args) * ct)`` w.r.t. all ``args``, in one jit."""

    def one(f):
        y, vjp = jax.vjp(f, *args)
        return y, vjp(ct)

    return _run(lambda: [one(f) for f in fns])


# ----------------------------------------------------------------------------- layers vs flax


def test_same_parameters_as_flax():
    """FastConv / FastUpConv2x create nn.Conv's / UpConv2x's (== nn.ConvTranspose's) parameter
    tree with the same initial values (checkpoints are interchangeable)."""
    x = normal(0, (1, 4, 4, 3))
    conv = dict(features=4, kernel_size=(4, 4), strides=(2, 2), padding=D_PAD)
    up_t = nn.ConvTranspose(5, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
    pairs = [(FastConv(**conv), nn.Conv(**conv)), (FastUpConv2x(5), UpConv2x(5)), (FastUpConv2x(5, impl="winograd"), up_t)]
    inits = _run(lambda x: [(a.init(jax.random.key(0), x), b.init(jax.random.key(0), x)) for a, b in pairs], x)
    for a, b in inits:
        assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


CONV_CASES = [
    # (input shape, features, kernel, strides, padding, use_bias)
    ((1, 8, 8, 3), 4, (4, 4), (2, 2), D_PAD, True),  # DCGAN D layer, batch 1
    ((2, 2, 7, 5, 2), 5, (4, 4), (2, 2), 1, False),  # two batch axes, odd and non-square, int padding
    ((1, 2, 2, 3), 2, (4, 4), (2, 2), D_PAD, True),  # 2x2 -> 1x1
    ((2, 5, 5, 4), 3, (2, 2), (1, 1), "VALID", True),  # UpConv2x's inner conv
    ((2, 6, 7, 3), 4, (3, 3), (1, 1), "SAME", False),  # no Winograd: xla (and auto == xla)
]


@pytest.mark.parametrize("shape,features,kernel,strides,padding,use_bias", CONV_CASES)
def test_fast_conv_matches_nn_conv(shape, features, kernel, strides, padding, use_bias):
    kw = dict(features=features, kernel_size=kernel, strides=strides, padding=padding, use_bias=use_bias)
    ref, x = nn.Conv(**kw), normal(0, shape)
    impls = ["xla", "auto"]
    if (tuple(kernel), tuple(strides)) in (((4, 4), (2, 2)), ((2, 2), (1, 1))):
        impls.append("winograd")  # F(2x2, 2x2): a 2x2 stride-1 kernel, or 4x4 stride 2 via space-to-depth
    _check(ref, [FastConv(**kw, impl=impl) for impl in impls], _random_params(ref, x, 1), x)


UP_CASES = [
    # (batch, H, W, in, out, use_bias)
    (1, 4, 4, 2, 3, True),  # batch 1 (+ nn.ConvTranspose itself); "auto" is Winograd on the CPU
    (2, 3, 5, 4, 3, False),  # odd, non-square; "auto" is col2im on the CPU
]


@pytest.mark.parametrize("batch,h,w,cin,cout,use_bias", UP_CASES)
def test_fast_upconv_matches_upconv_and_conv_transpose(batch, h, w, cin, cout, use_bias):
    ref, x = UpConv2x(cout, use_bias=use_bias), normal(2, (batch, h, w, cin))
    # UpConv2x == nn.ConvTranspose is tests/test_layers.py's job; one case here closes the loop
    transpose = [nn.ConvTranspose(cout, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)), use_bias=use_bias)] if batch == 1 else []
    _check(ref, [FastUpConv2x(cout, use_bias=use_bias, impl=impl) for impl in UP_IMPLS] + transpose, _random_params(ref, x, 3), x)


def test_bfloat16_and_preferred_element_type():
    """bfloat16 compute dtype, with and without float32 accumulation. "auto" traces both of
    its branches, which must agree in dtype (16 input channels: its CPU branch is Winograd,
    the up-conv's Winograd on 4x4 inputs and col2im on 2x2; "xla" is the other branch)."""
    x = normal(5, (2, 4, 4, 16))
    kw = dict(features=4, kernel_size=(4, 4), strides=(2, 2), padding=D_PAD)
    params = _random_params(nn.Conv(**kw), x, 6)
    up_params = _random_params(UpConv2x(4), x, 8)
    bf16, f32 = dict(dtype=jnp.bfloat16), dict(dtype=jnp.bfloat16, preferred_element_type=jnp.float32)

    def run(params, up_params, x):
        conv = (nn.Conv(**kw, **bf16).apply(params, x), nn.Conv(**kw).apply(params, x))
        conv_bf16 = [FastConv(**kw, **bf16).apply(params, x)]
        conv_f32 = [FastConv(**kw, **f32, impl=i).apply(params, x) for i in ("auto", "xla")]
        up = [UpConv2x(4).apply(up_params, v) for v in (x, x[:, :2, :2])]
        up_bf16 = [FastUpConv2x(4, **bf16).apply(up_params, v) for v in (x, x[:, :2, :2])]
        up_f32 = [FastUpConv2x(4, **f32).apply(up_params, v) for v in (x, x[:, :2, :2])]
        return conv, conv_bf16, conv_f32, up, up_bf16, up_f32

    (ref, exact), conv_bf16, conv_f32, up, up_bf16, up_f32 = _run(run, params, up_params, x)
    assert ref.dtype == jnp.bfloat16
    for y in conv_bf16:
        assert y.dtype == jnp.bfloat16
        assert_close(y.astype(jnp.float32), ref.astype(jnp.float32), rtol=2e-2, atol=2e-2)
    for y in conv_f32:  # bfloat16 products, float32 accumulation and output
        assert y.dtype == jnp.float32
        assert_close(y, exact, rtol=2e-2, atol=2e-2)
    for y, yb, yf in zip(up, up_bf16, up_f32):
        assert yb.dtype == jnp.bfloat16 and yf.dtype == jnp.float32
        assert_close(yb.astype(jnp.float32), y, rtol=3e-2, atol=3e-2)
        assert_close(yf, y, rtol=2e-2, atol=2e-2)


# ----------------------------------------------------------------------------- "auto" and the platform


def test_auto_choice_and_errors():
    # not the CPU: always lax's convolution
    for platform in ("gpu", "cuda", "rocm", "tpu"):
        assert auto_impl((64, 8, 8, 256), (4, 4, 256, 512), (2, 2), backend=platform) == "xla"
        assert auto_upconv_impl((64, 8, 8, 256), 128, backend=platform) == "xla"
    # CPU: Winograd for D's convs but the first (3 input channels) and for 2x2 stride-1 convs
    assert auto_impl((64, 8, 8, 256), (4, 4, 256, 512), (2, 2), backend="cpu") == "winograd"
    assert auto_impl((64, 64, 64, 3), (4, 4, 3, 64), (2, 2), backend="cpu") == "xla"
    assert auto_impl((64, 18, 18, 128), (2, 2, 128, 256), (1, 1), backend="cpu") == "winograd"
    assert auto_impl((64, 18, 18, 128), (3, 3, 128, 256), (1, 1), backend="cpu") == "xla"
    assert auto_impl((64, 18, 18, 128), (3, 3, 128, 256), (2, 2), backend="cpu") == "xla"
    # ... and for UpConv2x, col2im on inputs below 4x4
    assert auto_upconv_impl((64, 8, 8, 256), 128, backend="cpu") == "winograd"
    assert auto_upconv_impl((64, 4, 4, 512), 256, backend="cpu") == "winograd"
    assert auto_upconv_impl((64, 2, 2, 512), 256, backend="cpu") == "col2im"
    assert set(IMPLS) == {"auto", "xla", "winograd"} and set(UP_IMPLS) == {"auto", "xla", "winograd", "col2im"}
    x, k = normal(6, (1, 4, 4, 2)), normal(7, (2, 2, 2, 3))
    for gone in ("fft", "im2col", "s2d", "s2d_xla"):
        with pytest.raises(ValueError, match="unknown impl"):
            conv2d(x, k, impl=gone)
    for module in (FastConv, FastUpConv2x):
        with pytest.raises(ValueError, match="unknown impl"):
            module(3, impl="im2col")
    with pytest.raises(ValueError, match="needs a 2x2 stride-1 or 4x4 stride-2"):
        conv2d(x, normal(8, (3, 3, 2, 3)), impl="winograd")
    with pytest.raises(ValueError, match="larger than"):
        conv2d(x[:, :2, :2], normal(8, (4, 4, 2, 3)), (2, 2), "VALID", impl="winograd")
    with pytest.raises(ValueError, match="larger than"):
        winograd_valid(x[:, :1], k)
    with pytest.raises(ValueError, match="tile must be one of"):
        winograd_valid(x, k, tile=3)


def _platform_layers():
    """D's conv with 16 input channels and G's up-conv on 4x4 (Winograd) and 2x2 (col2im)
    inputs, all ``impl``; returns ``f(params, x) -> outputs`` and its params."""
    x = normal(30, (2, 4, 4, 16))
    conv, up = FastConv(4, (4, 4), strides=(2, 2), padding=D_PAD), FastUpConv2x(4)
    params = (_random_params(conv, x, 31), _random_params(up, x, 35))

    def make(impl):
        c, u = conv.clone(impl=impl), up.clone(impl=impl)
        return lambda p, x: (c.apply(p[0], x), u.apply(p[1], x), u.apply(p[1], x[:, :2, :2]))

    return make, params, x


def test_auto_follows_the_compilation_platform():
    """"auto" is chosen when the computation is lowered, for its platform: the CPU program
    holds the Winograd GEMMs and no convolution and no conditional; lowered for CUDA (or
    any other platform) it is lax's convolutions. Values and gradients equal "xla"'s."""
    make, params, x = _platform_layers()
    chosen = [auto_impl(x.shape, (4, 4, 16, 4), (2, 2), backend="cpu")]
    chosen += [auto_upconv_impl(v.shape, 4, backend="cpu") for v in (x, x[:, :2, :2])]
    assert chosen == ["winograd", "winograd", "col2im"]

    def grad(impl):
        loss = lambda p, x: sum(jnp.sum(jnp.sin(y)) for y in make(impl)(p, x))
        return jax.jit(jax.value_and_grad(loss, (0, 1))).trace(params, x)

    auto, xla = grad("auto"), grad("xla")
    cpu, cuda, xla_cuda = (f.lower(lowering_platforms=(p,)).as_text() for f, p in ((auto, "cpu"), (auto, "cuda"), (xla, "cuda")))
    # CPU: Winograd's batched GEMMs only; CUDA: lax's convolutions (forward, input and kernel
    # gradients of the three layers), as impl="xla" lowers to
    assert "stablehlo.convolution" not in cpu and cpu.count("stablehlo.dot_general") > cuda.count("stablehlo.dot_general")
    assert cuda.count("stablehlo.convolution") == xla_cuda.count("stablehlo.convolution") >= 9
    compiled = auto.lower().compile()  # for the default (CPU) device: no runtime conditional either
    assert not re.search(r"\b(conditional|convolution)\(", compiled.as_text())
    assert_trees_close(compiled(params, x), xla.lower().compile(FAST_COMPILE)(params, x))


# ----------------------------------------------------------------------------- Winograd building blocks


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_tiles_and_transpose_match_lax(tile):
    """Both Winograd tile sizes, odd sizes (padded tiles), the transposed op, and their
    gradients (custom VJPs) against lax.conv; bfloat16 inputs with float32 accumulation
    give float32 outputs and gradients of the input dtypes."""
    s, k = normal(10, (2, 10, 7, 5)), normal(11, (2, 2, 5, 6), 0.5)
    ref = lambda s, k: lax.conv_general_dilated(s, k, (1, 1), "VALID", dimension_numbers=DN)
    ref_t = lambda y, k: jax.vjp(lambda s: ref(s, k), s)[1](y)[0]  # the transpose of s -> conv(s, k)
    ct, ct2 = normal(12, (2, 9, 6, 6)), normal(13, s.shape)
    (y, gy), (y_ref, gy_ref) = _fwd_and_grads([lambda s, k: winograd_valid(s, k, tile=tile), ref], (s, k), ct)
    (t, gt), (t_ref, gt_ref) = _fwd_and_grads([lambda y, k: winograd_valid_T(y, k, tile=tile), ref_t], (ct, k), ct2)
    assert_trees_close((y, gy, t, gt), (y_ref, gy_ref, t_ref, gt_ref))
    if tile == 4:
        return
    # bfloat16 in, float32 accumulation out; gradients come back in the input dtypes (and
    # half precision always gets the additions-only F(2x2, 2x2))
    assert winograd_tile((16, 16), (64, 64), jnp.bfloat16) == 2 and winograd_tile((16, 16), (64, 64)) == 4
    sb, kb, cb = s.astype(jnp.bfloat16), k.astype(jnp.bfloat16), ct.astype(jnp.bfloat16)
    f32 = dict(preferred_element_type=jnp.float32, tile=tile)
    fwd = lambda s, k: winograd_valid(s, k, **f32)
    bwd = lambda y, k: winograd_valid_T(y, k, **f32)
    yb, tb, (gs, gk), (gy, gyk) = _run(
        lambda: (
            fwd(sb, kb),
            bwd(cb, kb),
            jax.grad(lambda s, k: jnp.sum(fwd(s, k) * ct), (0, 1))(sb, kb),
            jax.grad(lambda y, k: jnp.sum(bwd(y, k) * ct2), (0, 1))(cb, kb),
        )
    )
    assert yb.dtype == jnp.float32 and tb.dtype == jnp.float32
    assert_close(yb, y_ref, rtol=3e-2, atol=3e-2)
    assert gs.dtype == gk.dtype == gy.dtype == gyk.dtype == jnp.bfloat16


S2_CASES = [
    ((2, 17, 14, 3), D_PAD, 4),  # odd rows: a padded pixel row no output reads
    ((2, 17, 14, 3), D_PAD, 2),
    ((1, 12, 9, 2), ((2, 0), (0, 3)), 2),  # uneven padding, both phases of the leading pad
    ((1, 11, 12, 2), ((-1, 2), (1, -2)), 4),  # negative padding crops
]


def test_winograd_conv_s2_matches_lax():
    """The stride-2 Winograd conv with padding and space-to-depth folded into the tile
    transforms (phase by phase) and its custom VJP, against lax.conv, at both tiles."""
    fns, args, cts = [], [], []
    for i, (shape, pads, tile) in enumerate(S2_CASES):
        x, k = normal(20 + i, shape), normal(30 + i, (4, 4, shape[-1], 5), 0.5)
        ref = lambda x, k, pads=pads: lax.conv_general_dilated(x, k, (2, 2), pads, dimension_numbers=DN)
        ours = lambda x, k, pads=pads, tile=tile: winograd_conv_s2(x, k, pads, tile=tile)
        fns.append((ours, ref))
        args.append((x, k))
        cts.append(normal(40 + i, jax.eval_shape(ref, x, k).shape))
    # one compilation for all cases
    outs = _run(lambda: [[(jax.vjp(f, *a)[0], jax.vjp(f, *a)[1](c)) for f in pair] for pair, a, c in zip(fns, args, cts)])
    for case, (got, want) in zip(S2_CASES, outs):
        assert_trees_close(got, want)


def test_winograd_upconv_tile4_matches_conv_transpose():
    """winograd_upconv with enough channels for F(4x4, 2x2) (the DCGAN-64 choice from 8x8
    inputs) against the ConvTranspose it replaces: output and both gradients."""
    x, kernel = normal(23, (2, 8, 8, 32)), normal(24, (4, 4, 32, 8), 0.2)
    assert winograd_tile((8, 8), (4 * 8, 32)) == 4  # what winograd_upconv picks for this layer
    ref = lambda x, k: UpConv2x(8, use_bias=False).apply({"params": {"kernel": k}}, x)
    got, want = _fwd_and_grads([winograd_upconv, ref], (x, kernel), normal(25, (2, 16, 16, 8)))
    assert_trees_close(got, want)


# ----------------------------------------------------------------------------- second order


class _D(nn.Module):
    """A tiny critic of FastConv layers (smooth activations, so second derivatives are not trivial)."""

    impl: str

    @nn.compact
    def __call__(self, x):
        h = nn.silu(FastConv(4, (4, 4), strides=(2, 2), padding=D_PAD, impl=self.impl)(x))  # 8x8x3 -> 4x4x4
        h = nn.silu(FastConv(6, (4, 4), strides=(2, 2), padding=D_PAD, impl=self.impl)(h))  # -> 2x2x6
        return nn.Dense(1)(h.reshape(h.shape[0], -1))[:, 0]


class _G(nn.Module):
    """A tiny generator of FastUpConv2x layers: (2, 2, 4) -> (4, 4, 4) -> (8, 8, 3), one ``impl`` each."""

    impls: tuple[str, str]

    @nn.compact
    def __call__(self, z):
        h = nn.silu(FastUpConv2x(4, impl=self.impls[0])(z))
        return jnp.tanh(FastUpConv2x(3, impl=self.impls[1])(h))


def _penalties(d, g, pd, pg, real, fake, eps, z, y):
    """R1 (at the reals) and WGAN-GP (at the interpolates) through ``d``, path length
    (StyleGAN2's, w.r.t. the latent here) through ``g``: their values and gradients w.r.t.
    the parameters (and the penalties' w.r.t. the fakes). One input gradient of ``d`` over
    reals and interpolates together serves both D penalties (D has no batch coupling)."""
    n = real.shape[0]

    def d_penalties(pd, fake):
        both = jnp.concatenate([real, eps * real + (1 - eps) * fake])
        grads = jax.grad(lambda x: jnp.sum(d.apply(pd, x)))(both)
        sq = jnp.sum(grads**2, axis=(1, 2, 3))
        r1, gp = jnp.mean(sq[:n]), jnp.mean((jnp.sqrt(sq[n:] + 1e-12) - 1.0) ** 2)
        return r1 + gp, (r1, gp)

    def path_length(pg):
        jty = jax.grad(lambda z: jnp.sum(g.apply(pg, z) * y))(z)
        return jnp.mean(jnp.sum(jty**2, axis=(1, 2, 3)))

    return jax.value_and_grad(d_penalties, (0, 1), has_aux=True)(pd, fake), jax.value_and_grad(path_length)(pg)


def test_second_order_penalties_match_xla():
    """R1 and WGAN-GP through FastConv(impl="winograd") and path length through
    FastUpConv2x(impl="col2im", then "winograd") equal impl="xla": values and parameter
    gradients (the custom VJPs differentiated once more)."""
    real, fake, z = normal(50, (2, 8, 8, 3)), normal(51, (2, 8, 8, 3)), normal(52, (2, 2, 2, 4))
    eps, y = jax.random.uniform(jax.random.key(3), (2, 1, 1, 1)), normal(53, (2, 8, 8, 3))
    pd, pg = _random_params(_D("xla"), real, 60), _random_params(_G(("xla", "xla")), z, 70)
    nets = [(_D("xla"), _G(("xla", "xla"))), (_D("winograd"), _G(("col2im", "winograd")))]
    want, got = _run(lambda *a: [_penalties(d, g, *a) for d, g in nets], pd, pg, real, fake, eps, z, y)
    ((_, (r1, gp)), _), (pl, _) = want
    assert float(r1) > 0 and float(gp) > 0 and float(pl) > 0
    assert_trees_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_auto_under_pmap_and_mesh_on_8_devices():
    """"auto" (Winograd on the CPU) under jax.pmap and under jit over a Mesh/NamedSharding of 8
    forced CPU devices, with an R1-style second-order loss, equals single-device impl="xla"."""
    script = textwrap.dedent(
        """
        import re, jax, jax.numpy as jnp, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import tests.test_fast_conv as t
        assert len(jax.devices()) == 8
        make, params, x = t._platform_layers()
        x = jnp.concatenate([x] * 4)  # 8 examples

        def loss(f):
            def r1(p, x):
                g = jax.grad(lambda x: sum(jnp.sum(jnp.sin(y)) for y in f(p, x)))(x)
                return jnp.mean(jnp.sum(g**2, axis=(1, 2, 3)))
            return jax.value_and_grad(r1)

        want = t._run(loss(make("xla")), params, x)
        pm = jax.pmap(lambda p, x: jax.lax.pmean(loss(make("auto"))(p, x), "d"), axis_name="d", in_axes=(None, 0))
        xs = x.reshape(8, 1, *x.shape[1:])
        assert not re.search(r"\\b(conditional|convolution)\\(", pm.lower(params, xs).compile().as_text())
        got = jax.tree.map(lambda v: v[0], pm(params, xs))
        t.assert_trees_close(got, want, rtol=1e-4, atol=1e-5)
        mesh = Mesh(np.asarray(jax.devices()), ("data",))
        rep, dat = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
        fj = jax.jit(loss(make("auto")), in_shardings=(rep, dat), out_shardings=rep)
        xm = jax.device_put(x, dat)
        assert not re.search(r"\\b(conditional|convolution)\\(", fj.lower(params, xm).compile().as_text())
        t.assert_trees_close(fj(params, xm), want, rtol=1e-4, atol=1e-5)
        print("OK")
        """
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join(flags + ["--xla_force_host_platform_device_count=8"])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr
