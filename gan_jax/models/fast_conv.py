"""CPU-fast formulations of the convolutions DCGAN uses, equal to ``lax``'s up to
floating-point rounding (outputs, first- and second-order gradients checked by
``tests/test_fast_conv.py``).

* :func:`conv2d` -- a 2-D NHWC/HWIO convolution (``lax.conv_general_dilated`` with
  ``window_strides`` and ``padding``; no dilation, no groups) by ``impl``:

  - ``"xla"``: ``lax.conv_general_dilated`` itself (the reference; what ``nn.Conv`` runs);
  - ``"winograd"``: Winograd F(m x m, 2 x 2) (section below) for 2x2 stride-1 kernels
    and, via space-to-depth, 4x4 stride-2 ones (an error for other kernels);
  - ``"auto"`` (default): :func:`auto_impl`'s choice for the platform the computation is
    compiled for (``lax.platform_dependent``): on the CPU Winograd where it applies and
    pays, else ``"xla"``; ``"xla"`` on every other platform.

* :class:`FastConv` -- drop-in for ``nn.Conv(features, kernel_size, strides, padding,
  use_bias=..., dtype=...)``: same fields and parameters (``kernel`` ``(kh, kw,
  in_features, features)``, ``bias`` ``(features,)``), created with the same
  initialisers in the same order, so under the same module name (``name="Conv_0"``...)
  the parameter tree *and* the initial values are identical (checkpoints swap).

* :class:`FastUpConv2x` -- :class:`gan_jax.models.layers.UpConv2x` (the exact
  replacement of ``ConvTranspose(4, 2, p=1)``), same parameters, by ``impl``: ``"xla"``
  (``UpConv2x``'s sub-pixel ``lax`` convolution), ``"winograd"``
  (:func:`winograd_upconv`), ``"col2im"`` (:func:`col2im_upconv`) or ``"auto"``
  (:func:`auto_upconv_impl` for the compilation platform).

Why "auto" is resolved at lowering time: the platform a step runs on is that of the
devices it is compiled for (a jit on CPU devices of a GPU machine, a pmap, a Mesh), not
``jax.default_backend()``. ``lax.platform_dependent`` traces both branches and keeps only
the one for the lowering platform, so the compiled program has no runtime conditional.

Measurements behind the choices: ``benchmarks/results/fast_conv_history.md``
(``benchmarks/conv_cpu.py layers`` / ``step`` reproduce them).

Space-to-depth (why the stride-2 layers are exact 2x2 stride-1 convolutions). Write
the convolution (cross-correlation, as ``lax``; stride ``s``, ``xp`` the padded input)
as ``y[o] = sum_i xp[s*o + i] K[i]`` per axis. With ``kh = s * a_h`` and ``i = s*a +
r`` (``a < a_h``, ``r < s``): ``xp[s*o + i] = S[o + a, r]`` where ``S[q, r] =
xp[s*q + r]`` is a reshape + transpose of ``xp`` (cropped to ``s*(Ho + a_h - 1)`` rows,
the rows beyond are read by no output). The phase ``r`` joins the channel axis (index
``(r_h*s_w + r_w)*C + c``) and the kernel becomes ``K'[a_h, a_w, (r_h, r_w, c), f] =
K[s*a_h + r_h, s*a_w + r_w, c, f]`` (reshape + transpose, no gather): the strided
convolution is the stride-1 'VALID' convolution of ``S`` with ``K'``; for the 4x4
stride-2 layer a 2x2 kernel on ``4C`` channels. Every map involved is linear and its
transpose exact; nothing is approximated.

dtype: like ``nn.Conv``, inputs, kernel and bias are promoted to ``dtype``;
``preferred_element_type`` (e.g. ``jnp.float32`` with bfloat16 inputs) is passed to the
products, which then accumulate and return in that type.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen import dtypes, initializers
from jax import lax

from gan_jax.models.layers import UpConv2x

Array = Any

IMPLS = ("auto", "xla", "winograd")
#: ``FastUpConv2x`` also takes ``"col2im"`` (:func:`col2im_upconv`)
UP_IMPLS = IMPLS + ("col2im",)


# ----------------------------------------------------------------------------- helpers


def _pairs(padding, in_hw: Sequence[int], kernel_hw: Sequence[int], strides: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Normalise ``nn.Conv``-style padding to explicit ``((lo, hi), (lo, hi))``."""
    if isinstance(padding, str):
        if padding.upper() in ("SAME", "VALID", "SAME_LOWER"):
            return tuple(tuple(p) for p in lax.padtype_to_pads(tuple(in_hw), tuple(kernel_hw), tuple(strides), padding.upper()))
        raise ValueError(f"unsupported padding {padding!r} (use 'SAME', 'VALID', an int or explicit pairs)")
    if isinstance(padding, int):
        return tuple((padding, padding) for _ in kernel_hw)
    out = []
    for p in padding:
        out.append((p, p) if isinstance(p, int) else (int(p[0]), int(p[1])))
    if len(out) != len(kernel_hw):
        raise ValueError(f"padding {padding!r} does not match a {len(kernel_hw)}-D kernel")
    return tuple(out)


