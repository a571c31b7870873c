"""Exact, faster-on-XLA:CPU formulations of the convolutions DCGAN uses.

Two layers and one function:

* :func:`conv2d` -- a 2-D NHWC/HWIO convolution (``lax.conv_general_dilated`` with
  ``window_strides`` and ``padding``, no dilation, no groups) with a selectable
  implementation ``impl``:

  - ``"xla"``: ``lax.conv_general_dilated`` itself (the reference, what ``nn.Conv`` does);
  - ``"im2col"``: explicit ``jnp.pad``, the ``kh * kw`` (strided) shifted windows of the
    input concatenated on the channel axis, one matrix product with the
    ``(kh * kw * C, F)``-reshaped kernel;
  - ``"s2d"``: space-to-depth by the stride, then the resulting stride-1 convolution
    with a ``(kh / sh, kw / sw)`` kernel done as ``"im2col"`` (when ``kh % sh == 0`` and
    ``kw % sw == 0``; otherwise, and for stride 1, it *is* ``"im2col"``);
  - ``"s2d_xla"``: the same space-to-depth, the stride-1 convolution by XLA (the same
    fallback to ``"im2col"``);
  - ``"auto"`` (default): ``"xla"`` unless the backend (``jax.default_backend()`` at
    trace time) is the CPU; on the CPU the per-layer choice measured fastest (fwd + bwd)
    with jax 0.10.2 by ``benchmarks/conv_cpu.py`` (see :func:`auto_impl`).

* :class:`FastConv` -- drop-in for ``nn.Conv(features, kernel_size, strides, padding,
  use_bias=..., dtype=...)``: same fields, same parameters (``kernel`` of shape
  ``(kh, kw, in_features, features)`` (HWIO), ``bias`` of shape ``(features,)``), created
  with the same initialisers in the same order, so under the same module name
  (``name="Conv_0"`` etc.) the parameter tree *and* the initial values are identical and
  checkpoints are interchangeable. Used for the discriminator's
  ``Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))``.

* :class:`FastUpConv2x` -- :class:`gan_jax.models.layers.UpConv2x` (the generator's
  exact replacement of ``ConvTranspose(4, 2, p=1)``) with its inner 2x2 stride-1 'VALID'
  convolution done by :func:`conv2d` with a selectable ``impl``; same parameters.

Why each formulation is exact
-----------------------------
Write the convolution (cross-correlation, as in ``lax``; strides ``s``, explicit padding
already applied, ``xp`` the padded input) as::

    y[n, o_h, o_w, f] = sum_{i<kh, j<kw, c} xp[n, s_h*o_h + i, s_w*o_w + j, c] * K[i, j, c, f]

*im2col.* For each tap ``(i, j)`` take the strided window
``W_ij = xp[:, i : i + s_h*(Ho-1) + 1 : s_h, j : j + s_w*(Wo-1) + 1 : s_w, :]`` (shape
``(N, Ho, Wo, C)``, ``W_ij[n, o_h, o_w, c] = xp[n, s_h*o_h + i, s_w*o_w + j, c]``) and
concatenate them on the channel axis in row-major tap order; the channel index of the
result is ``(i*kw + j)*C + c``, which is exactly the row index of ``K`` reshaped (a pure
reshape, HWIO is row-major) to ``(kh*kw*C, F)``. The sum above is then one contraction
over that axis: ``y = cols @ K.reshape(kh*kw*C, F)``. Same products, same terms; only
the floating-point summation order differs (~1e-6 relative in float32).

*Space-to-depth.* With ``kh = s_h * a_h`` write the tap ``i = s_h*a + r`` (``a < a_h``,
``r < s_h``): ``xp[s_h*o + i] = xp[s_h*(o + a) + r] = S[o + a, r]`` where
``S[q, r] = xp[s_h*q + r]`` is the space-to-depth rearrangement (a reshape + transpose of
``xp`` cropped to ``s_h*(Ho + a_h - 1)`` rows -- the rows beyond are never read by any
output window, and ``xp`` always has at least that many). The phase ``r`` joins the
channel axis (``S`` has ``s_h*s_w*C`` channels, index ``(r_h*s_w + r_w)*C + c``) and the
kernel becomes ``K'[a_h, a_w, (r_h, r_w, c), f] = K[s_h*a_h + r_h, s_w*a_w + r_w, c, f]``
(reshape ``(a, r, a, r, C, F)`` + transpose, no gather). The strided convolution is the
stride-1 'VALID' convolution of ``S`` with the ``(a_h, a_w)`` kernel ``K'``. For DCGAN's
4x4 stride-2 layer that is a 2x2 stride-1 convolution on ``4C`` channels.

The gradients are those of pads, slices, reshapes, transposes, a concatenate and one
``dot_general`` -- all linear maps whose transposes JAX derives exactly; nothing is
approximated.

Why it is faster on XLA:CPU (jax 0.10.2)
-----------------------------------------
XLA:CPU hands convolutions to YNNPACK/Eigen kernels only in some configurations: the
weight gradient of the generator's big layers becomes a convolution with a large window
and tiny output (e.g. a 17x17 window, 2x2 output for the 128 -> 64 layer), which runs at
~20 GFLOP/s. With im2col every one of the three products (forward, input gradient,
weight gradient) is a plain large GEMM (``cols @ K``, ``dY @ K^T``, ``cols^T @ dY``)
that XLA:CPU runs with its optimised dot kernels at full speed; the price is
materialising ``cols`` (``kh*kw`` times the input for stride 1, ``kh*kw/(s_h*s_w)``
times for stride ``s``) plus the col2im scatter-add of the input gradient, both
memory-bound and cheap next to the GEMMs when the channel counts are large. Where they
are small (the generator's last layer, 64 -> 3) the extra memory traffic dominates and
XLA's convolution wins, hence the per-layer choice. The discriminator's strided convs
(whose input gradient is an ``lhs_dilation`` convolution) were measured too: there
XLA:CPU's own convolution is as fast as any of the GEMM formulations (see
:func:`auto_impl`), so ``"auto"`` keeps it. On GPU cuDNN handles all of these
convolutions well, so ``"auto"`` keeps ``lax``'s convolution.

dtype: like ``nn.Conv``, inputs, kernel and bias are promoted to ``dtype`` (e.g.
``jnp.bfloat16``); ``preferred_element_type`` (e.g. ``jnp.float32``) is passed to the
``dot_general`` / ``conv_general_dilated`` to accumulate in float32 and return float32.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen import dtypes, initializers
from jax import lax

from gan_jax.models.layers import UpConv2x

Array = Any

IMPLS = ("auto", "xla", "im2col", "s2d", "s2d_xla")


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


def _dot_channels(cols: Array, kernel2d: Array, precision, preferred_element_type) -> Array:
    """``cols[..., K] @ kernel2d[K, F]`` as one dot_general (no reshape of ``cols``)."""
    return lax.dot_general(
        cols,
        kernel2d,
        (((cols.ndim - 1,), (0,)), ((), ())),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )


def _im2col_valid(xp: Array, kernel: Array, strides, precision, preferred_element_type) -> Array:
    """'VALID' convolution of the already padded NHWC ``xp`` with the HWIO ``kernel`` via im2col."""
    n, hp, wp, c = xp.shape
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    if ho <= 0 or wo <= 0:
        raise ValueError(f"kernel {(kh, kw)} larger than the padded input {(hp, wp)}")
    if kh == 1 and kw == 1:
        cols = lax.slice(xp, (0, 0, 0, 0), (n, sh * (ho - 1) + 1, sw * (wo - 1) + 1, c), (1, sh, sw, 1))
    else:
        taps = [
            lax.slice(xp, (0, i, j, 0), (n, i + sh * (ho - 1) + 1, j + sw * (wo - 1) + 1, c), (1, sh, sw, 1))
            for i in range(kh)
            for j in range(kw)
        ]
        cols = jnp.concatenate(taps, axis=-1)  # channel index (i*kw + j)*C + c == row of K.reshape(-1, F)
    return _dot_channels(cols, kernel.reshape(kh * kw * c, f), precision, preferred_element_type)


def _space_to_depth(xp: Array, kernel: Array, strides) -> tuple[Array, Array]:
    """Rearrange a strided 'VALID' convolution into a stride-1 one (see the module docstring)."""
    n, hp, wp, c = xp.shape
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    if kh % sh or kw % sw:
        raise ValueError(f"space-to-depth needs the kernel {(kh, kw)} to be a multiple of the strides {(sh, sw)}")
    ah, aw = kh // sh, kw // sw
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    hq, wq = ho + ah - 1, wo + aw - 1  # space-to-depth rows/cols read by the outputs
    xp = xp[:, : sh * hq, : sw * wq, :]  # rows/cols beyond are never part of a window
    s = xp.reshape(n, hq, sh, wq, sw, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, hq, wq, sh * sw * c)
    k = kernel.reshape(ah, sh, aw, sw, c, f).transpose(0, 2, 1, 3, 4, 5).reshape(ah, aw, sh * sw * c, f)
    return s, k


def auto_impl(in_shape: Sequence[int], kernel_shape: Sequence[int], strides: Sequence[int] = (1, 1), backend: str | None = None) -> str:
    """The implementation ``impl="auto"`` picks for an NHWC input and HWIO kernel.

    Not the CPU: ``"xla"``. On the CPU (rule from ``benchmarks/conv_cpu.py``, DCGAN-64 at
    batch 64, jax 0.10.2, interleaved medians on a shared 2-core machine):

    * stride 1 (the generator's ``UpConv2x`` inner conv, whose XLA weight gradient is
      slow): ``"im2col"`` from ``AUTO_MIN_FEATURES`` output channels (layer fwd + bwd
      1.4x at 1024 and 512, 2.3x at 256 output channels), ``"xla"`` below (0.9x at 12);
    * strided (the discriminator's 4x4 stride-2 convs): ``"xla"``. XLA:CPU runs them
      about as fast as any GEMM formulation here: per layer ``"im2col"``/``"s2d"``/
      ``"s2d_xla"`` were 0.54-1.2x (only the 8x8x256 -> 4x4x512 layer gained, 1.2x), and
      using ``"im2col"`` for that layer made the whole train step slower (0.94x).
    """
    backend = jax.default_backend() if backend is None else backend
    if backend != "cpu":
        return "xla"
    if tuple(strides) != (1, 1):
        return "xla"
    return "im2col" if kernel_shape[-1] >= AUTO_MIN_FEATURES else "xla"


#: on the CPU, ``"auto"`` uses ``"im2col"`` for stride-1 convs with at least this many output channels
AUTO_MIN_FEATURES = 32


# ----------------------------------------------------------------------------- conv2d


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
    if impl == "auto":
        impl = auto_impl(x.shape, kernel.shape, strides)
    if impl == "xla":
        return lax.conv_general_dilated(
            x,
            kernel,
            window_strides=strides,
            padding=pads,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=precision,
            preferred_element_type=preferred_element_type,
        )
    xp = jnp.pad(x, ((0, 0), *pads, (0, 0))) if any(p != (0, 0) for p in pads) else x
    divisible = kernel.shape[0] % strides[0] == 0 and kernel.shape[1] % strides[1] == 0
    if impl in ("s2d", "s2d_xla") and strides != (1, 1) and divisible:
        xp, kernel = _space_to_depth(xp, kernel, strides)
        strides = (1, 1)
        if impl == "s2d_xla":
            return lax.conv_general_dilated(
                xp,
                kernel,
                window_strides=(1, 1),
                padding="VALID",
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                precision=precision,
                preferred_element_type=preferred_element_type,
            )
    return _im2col_valid(xp, kernel, strides, precision, preferred_element_type)


# ----------------------------------------------------------------------------- layers


class FastConv(nn.Module):
    """Drop-in for ``nn.Conv`` (2-D, NHWC; no dilation, no feature groups, no mask) with
    a selectable implementation ``impl`` (``"auto"``, ``"xla"``, ``"im2col"``, ``"s2d"``,
    ``"s2d_xla"``; see :func:`conv2d`). Same fields and parameters as ``nn.Conv``:
    ``kernel`` ``(kh, kw, in_features, features)`` from ``kernel_init``, then ``bias``
    ``(features,)`` from ``bias_init``; pass ``name="Conv_<i>"`` when replacing an
    auto-named ``nn.Conv`` to keep the parameter tree."""

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
    ``(4, 4, in_features, features)``, ``bias``) whose inner 2x2 stride-1 'VALID'
    convolution is :func:`conv2d` with ``impl``. See ``UpConv2x`` for the sub-pixel
    derivation; the inner convolution is exact in every ``impl`` (module docstring)."""

    impl: str = "auto"

    def _valid_conv(self, x: Array, k: Array) -> Array:
        return conv2d(x, k, (1, 1), "VALID", impl=self.impl, precision=self.precision, preferred_element_type=self.preferred_element_type)
