"""Layers shared by the convolutional models.

``UpConv2x`` is a drop-in replacement for the DCGAN upsampling layer

    nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))

(PyTorch ``ConvTranspose2d(k=4, s=2, p=1)``), computed as a sub-pixel convolution. It
exists because XLA:CPU computes the *weight gradient* of ``lax.conv_transpose`` (a
convolution with ``lhs_dilation``) very slowly, whereas the weight gradient of an
ordinary stride-1 convolution is fast on every backend.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from flax.linen import dtypes, initializers
from jax import lax

Array = Any


class UpConv2x(nn.Module):
    """``nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))``
    (``transpose_kernel=False``) as one stride-1 convolution plus depth-to-space.

    Same parameters as that ``nn.ConvTranspose``: ``kernel`` of shape
    ``(4, 4, in_features, features)`` and, if ``use_bias``, ``bias`` of shape
    ``(features,)``, created with the same initialisers in the same order. Created under
    the same module name (pass ``name="ConvTranspose_0"`` etc. when replacing an
    auto-named layer) it has the same parameter tree *and* the same initial values, so
    checkpoints are interchangeable. The output equals the ``ConvTranspose`` output up to
    floating-point summation order (~1e-6 relative in float32), for every input size.
    NHWC input ``(*batch, H, W, C)`` -> output ``(*batch, 2H, 2W, features)``.

    Derivation (one spatial axis; the two axes are independent, so the 2-D layer is the
    product of the 1-D construction). With ``transpose_kernel=False``,
    ``lax.conv_transpose`` dilates the input by the stride (``d[2i] = x[i]``, zeros in
    between), pads it by 2 on each side and *correlates* (no kernel flip) with ``w``::

        y[o] = sum_{k=0..3} d[o + k - 2] * w[k],      o = 0 .. 2H-1

    ``d[o + k - 2]`` is non-zero only when ``o + k`` is even. Writing ``o = 2m + r``
    (output phase ``r`` in {0, 1}) the surviving taps are ``k = r`` and ``k = r + 2``::

        y[2m]     = x[m-1] * w[0] + x[m]   * w[2]     (taps 0, 2; x[-1] := 0)
        y[2m + 1] = x[m]   * w[1] + x[m+1] * w[3]     (taps 1, 3; x[H]  := 0)

    i.e. phase ``r`` is a 2-tap correlation with the phase kernel ``w_r = w[r::2]``
    (``w_r[a] = w[2a + r]``) over the window ``x[m + r - 1], x[m + r]``. Pad ``x`` by
    one zero on each side (``p[j] = x[j - 1]``) and correlate with ``w_r`` ('VALID'):
    ``z_r[j] = p[j] * w_r[0] + p[j+1] * w_r[1] = x[j-1] * w_r[0] + x[j] * w_r[1]``, which
    has ``H + 1`` outputs, and ``y[2m + r] = z_r[m + r]``. That is: padding (1, 1) is the
    smallest symmetric padding that contains both phase windows (phase 0 reaches one
    element before ``x``, phase 1 one element after it); phase 0 uses ``z_0[0 .. H-1]``
    and phase 1 ``z_1[1 .. H]``; the other end of each ``z_r`` (one row/column) is
    computed and thrown away, ``(H + 1)^2 / H^2`` of the minimal work.

    In 2-D the phase kernels are ``K[2*ah + rh, 2*aw + rw, :, :]`` for
    ``ah, aw, rh, rw`` in {0, 1}: reshaping the ``(4, 4, C, F)`` kernel to
    ``(ah, rh, aw, rw, C, F)`` and transposing to ``(ah, aw, C, rh, rw, F)`` gives a
    ``(2, 2, C, 4F)`` HWIO kernel whose output channel ``(2*rh + rw)*F + f`` is phase
    ``(rh, rw)``. Padding ``x`` by one on each side and one stride-1 'VALID'
    ``conv_general_dilated`` yields ``z`` of shape ``(N, H+1, W+1, 4F)``; phase ``(rh, rw)`` is
    ``z[:, rh:rh+H, rw:rw+W, (rh, rw)]`` and lands at ``y[:, 2m + rh, 2p + rw]``
    (depth-to-space by stack + reshape). The kernel preparation is a pure
    reshape/transpose (no gather), and the gradients flow through an ordinary stride-1
    convolution plus slices, stacks and reshapes.

    Why the explicit pad: the weight gradient of a convolution is itself a convolution
    whose window is the cotangent (here ``(H+1) x (W+1)``) sliding over the input. When
    that window is larger than the *unpadded* input (``H x W``, which is what XLA sees
    when the padding is part of the convolution), XLA's algebraic simplifier swaps the
    two operands, producing a convolution with window reversal that XLA:CPU cannot hand
    to its fast (Eigen) kernels: it falls back to a naive loop, ~45x slower (as slow as
    ``conv_transpose``'s weight gradient). Padding with a separate ``jnp.pad`` and
    convolving 'VALID' makes the input ``(H+2) x (W+2)``, larger than the window, so the
    weight gradient stays an ordinary convolution (checked with jax 0.10.2 / XLA:CPU;
    ``benchmarks/upconv_cpu.py`` measures it). Numerically the two are identical.
    """

    features: int
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Any = nn.linear.default_kernel_init
    bias_init: Any = initializers.zeros_init()
    preferred_element_type: Any = None

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        # Same batch-dimension handling as nn.ConvTranspose: flatten (or add) one batch axis.
        n_batch = inputs.ndim - 3
        if n_batch != 1:
            batch_shape = inputs.shape[:n_batch]
            inputs = jnp.reshape(inputs, (-1,) + inputs.shape[n_batch:])

        in_features = inputs.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (4, 4, in_features, self.features), self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        inputs, kernel, bias = dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)

        y = self._upconv(inputs, kernel)
        if bias is not None:
            y = y + bias.reshape(1, 1, 1, self.features).astype(y.dtype)
        if n_batch != 1:
            y = jnp.reshape(y, batch_shape + y.shape[1:])
        return y

    def _upconv(self, inputs: Array, kernel: Array) -> Array:
        """The transposed convolution without bias, ``(N, H, W, C) -> (N, 2H, 2W, F)``
        (``fast_conv.FastUpConv2x`` can swap the whole computation)."""
        n, h, w, in_features = inputs.shape
        f = self.features
        # (4, 4, C, F) -> (ah, rh, aw, rw, C, F) -> (ah, aw, C, rh, rw, F) -> (2, 2, C, 4F)
        k = kernel.reshape(2, 2, 2, 2, in_features, f)
        k = k.transpose(0, 2, 4, 1, 3, 5).reshape(2, 2, in_features, 4 * f)
        # Explicit pad + VALID, not padding=((1, 1), (1, 1)): see "Why the explicit pad" above.
        x = jnp.pad(inputs, ((0, 0), (1, 1), (1, 1), (0, 0)))
        z = self._valid_conv(x, k)
        z = z.reshape(n, h + 1, w + 1, 2, 2, f)
        # depth-to-space: y[:, 2m + rh, 2p + rw] = z[:, m + rh, p + rw, rh, rw]
        rows = [jnp.stack([z[:, rh : rh + h, rw : rw + w, rh, rw] for rw in (0, 1)], axis=3) for rh in (0, 1)]
        return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, f)  # (n, h, rh, w, rw, f) -> (n, 2h, 2w, f)

    def _valid_conv(self, x: Array, k: Array) -> Array:
        """The inner stride-1 'VALID' convolution (``fast_conv.FastUpConv2x`` swaps its implementation)."""
        return lax.conv_general_dilated(
            x,
            k,
            window_strides=(1, 1),
            padding="VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=self.precision,
            preferred_element_type=self.preferred_element_type,
        )