def _on_platform(cpu: Callable[..., Array], default: Callable[..., Array], *args: Array) -> Array:
    """``cpu(*args)`` where the computation is compiled for the CPU, ``default(*args)``
    elsewhere: ``lax.platform_dependent``, resolved at lowering time (only the chosen
    branch reaches the compiler; outside ``jit`` it runs the default device's branch)."""
    return lax.platform_dependent(*args, cpu=cpu, default=default)


# ----------------------------------------------------------------------------- Winograd F(m x m, 2 x 2)
#
# Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks", for the 2x2
# stride-1 'VALID' convolution every DCGAN layer reduces to (the discriminator's 4x4
# stride-2 convs after space-to-depth, the generator's transposed convs as the transpose
# of those). Fast because it does 9/16 (m=2) or 25/64 (m=4) of the multiply-adds and
# every product, forward and backward, is a batched GEMM over the channels. One spatial
# axis, correlation ``y[o] = d[o] g[0] + d[o+1] g[1]``: ``m`` outputs from ``m + 1``
# inputs with ``m + 1`` products instead of ``2m``, ``y = A^T [(G g) * (B^T d)]``.
# F(2, 2) (interpolation points 0, 1, infinity)::
#
#     m0 = (d0 - d1) g0,   m1 = d1 (g0 + g1),   m2 = (d2 - d1) g1
#     y0 = m0 + m1 = d0 g0 + d1 g1,             y1 = m1 + m2 = d1 g0 + d2 g1
#
# (every entry 0 or +-1: additions only). F(4, 2) (points 0, 1, -1, 2, infinity; the
# 1/2 and 1/6 of the Toom-Cook input transform moved into the kernel transform, which
# runs once per step on the weights, so the data transforms use small integers only).
# In 2-D an ``m x m`` output tile needs an ``(m+1) x (m+1)`` input tile and ``(m+1)^2``
# products instead of ``4 m^2``: 9/16 for m=2, 25/64 for m=4. Per tile position one GEMM
# over the channels, ``(tiles, C) @ (C, F)``, in the forward, the input gradient (the
# transposed transforms in reverse order) and the weight gradient alike (the custom
# VJPs below; all maps are linear). ``tests/test_fast_conv.py`` checks output and gradients
# against ``lax`` for both tile sizes; the float32 error is that of the extra additions
# (about 1e-6 relative for m=2, a few 1e-6 for m=4).

_WINOGRAD = {
    # m: (A^T (m x a), G (a x 2), B^T (a x a)), a = m + 1
    2: (
        ((1, 1, 0), (0, 1, 1)),
        ((1, 0), (1, 1), (0, 1)),
        ((1, -1, 0), (0, 1, 0), (0, -1, 1)),
    ),
    4: (
        ((1, 1, 1, 1, 0), (0, 1, -1, 2, 0), (0, 1, 1, 4, 0), (0, 1, -1, 8, 1)),
        ((0.5, 0), (0.5, 0.5), (1 / 6, -1 / 6), (1 / 6, 1 / 3), (0, 1)),
        ((2, -1, -2, 1, 0), (0, 2, 1, -1, 0), (0, -2, 3, -1, 0), (0, -1, 0, 1, 0), (0, 2, -1, -2, 1)),
    ),
}


def _lin(mat, xs: Sequence[Array]) -> list[Array]:
    """``[sum_j mat[i][j] * xs[j] for i]`` with the zero terms skipped and +-1 as add/subtract."""
    out = []
    for row in mat:
        acc = None
        for c, x in zip(row, xs):
            if c == 0:
                continue
            if acc is None:
                acc = x if c == 1 else (-x if c == -1 else x * c)
            elif c == 1:
                acc = acc + x
            elif c == -1:
                acc = acc - x
            else:
                acc = acc + x * c
        out.append(acc)
    return out


def _transposed(mat) -> tuple:
    return tuple(zip(*mat))


def _wino_in(s: Array, t: int, axis: int, m: int) -> list[Array]:
    """B^T along ``axis`` for ``t`` tiles: tile ``i`` reads ``s[m*i .. m*i + m]`` (``s``
    has exactly ``m*(t + 1)`` entries there; a reshape, no gather)."""
    s2 = s.reshape(s.shape[:axis] + (t + 1, m) + s.shape[axis + 1 :])
    head = lax.slice_in_dim(s2, 0, t, axis=axis)
    d = [lax.index_in_dim(head, j, axis + 1, keepdims=False) for j in range(m)]
    d.append(lax.index_in_dim(lax.slice_in_dim(s2, 1, t + 1, axis=axis), 0, axis + 1, keepdims=False))
    return _lin(_WINOGRAD[m][2], d)


def _wino_in_T(v: Sequence[Array], axis: int, m: int) -> Array:
    """The transpose of :func:`_wino_in`: ``m + 1`` arrays of ``t`` tiles -> ``m*(t + 1)``
    entries along ``axis`` (entry ``m*i + j`` gets ``d_j[i]``, and ``m*i`` also ``d_m[i-1]``)."""
    d = _lin(_transposed(_WINOGRAD[m][2]), v)
    widths = [(0, 0)] * d[0].ndim
    after, before = list(widths), list(widths)
    after[axis], before[axis] = (0, 1), (1, 0)
    groups = [jnp.pad(d[0], after) + jnp.pad(d[m], before)] + [jnp.pad(d[j], after) for j in range(1, m)]
    both = jnp.stack(groups, axis=axis + 1)
    return both.reshape(both.shape[:axis] + (-1,) + both.shape[axis + 2 :])


def _wino_kernel(k: Array, m: int) -> Array:
    """G g G^T: ``(2, 2, C, F)`` -> ``((m+1)^2, C, F)`` (row-major over the tile), as
    one ``((m+1)^2, 4) @ (4, C*F)`` matrix product with the constant ``G (x) G`` (it and
    its transpose, the kernel gradient, read the kernel once)."""
    g = np.asarray(_WINOGRAD[m][1], np.float64)  # (a, 2)
    a, c, f = g.shape[0], k.shape[2], k.shape[3]
    gg = np.einsum("xi,yj->xyij", g, g).reshape(a * a, 4)
    # HIGHEST: exact float32 sums on every backend (no TF32 on GPUs for this small product)
    prod = lax.dot_general(jnp.asarray(gg, k.dtype), k.reshape(4, c * f), (((1,), (0,)), ((), ())), precision=lax.Precision.HIGHEST)
    return prod.reshape(a * a, c, f)


def _wino_out(mt: Array, m: int) -> Array:
    """A^T M A over the two leading ``(m+1)`` axes -> ``(m, m, ...)``."""
    at = _WINOGRAD[m][0]
    rows = _lin(at, list(mt))  # m x (a, ...)
    return jnp.stack([jnp.stack(_lin(at, list(r))) for r in rows])


def _wino_out_T(y: Array, m: int) -> Array:
    """The transpose of :func:`_wino_out`: ``(m, m, ...)`` -> ``(m+1, m+1, ...)``."""
    a = _transposed(_WINOGRAD[m][0])
    rows = _lin(a, list(y))  # a x (m, ...)
    return jnp.stack([jnp.stack(_lin(a, list(r))) for r in rows])


def _ceil_div(n: int, m: int) -> int:
    return -(-n // m)


def winograd_tile(out_hw: Sequence[int], channels: Sequence[int], dtype: Any = jnp.float32) -> int:
    """The output tile ``m`` for an output of ``out_hw``, a kernel's ``(C, F)`` and the
    input ``dtype``: 4 from 8x8 outputs with at least 32 channels on both sides in float32
    or wider, else 2. Half-precision inputs always get 2: F(4x4, 2x2)'s transforms
    (entries up to 8, and 1/6 in the kernel's) amplify bfloat16 rounding to ~10% errors,
    while F(2x2, 2x2)'s are additions only. F(4x4, 2x2) does 25/36 of F(2x2, 2x2)'s
    products but its transforms have more terms, so it pays only on large enough layers
    (thresholds measured, see ``benchmarks/results/fast_conv_history.md``)."""
    if jnp.dtype(dtype).itemsize < 4:
        return 2
    return 4 if min(out_hw) >= 8 and min(channels) >= 32 else 2


# The four data transforms, as functions of the tiling (m, t, u) of an output of size
# (ho, wo). "in": the input (N, ho+1, wo+1, C) -> V (a*a, N*t*u, C); "out": P (a*a,
# N*t*u, F) -> the output (N, ho, wo, F); and their transposes. Each is written out
# (reshape-based tile extraction, the matrices applied as sums of slices), and the
# convolutions below have custom VJPs made of these, so the backward passes are as
# direct as the forward ones (instead of JAX's derived transposes of the tile
# extraction, chains of pads and adds). The stride-2 layers (D's convs, G's transposed
# convs) read pixels, not space-to-depth cells: their custom VJPs take the unpadded
# pixel-domain array and extract each of the four stride-2 phases with a strided slice
# (_in_s2d), which XLA fuses into the tile extraction. The kernels' space-to-depth (and
# flip, for G) also happens inside the custom VJPs (_prep_kernel), so their gradients
# come out in the layers' shape. Higher-order gradients (R1, WGAN-GP) differentiate the
# custom VJPs' forward and backward functions, which are ordinary JAX code.


def _tile(ho: int, wo: int, c: int, f: int, tile: int | None, dtype: Any) -> int:
    m = winograd_tile((ho, wo), (c, f), dtype) if tile is None else tile
    if m not in _WINOGRAD:
        raise ValueError(f"Winograd tile must be one of {sorted(_WINOGRAD)}, got {m}")
    return m


def _fit(x: Array, rows: int, cols: int) -> Array:
    """Zero-pad or crop the two spatial axes of NHWC ``x`` at the end to ``(rows, cols)``."""
    if x.shape[1:3] == (rows, cols):
        return x
    zero = jnp.zeros((), x.dtype)
    return lax.pad(x, zero, ((0, 0, 0), (0, rows - x.shape[1], 0), (0, cols - x.shape[2], 0), (0, 0, 0)))


def _in(s: Array, m: int, t: int, u: int) -> Array:
    n, c = s.shape[0], s.shape[3]
    s = _fit(s, m * (t + 1), m * (u + 1))
    # Two passes, each one stack of m+1 arrays: rows of all tiles, then columns of all rows at once.
    rows = jnp.stack(_wino_in(s, t, 1, m))  # (a, N, t, m*(u+1), C)
    v = jnp.stack(_wino_in(rows, u, 3, m), axis=1)  # (a, a, N, t, u, C)
    return v.reshape((m + 1) ** 2, n * t * u, c)


def _phase(x: Array, axis: int, r: int, lo: int, hq: int, total: int) -> Array:
    """Phase ``r`` of ``xp`` = ``x`` zero-padded by ``lo`` at the start of ``axis``, cut
    to ``2*hq`` entries, then zero-padded to ``2*total``: ``xp[2q + r]`` for ``q <
    total``, i.e. ``x[2q + r - lo]`` where that is inside ``x`` and ``q < hq``, else 0.
    One strided slice of ``x`` and one pad, both fused into the consumer by XLA (a
    padded copy of ``x`` read by the four phases would be materialised instead)."""
    first = max(0, -(-(lo - r) // 2))  # the first q whose 2q + r - lo >= 0
    start = 2 * first + r - lo
    size = x.shape[axis]
    keep = max(0, min(-(-(size - start) // 2), hq - first))
    xs = lax.slice_in_dim(x, start, start + 2 * (keep - 1) + 1, stride=2, axis=axis) if keep else lax.slice_in_dim(x, 0, 0, axis=axis)
    widths = [(0, 0, 0)] * x.ndim
    widths[axis] = (first, total - first - keep, 0)
    return lax.pad(xs, jnp.zeros((), x.dtype), widths)


def _in_s2d(x: Array, m: int, t: int, u: int, hq: int, wq: int, lo: tuple[int, int] = (0, 0)) -> Array:
    """``_in(space_to_depth(xp))`` where ``xp`` is the NHWC ``x`` zero-padded by ``lo``
    rows / columns at the start (and with zeros beyond): ``(N, H, W, C)`` -> ``(a*a,
    N*t*u, 4C)`` for ``(hq, wq)`` stride-2 cells read, channel index ``(r_h*2 + r_w)*C +
    c`` (the module docstring's space-to-depth). Each phase ``xp[:, r_h::2, r_w::2]`` is taken from
    ``x`` by a strided slice (:func:`_phase`), transformed on its own, and the four
    results stacked next to the channel axis: the same numbers, read with strided loads
    instead of materialising the padding and the space-to-depth transpose."""
    a, n, c = m + 1, x.shape[0], x.shape[3]
    phases = [
        _in(_phase(_phase(x, 1, rh, lo[0], hq, m * (t + 1)), 2, rw, lo[1], wq, m * (u + 1)), m, t, u)
        for rh in (0, 1)
        for rw in (0, 1)
    ]
    return jnp.stack(phases, axis=2).reshape(a * a, n * t * u, 4 * c)


def _s2d_grad_to_pixels(ds: Array, hw: tuple[int, int], lo: tuple[int, int]) -> Array:
    """The transpose of :func:`_in_s2d`'s pad + space-to-depth: ``(N, hq, wq, 4C)`` cell
    gradients -> the ``(N, H, W, C)`` gradient of ``x`` (depth-to-space, drop the ``lo``
    padding, zeros for pixels no cell reads)."""
    d = _depth_to_space(ds)  # (N, 2hq, 2wq, C): the gradient of xp[:, :2hq, :2wq]
    zero = jnp.zeros((), d.dtype)
    (h, w), (lh, lw) = hw, lo
    return lax.pad(d, zero, ((0, 0, 0), (-lh, h + lh - d.shape[1], 0), (-lw, w + lw - d.shape[2], 0), (0, 0, 0)))


def _depth_to_space(s: Array) -> Array:
    """``(N, H, W, 4F)`` space-to-depth cells -> ``(N, 2H, 2W, F)`` pixels (the inverse of
    the space-to-depth rearrangement)."""
    n, hq, wq, c4 = s.shape
    f = c4 // 4
    return s.reshape(n, hq, wq, 2, 2, f).transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * hq, 2 * wq, f)


def _in_T(v: Array, m: int, n: int, hs: int, ws: int, ho: int, wo: int) -> Array:
    a, c = m + 1, v.shape[-1]
    t, u = _ceil_div(ho, m), _ceil_div(wo, m)
    v = v.reshape(a, a, n, t, u, c)
    rows = _wino_in_T([v[:, j] for j in range(a)], 3, m)  # (a, N, t, m*(u+1), C)
    return _fit(_wino_in_T([rows[i] for i in range(a)], 1, m), hs, ws)  # (N, m*(t+1), m*(u+1), C) -> (N, hs, ws, C)


def _out(p: Array, m: int, n: int, ho: int, wo: int) -> Array:
    a, f = m + 1, p.shape[-1]
    t, u = _ceil_div(ho, m), _ceil_div(wo, m)
    y = _wino_out(p.reshape(a, a, n, t, u, f), m)  # (m, m, N, t, u, F): y[p, q, n, i, j] = out[n, m*i+p, m*j+q]
    return y.transpose(2, 3, 0, 4, 1, 5).reshape(n, m * t, m * u, f)[:, :ho, :wo]


def _out_T(y: Array, m: int) -> Array:
    n, ho, wo, f = y.shape
    t, u = _ceil_div(ho, m), _ceil_div(wo, m)
    y = jnp.pad(y, ((0, 0), (0, m * t - ho), (0, m * u - wo), (0, 0)))
    yt = y.reshape(n, t, m, u, m, f).transpose(2, 4, 0, 1, 3, 5)  # (m, m, N, t, u, F)
    return _wino_out_T(yt, m).reshape((m + 1) ** 2, n * t * u, f)


def _bdot(x: Array, y: Array, contract: tuple[int, int], precision, preferred_element_type) -> Array:
    """Batched (over the leading tile-position axis) matrix product."""
    return lax.dot_general(x, y, (((contract[0],), (contract[1],)), ((0,), (0,))), precision=precision, preferred_element_type=preferred_element_type)


def _prep_kernel(k: Array, kind: str | None) -> Array:
    """The layer's kernel -> the ``(2, 2, C, F)`` kernel of the stride-1 conv: ``None``:
    itself; ``"s2"``: a ``(4, 4, C, F)`` stride-2 kernel after space-to-depth
    (:func:`_s2d_kernel`); ``"up"``: ``UpConv2x``'s ``(4, 4, C, F)`` kernel, flipped and
    transposed, then space-to-depth (see :func:`winograd_upconv`)."""
    if kind == "up":
        k = jnp.flip(k, (0, 1)).transpose(0, 1, 3, 2)
    return k if kind is None else _s2d_kernel(k)


def _kernel_vjp(k: Array, m: int, du: Array, kind: str | None) -> Array:
    """The layer kernel's gradient from ``du``, the gradient of the transformed kernel
    ``G g G^T`` (the transposes of the kernel transform and of :func:`_prep_kernel`)."""
    return jax.vjp(lambda kk: _wino_kernel(_prep_kernel(kk, kind), m), k)[1](du.astype(k.dtype))[0]


# ``meta``: static shapes for the backward pass -- (N, H, W, Ho, Wo, dtype of the input)
# for the convolution, (N, Ho, Wo, dtype) for its transpose.
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _wino_conv(s: Array, k: Array, m: int, precision, preferred_element_type, meta) -> Array:
    return _wino_conv_fwd(s, k, m, precision, preferred_element_type, meta)[0]


def _wino_conv_fwd(s, k, m, precision, preferred_element_type, meta):
    n, hs, ws, ho, wo, _, pix = meta
    t, u = _ceil_div(ho, m), _ceil_div(wo, m)
    v = _in(s, m, t, u) if pix is None else _in_s2d(s, m, t, u, hs, ws, pix[2:])
    p = _bdot(v, _wino_kernel(_prep_kernel(k, None if pix is None else "s2"), m), (2, 1), precision, preferred_element_type)
    return _out(p, m, n, ho, wo), (v, k)


def _wino_conv_bwd(m, precision, preferred_element_type, meta, res, dy):
    v, k = res
    n, hs, ws, ho, wo, s_dtype, pix = meta
    dp = _out_T(dy, m)  # (a*a, M, F)
    kind = None if pix is None else "s2"
    ds = _in_T(_bdot(dp, _wino_kernel(_prep_kernel(k, kind), m), (2, 2), precision, None), m, n, hs, ws, ho, wo)
    if pix is not None:  # back to the unpadded pixels
        ds = _s2d_grad_to_pixels(ds, pix[:2], pix[2:])
    du = _bdot(v, dp, (1, 1), precision, None)  # (a*a, C, F)
    return ds.astype(s_dtype), _kernel_vjp(k, m, du, kind)


_wino_conv.defvjp(_wino_conv_fwd, _wino_conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _wino_conv_T(y: Array, k: Array, m: int, precision, preferred_element_type, meta) -> Array:
    return _wino_conv_T_fwd(y, k, m, precision, preferred_element_type, meta)[0]


def _wino_conv_T_fwd(y, k, m, precision, preferred_element_type, meta):
    n, ho, wo, _, d2s = meta
    q = _out_T(y, m)
    v = _bdot(q, _wino_kernel(_prep_kernel(k, "up" if d2s else None), m), (2, 2), precision, preferred_element_type)
    z = _in_T(v, m, n, ho + 1, wo + 1, ho, wo)
    return (_crop1(_depth_to_space(z)) if d2s else z), (q, k)


def _wino_conv_T_bwd(m, precision, preferred_element_type, meta, res, dz):
    q, k = res
    n, ho, wo, y_dtype, d2s = meta
    t, u = _ceil_div(ho, m), _ceil_div(wo, m)
    g = _in_s2d(dz, m, t, u, ho + 1, wo + 1, (1, 1)) if d2s else _in(dz, m, t, u)  # (a*a, M, C)
    kind = "up" if d2s else None
    dy = _out(_bdot(g, _wino_kernel(_prep_kernel(k, kind), m), (2, 1), precision, None), m, n, ho, wo)
    du = _bdot(g, q, (1, 1), precision, None)  # (a*a, C, F)
    return dy.astype(y_dtype), _kernel_vjp(k, m, du, kind)


_wino_conv_T.defvjp(_wino_conv_T_fwd, _wino_conv_T_bwd)


def winograd_valid(s: Array, k: Array, precision=None, preferred_element_type=None, tile: int | None = None) -> Array:
    """Stride-1 'VALID' convolution of NHWC ``s`` with a ``(2, 2, C, F)`` kernel by
    Winograd F(m x m, 2 x 2), ``m = tile`` (2 or 4; default :func:`winograd_tile`):
    ``(N, H, W, C)`` -> ``(N, H-1, W-1, F)``. Output sizes that are not a multiple of
    ``m`` are padded to whole tiles with zeros and cropped. Custom VJP: the input
    gradient is :func:`winograd_valid_T`'s computation, the kernel gradient one batched
    GEMM of the transformed input and the transformed cotangent."""
    n, hs, ws, c = s.shape
    if k.shape[:2] != (2, 2):
        raise ValueError(f"winograd_valid needs a 2x2 kernel, got {k.shape}")
    if hs < 2 or ws < 2:
        raise ValueError(f"kernel (2, 2) larger than the input {(hs, ws)}")
    ho, wo = hs - 1, ws - 1
    m = _tile(ho, wo, c, k.shape[3], tile, s.dtype)
    return _wino_conv(s, k, m, precision, preferred_element_type, (n, hs, ws, ho, wo, jnp.dtype(s.dtype), None))


def winograd_conv_s2(x: Array, kernel: Array, pads=((0, 0), (0, 0)), precision=None, preferred_element_type=None, tile: int | None = None) -> Array:
    """Stride-2 convolution of the NHWC ``x`` zero-padded by ``pads`` (``((lo, hi), (lo,
    hi))``) with a ``(4, 4, C, F)`` kernel: pad, space-to-depth, then
    :func:`winograd_valid` with the ``(2, 2, 4C, F)`` kernel -- the same numbers, with the
    padding and the space-to-depth folded into the Winograd input transform
    (:func:`_in_s2d`) and, in the backward pass, their transposes into the input
    gradient. ``(N, H, W, C)`` -> ``(N, (H+lo+hi-4)//2 + 1, (W+lo+hi-4)//2 + 1, F)``."""
    n, h, w, c = x.shape
    (plh, phh), (plw, phw) = pads
    hp, wp = h + plh + phh, w + plw + phw
    if kernel.shape[:2] != (4, 4):
        raise ValueError(f"winograd_conv_s2 needs a 4x4 kernel, got {kernel.shape}")
    if hp < 4 or wp < 4:
        raise ValueError(f"kernel (4, 4) larger than the padded input {(hp, wp)}")
    if min(plh, phh, plw, phw) < 0:  # negative padding crops: do it first, then pad nothing
        x = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (plh, phh, 0), (plw, phw, 0), (0, 0, 0)))
        return winograd_conv_s2(x, kernel, ((0, 0), (0, 0)), precision, preferred_element_type, tile)
    ho, wo = (hp - 4) // 2 + 1, (wp - 4) // 2 + 1
    m = _tile(ho, wo, 4 * c, kernel.shape[3], tile, x.dtype)
    # the kernel goes in as it is: its space-to-depth (and that transform's transpose in
    # the backward pass) happens inside the custom VJP (_prep_kernel, _kernel_vjp)
    return _wino_conv(x, kernel, m, precision, preferred_element_type, (n, ho + 1, wo + 1, ho, wo, jnp.dtype(x.dtype), (h, w, plh, plw)))


def winograd_valid_T(y: Array, k: Array, precision=None, preferred_element_type=None, tile: int | None = None) -> Array:
    """The transpose (input gradient) of :func:`winograd_valid` w.r.t. ``s`` applied to
    ``y``: ``(N, Ho, Wo, F)`` -> ``(N, Ho+1, Wo+1, C)`` for a ``(2, 2, C, F)`` kernel --
    a stride-1 'FULL' correlation with the flipped kernel, by the same transforms
    transposed, in reverse order (A, then the kernel transposed, then B). Custom VJP:
    the cotangent's gradient is :func:`winograd_valid`'s computation."""
    n, ho, wo, f = y.shape
    m = _tile(ho, wo, k.shape[2], f, tile, y.dtype)
    return _wino_conv_T(y, k, m, precision, preferred_element_type, (n, ho, wo, jnp.dtype(y.dtype), False))


def _s2d_kernel(kernel: Array) -> Array:
    """``(4, 4, C, F)`` -> the ``(2, 2, 4C, F)`` kernel of the space-to-depth'd stride-2 conv."""
    c, f = kernel.shape[2:]
    return kernel.reshape(2, 2, 2, 2, c, f).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, f)


def _crop1(p: Array) -> Array:
    """Drop the 1-pixel border of NHWC ``p`` (the transpose of pad 1)."""
    return p[:, 1 : p.shape[1] - 1, 1 : p.shape[2] - 1]


def winograd_upconv(x: Array, kernel: Array, precision=None, preferred_element_type=None) -> Array:
    """:class:`~gan_jax.models.layers.UpConv2x` without bias (``ConvTranspose(4, stride
    2)`` with ``padding=2``, ``transpose_kernel=False``) by Winograd F(m x m, 2 x 2):
    ``(N, H, W, C)`` -> ``(N, 2H, 2W, F)``.

    That transposed convolution is the input gradient of the stride-2, padding-1 4x4
    convolution ``z (N, 2H, 2W, F) -> (N, H, W, C)`` with the spatially flipped kernel
    ``K'[i, j, f, c] = K[3-i, 3-j, c, f]`` (one axis: ``y[o] = sum_i x[i] K[2i + 2 - o]``,
    and the conv's transpose is ``sum_i x[i] K'[o + 1 - 2i]`` with ``K'[a] = K[3 - a]``).
    That convolution is pad 1 -> space-to-depth -> 2x2 'VALID' conv, so its transpose is
    :func:`winograd_valid_T` -> depth-to-space -> crop 1."""
    n, h, w, c = x.shape
    m = _tile(h, w, 4 * kernel.shape[3], c, None, x.dtype)  # the inner conv's kernel: (2, 2, 4F, C)
    # winograd_valid_T (N, H+1, W+1, 4F), with the depth-to-space and the crop inside its
    # custom VJP so that the backward pass reads the pixel cotangent phase by phase (_in_s2d)
    return _wino_conv_T(x, kernel, m, precision, preferred_element_type, (n, h, w, jnp.dtype(x.dtype), True))


def col2im_upconv(x: Array, kernel: Array, precision=None, preferred_element_type=None) -> Array:
    """:class:`~gan_jax.models.layers.UpConv2x` without bias as one GEMM plus col2im --
    the same transpose of the flipped-kernel stride-2 conv as :func:`winograd_upconv`,
    without the Winograd transforms: ``x (N*H*W, C) @ K'^T (C, 2*2*4F)`` gives, for every
    input pixel, its contribution to the 2x2 space-to-depth cells it touches; the four
    shifted copies are added (col2im) into ``(N, H+1, W+1, 4F)``, then depth-to-space
    and crop 1. Multiply-adds: exactly the transposed convolution's ``16 N H W C F`` (the
    sub-pixel formulation computes ``(H+1)(W+1)/(HW)`` times that: 1.56x at 4x4 input)."""
    n, h, w, c = x.shape
    f = kernel.shape[-1]
    k = _s2d_kernel(jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2))  # (2, 2, 4F, C)
    cols = lax.dot_general(
        x, k.reshape(4, 4 * f, c), (((3,), (2,)), ((), ())), precision=precision, preferred_element_type=preferred_element_type
    ).reshape(n, h, w, 2, 2, 4 * f)  # input pixel (i, j), tap (a, b) -> cell (i + a, j + b)
    s = sum(jnp.pad(cols[:, :, :, a, b], ((0, 0), (a, 1 - a), (b, 1 - b), (0, 0))) for a in (0, 1) for b in (0, 1))
    return _crop1(_depth_to_space(s))


def _winograd_ok(kernel_shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Winograd F(m x m, 2 x 2) applies to 2x2 stride-1 kernels and (via space-to-depth) 4x4 stride-2 ones."""
    return (tuple(kernel_shape[:2]), tuple(strides)) in (((2, 2), (1, 1)), ((4, 4), (2, 2)))


#: on the CPU, ``"auto"`` runs Winograd for convs it applies to with at least this many input channels
AUTO_WINOGRAD_MIN_IN = 16
#: ... and for ``UpConv2x`` on inputs of at least this height and width (``"col2im"`` below)
AUTO_WINOGRAD_MIN_HW = 4


def auto_impl(in_shape: Sequence[int], kernel_shape: Sequence[int], strides: Sequence[int] = (1, 1), *, backend: str) -> str:
    """The :func:`conv2d` impl ``"auto"`` uses for an NHWC input and HWIO kernel on the
    platform ``backend`` (``"cpu"``, ``"cuda"``, ``"rocm"``, ``"tpu"``, ``"gpu"``...).

    Not the CPU: ``"xla"``. CPU: ``"winograd"`` for 2x2 stride-1 and 4x4 stride-2 kernels
    with at least ``AUTO_WINOGRAD_MIN_IN`` input channels (the discriminator's convs but
    the first, whose 3 input channels make the transforms cost more than they save),
    else ``"xla"``."""
    if backend != "cpu":
        return "xla"
    if _winograd_ok(kernel_shape, strides) and kernel_shape[2] >= AUTO_WINOGRAD_MIN_IN:
        return "winograd"
    return "xla"


def auto_upconv_impl(in_shape: Sequence[int], features: int, *, backend: str) -> str:
    """What ``FastUpConv2x(impl="auto")`` does for an NHWC input on the platform
    ``backend``: not the CPU, ``"xla"``; CPU: ``"winograd"`` (:func:`winograd_upconv`)
    from ``AUTO_WINOGRAD_MIN_HW`` input rows and columns, else ``"col2im"``
    (:func:`col2im_upconv`, which needs no padding to whole tiles: on smaller inputs the
    tiles would be mostly padding)."""
    if backend != "cpu":
        return "xla"
    if min(in_shape[-3], in_shape[-2]) >= AUTO_WINOGRAD_MIN_HW:
        return "winograd"
    return "col2im"


# ----------------------------------------------------------------------------- conv2d


def _conv_xla(x: Array, kernel: Array, strides, pads, precision, preferred_element_type) -> Array:
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=pads,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )


def _conv_winograd(x: Array, kernel: Array, strides, pads, precision, preferred_element_type) -> Array:
    if not _winograd_ok(kernel.shape, strides):
        raise ValueError(f"impl 'winograd' needs a 2x2 stride-1 or 4x4 stride-2 kernel, got {kernel.shape[:2]} stride {strides}")
    if strides != (1, 1):
        return winograd_conv_s2(x, kernel, pads, precision, preferred_element_type)
    return winograd_valid(jnp.pad(x, ((0, 0), *pads, (0, 0))), kernel, precision, preferred_element_type)


_CONV = {"xla": _conv_xla, "winograd": _conv_winograd}


def conv2d(
    x: Array,
    kernel: Array,
    strides: Sequence[int] = (1, 1),
    padding: Any = "VALID",
    *,
    impl: str = "auto",
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """``lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=("NHWC",
    "HWIO", "NHWC"))`` computed by ``impl`` (see the module docstring). ``x``: ``(N, H, W,
    C)``; ``kernel``: ``(kh, kw, C, F)``; ``padding``: "VALID", "SAME", an int, or pairs."""
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; choose one of {IMPLS}")
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(f"conv2d needs an NHWC input and an HWIO kernel, got {x.shape} and {kernel.shape}")
    strides = tuple(int(s) for s in strides)
    pads = _pairs(padding, x.shape[1:3], kernel.shape[:2], strides)
    run = lambda name: lambda x, k: _CONV[name](x, k, strides, pads, precision, preferred_element_type)
    if impl != "auto":
        return run(impl)(x, kernel)
    cpu = auto_impl(x.shape, kernel.shape, strides, backend="cpu")
    other = auto_impl(x.shape, kernel.shape, strides, backend="default")
    if cpu == other:
        return run(cpu)(x, kernel)
    return _on_platform(run(cpu), run(other), x, kernel)


# ----------------------------------------------------------------------------- layers


class FastConv(nn.Module):
    """Drop-in for ``nn.Conv`` (2-D, NHWC; no dilation, no feature groups, no mask) with
    a selectable implementation ``impl`` (``"auto"``, ``"xla"``, ``"winograd"``; see
    :func:`conv2d`). Same fields and parameters as ``nn.Conv``: ``kernel`` ``(kh, kw,
    in_features, features)`` from ``kernel_init``, then ``bias`` ``(features,)`` from
    ``bias_init``; pass ``name="Conv_<i>"`` when replacing an auto-named ``nn.Conv`` to
    keep the parameter tree."""

    features: int
    kernel_size: Sequence[int] = (3, 3)
    strides: Sequence[int] | int = 1
    padding: Any = "SAME"
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Any = nn.linear.default_kernel_init
    bias_init: Any = initializers.zeros_init()
    preferred_element_type: Any = None
    impl: str = "auto"

    def __post_init__(self):
        if self.impl not in IMPLS:
            raise ValueError(f"unknown impl {self.impl!r}; choose one of {IMPLS}")
        super().__post_init__()

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        kernel_size = tuple(self.kernel_size)
        if len(kernel_size) != 2:
            raise ValueError(f"FastConv is 2-D, got kernel_size {self.kernel_size}")
        strides = (self.strides, self.strides) if isinstance(self.strides, int) else tuple(self.strides)
        # Same batch handling as nn.Conv: flatten (or add) one batch axis.
        n_batch = inputs.ndim - 3
        if n_batch != 1:
            batch_shape = inputs.shape[:n_batch]
            inputs = jnp.reshape(inputs, (-1,) + inputs.shape[n_batch:])
        in_features = inputs.shape[-1]
        kernel = self.param("kernel", self.kernel_init, kernel_size + (in_features, self.features), self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        inputs, kernel, bias = dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = conv2d(
            inputs,
            kernel,
            strides,
            self.padding,
            impl=self.impl,
            precision=self.precision,
            preferred_element_type=self.preferred_element_type,
        )
        if bias is not None:
            y = y + bias.reshape((1, 1, 1, -1)).astype(y.dtype)
        if n_batch != 1:
            y = jnp.reshape(y, batch_shape + y.shape[1:])
        return y


class FastUpConv2x(UpConv2x):
    """:class:`~gan_jax.models.layers.UpConv2x` (same fields, same parameters: ``kernel``
    ``(4, 4, in_features, features)``, ``bias``) computed by ``impl``: ``"xla"`` is
    ``UpConv2x``'s own sub-pixel ``lax`` convolution, ``"winograd"``
    :func:`winograd_upconv`, ``"col2im"`` :func:`col2im_upconv`, ``"auto"``
    :func:`auto_upconv_impl`'s choice for the compilation platform."""

    impl: str = "auto"

    def __post_init__(self):
        if self.impl not in UP_IMPLS:
            raise ValueError(f"unknown impl {self.impl!r}; choose one of {UP_IMPLS}")
        super().__post_init__()

    def _upconv(self, inputs: Array, kernel: Array) -> Array:
        impl = self.impl
        runs = {
            "xla": super()._upconv,  # the sub-pixel conv, its inner conv UpConv2x._valid_conv (lax)
            "winograd": lambda x, k: winograd_upconv(x, k, self.precision, self.preferred_element_type),
            "col2im": lambda x, k: col2im_upconv(x, k, self.precision, self.preferred_element_type),
        }
        if impl != "auto":
            return runs[impl](inputs, kernel)
        cpu = auto_upconv_impl(inputs.shape, self.features, backend="cpu")
        other = auto_upconv_impl(inputs.shape, self.features, backend="default")
        if cpu == other:
            return runs[cpu](inputs, kernel)
        return _on_platform(runs[cpu], runs[other], inputs, kernel)
