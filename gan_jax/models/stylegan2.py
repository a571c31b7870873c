"""StyleGAN2 (Karras et al. 2020, arXiv:1912.04958) generator and discriminator, Flax Linen, NHWC.

Follows stylegan2-ada-pytorch ``training/networks.py`` layer for layer: equalised learning rate
everywhere (weights drawn N(0, 1) and scaled at run time by ``lr_mul / sqrt(fan_in)``), a
mapping network with z normalised by its second moment and lr multiplier 0.01, a synthesis
network from a learned 4x4 constant through modulated 3x3 convolutions with demodulation
``(sum w^2 + 1e-8)^-1/2``, per-pixel noise with a learned strength (init 0), the skip (toRGB)
architecture with non-demodulated 1x1 toRGB layers, [1, 3, 3, 1] FIR resampling, and a
residual (or ``orig``) discriminator with a minibatch-standard-deviation epilogue.
Leaky ReLU 0.2 carries the reference's gain sqrt(2).

Deviations: the modulated convolution runs as "scale the input, convolve with the shared
weight, scale the output" (the reference's ``fused_modconv=False`` path, identical maths, and
fast on every backend); no fp16 / conv clamping. Upsampling 3x3 convolutions are the reference's
(stride-2 transposed convolution, then the FIR), computed phase by phase (``upconv_3x3``). The generator does not
track ``w_avg`` itself: the recipe keeps it in ``state.extra`` (averaged over devices) and
passes it in for truncation.

Networks take class labels ``y`` (int) when ``num_classes > 0``: a one-hot embedding into the
mapping network (G) and a projection onto a mapped label (D), as the reference.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = [
    "SUPPORTED_RESOLUTIONS",
    "channels_at",
    "num_ws",
    "network_resolution",
    "normalize_2nd_moment",
    "modulated_conv",
    "upsample_2x",
    "downsample_2x",
    "minibatch_std",
    "EqualDense",
    "EqualConv",
    "MappingNetwork",
    "SynthesisNetwork",
    "StyleGAN2Generator",
    "StyleGAN2Discriminator",
]

#: the networks' resolutions (powers of two); an image size in between runs at the next one up:
#: G's output is center-cropped to it and D zero-pads its input (MNIST's 28 px run at 32)
SUPPORTED_RESOLUTIONS = (8, 16, 32, 64, 128, 256)


def network_resolution(size: int) -> int:
    """The power of two a ``size`` x ``size`` image is synthesised / discriminated at."""
    return 2 ** max(3, math.ceil(math.log2(size)))


def _crop_to(x: Array, size: int) -> Array:
    lo = (x.shape[1] - size) // 2
    return x[:, lo : lo + size, lo : lo + size]


def _pad_to(x: Array, res: int) -> Array:
    lo = (res - x.shape[1]) // 2
    hi = res - x.shape[1] - lo
    return jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
LRELU_GAIN = math.sqrt(2.0)
_FIR = (0.125, 0.375, 0.375, 0.125)  # [1, 3, 3, 1] / 8: the reference's filter, normalised per axis


def channels_at(res: int, channel_base: int, channel_max: int) -> int:
    """The reference's width rule: ``min(channel_base // res, channel_max)``."""
    return max(1, min(channel_base // res, channel_max))


def num_ws(resolution: int) -> int:
    """Style vectors the synthesis network takes: 2 per block (1 at 4x4) plus the last toRGB."""
    return 2 * int(math.log2(resolution)) - 2


def normalize_2nd_moment(x: Array, eps: float = 1e-8) -> Array:
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def _lrelu(x: Array, gain: float = 1.0) -> Array:
    return jax.nn.leaky_relu(x, 0.2) * (LRELU_GAIN * gain)


def _fir_valid(x: Array, axis: int) -> Array:
    """Correlate with [1, 3, 3, 1] / 8 along ``axis`` ('VALID': length n - 3)."""
    n = x.shape[axis]
    parts = [jax.lax.slice_in_dim(x, k, n - 3 + k, axis=axis) * c for k, c in enumerate(_FIR)]
    return parts[0] + parts[1] + parts[2] + parts[3]


def upsample_2x(x: Array) -> Array:
    """The reference's ``upsample2d`` with [1, 3, 3, 1] (gain 4): bilinear 2x with zero borders.

    Per axis ``y[2m] = (x[m-1] + 3 x[m]) / 4`` and ``y[2m+1] = (3 x[m] + x[m+1]) / 4``.
    """
    for axis in (1, 2):
        n = x.shape[axis]
        pad = [(0, 0)] * x.ndim
        pad[axis] = (1, 1)
        p = jnp.pad(x, pad)
        prev = jax.lax.slice_in_dim(p, 0, n, axis=axis)
        nxt = jax.lax.slice_in_dim(p, 2, n + 2, axis=axis)
        even, odd = 0.25 * prev + 0.75 * x, 0.75 * x + 0.25 * nxt
        x = jnp.stack([even, odd], axis=axis + 1).reshape(x.shape[:axis] + (2 * n,) + x.shape[axis + 1 :])
    return x


def downsample_2x(x: Array) -> Array:
    """The reference's ``downsample2d`` with [1, 3, 3, 1]: ``y[m] = (x[2m-1] + 3 x[2m] + 3 x[2m+1] + x[2m+2]) / 8`` per axis."""
    x = _blur(x, 1)
    return x[:, ::2, ::2, :]


def _blur(x: Array, pad: int) -> Array:
    """Zero-pad by ``pad`` and low-pass with the 4x4 FIR (size ``n + 2 pad - 3``)."""
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return _fir_valid(_fir_valid(x, 1), 2)


def _conv(x: Array, w: Array, stride: int = 1, padding: str | Sequence = "SAME") -> Array:
    return jax.lax.conv_general_dilated(x, w, (stride, stride), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


#: per axis, the taps of a stride-2 transposed 3x3 convolution's two output phases as 2-tap
#: correlations over the input padded by 1: ``_PHASE_TAPS[phase, tap, k]`` selects weight row k
_PHASE_TAPS = np.zeros((2, 2, 3), np.float32)
_PHASE_TAPS[0, 0, 2] = _PHASE_TAPS[0, 1, 0] = _PHASE_TAPS[1, 1, 1] = 1.0


def _phase_kernels(w: Array) -> Array:
    """(3, 3, I, O) -> (2, 2, I, 4 O): the four output phases of a stride-2 transposed 3x3 convolution
    as one 2x2 convolution over the input padded by 1 (output channels ordered row phase, column phase, O).

    Per axis, PyTorch's ``conv_transpose2d(x, w, stride=2)`` is ``t[2p] = w[2] xp[p] + w[0] xp[p+1]``
    and ``t[2p+1] = w[1] xp[p+1]`` with ``xp = pad(x, 1)``: taps ``[w2, w0]`` (even) and ``[0, w1]`` (odd)."""
    k = jnp.einsum("aqi,bpj,ijIO->qpIabO", _PHASE_TAPS, _PHASE_TAPS, w)
    return k.reshape(2, 2, w.shape[2], 4 * w.shape[3])


#: the [1, 3, 3, 1] / 8 FIR's taps with the upsampling gain 2 per axis (f0 = f3, f1 = f2)
_UP_F0, _UP_F1 = 2.0 / 8.0, 6.0 / 8.0


def _fir_phases(t: Array) -> Array:
    """The gain-4 FIR along axis 1 of a signal held as its two phases (axis 3): ``t[2p + a] = t[:, p, :, a]``.

    With ``E``/``O`` the even/odd samples of the transposed convolution's output (length 2n + 1,
    ``O[n] = 0``) zero-padded by 1, ``z[2p] = f0 O[p-1] + f1 E[p] + f1 O[p] + f0 E[p+1]`` and
    ``z[2p+1] = f0 E[p] + f1 O[p] + f1 E[p+1] + f0 O[p+1]``: (n + 1) phase pairs in, n out."""
    n = t.shape[1] - 1
    even, odd = t[:, :, :, 0], t[:, :, :, 1]
    odd_prev = jnp.pad(odd[:, : n - 1], ((0, 0), (1, 0)) + ((0, 0),) * (odd.ndim - 2))
    z_even = _UP_F0 * (odd_prev + even[:, 1:]) + _UP_F1 * (even[:, :n] + odd[:, :n])
    z_odd = _UP_F0 * (even[:, :n] + odd[:, 1:]) + _UP_F1 * (odd[:, :n] + even[:, 1:])
    return jnp.stack([z_even, z_odd], axis=3)


def upconv_3x3(x: Array, w: Array) -> Array:
    """The reference's 2x upsampling 3x3 convolution (``conv2d_resample(up=2, padding=1)``): a stride-2
    transposed convolution on the small map, then the [1, 3, 3, 1] FIR (gain 4) -- (B, 2H, 2W, O).

    The transposed convolution's four output phases are one 2x2 convolution with 4 x O outputs
    (``_phase_kernels``), run as im2col + one matrix product (XLA:CPU's gradients of a
    convolution with few taps and many outputs are slow, a matrix product's are not); the FIR
    runs on the phases (``_fir_phases``) before one depth-to-space. ~2.25x fewer multiply-adds
    than a 3x3 convolution at the large resolution."""
    b, h, wd, i = x.shape
    o = w.shape[-1]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = jnp.concatenate([xp[:, dy : dy + h + 1, dx : dx + wd + 1] for dy in (0, 1) for dx in (0, 1)], axis=-1)
    t = (cols @ _phase_kernels(w).astype(x.dtype).reshape(4 * i, 4 * o)).reshape(b, h + 1, wd + 1, 2, 2, o)
    t = _fir_phases(t)  # rows: (B, H, W + 1, 2, 2, O)
    t = _fir_phases(t.transpose(0, 2, 1, 4, 3, 5))  # columns: (B, W, H, column phase, row phase, O)
    return t.transpose(0, 2, 4, 1, 3, 5).reshape(b, 2 * h, 2 * wd, o)


def modulated_conv(x: Array, weight: Array, styles: Array, *, demodulate: bool = True, up: bool = False) -> Array:
    """StyleGAN2's modulated convolution of NHWC ``x`` with an HWIO ``weight``, per-example input ``styles`` (B, I).

    ``w'_bijk = s_bi w_ijk`` and, with ``demodulate``, ``w''_bijk = w'_bijk / sqrt(sum_ik w'_bijk^2 + 1e-8)``;
    computed as ``conv(x * s, w) * d`` (no per-example weights). ``up``: the reference's upsampling
    convolution (``upconv_3x3``; the demodulation scale commutes with its FIR).
    """
    x = x * styles[:, None, None, :].astype(x.dtype)
    if up:
        x = upconv_3x3(x, weight.astype(x.dtype))
    else:
        x = _conv(x, weight.astype(x.dtype))
    if demodulate:
        # sum over kernel taps and inputs of (s_i w_io)^2 = s^2 . (sum_taps w^2)
        d = jax.lax.rsqrt(jnp.square(styles) @ jnp.sum(jnp.square(weight), axis=(0, 1)) + 1e-8)  # (B, O)
        x = x * d[:, None, None, :].astype(x.dtype)
    return x


def minibatch_std(x: Array, group_size: int, num_channels: int = 1, axis_name: str | None = None) -> Array:
    """The reference's ``MinibatchStdLayer``: append the mean std over groups of ``group_size`` examples.

    Example ``n`` belongs to group ``n % (N / G)`` (the reference's reshape). Under ``pmap`` with
    ``axis_name`` the statistic is computed on the gathered global batch, so a sharded step
    equals the single-device one.
    """
    n_local = x.shape[0]
    full = jax.lax.all_gather(x, axis_name, tiled=True) if axis_name else x
    n, h, w, c = full.shape
    g = min(group_size, n)
    if n % g:
        raise ValueError(f"minibatch std: batch {n} is not divisible by the group size {g}")
    f = num_channels
    y = full.reshape(g, n // g, h, w, f, c // f)
    y = y - jnp.mean(y, axis=0)
    y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)  # (n/g, h, w, f, c/f)
    y = jnp.mean(y, axis=(1, 2, 4))  # (n/g, f)
    y = jnp.tile(y, (g, 1))  # example i gets group i % (n / g)
    if axis_name:
        y = jax.lax.dynamic_slice_in_dim(y, jax.lax.axis_index(axis_name) * n_local, n_local)
    y = jnp.broadcast_to(y[:, None, None, :], (n_local, h, w, f)).astype(x.dtype)
    return jnp.concatenate([x, y], axis=-1)


# ----------------------------------------------------------------------------- equalised layers


class EqualDense(nn.Module):
    """The reference's ``FullyConnectedLayer``: weight N(0, 1) / lr_mul used as ``w * lr_mul / sqrt(fan_in)``,
    bias initialised to ``bias_init`` and used as ``b * lr_mul``; optional leaky ReLU (gain sqrt(2))."""

    features: int
    lr_mul: float = 1.0
    bias_init: float = 0.0
    activation: str = "linear"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        fan_in = x.shape[-1]
        w = self.param("weight", nn.initializers.normal(1.0 / self.lr_mul), (fan_in, self.features))
        b = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
        y = x @ (w * (self.lr_mul / math.sqrt(fan_in))) + b * self.lr_mul
        return _lrelu(y) if self.activation == "lrelu" else y


class EqualConv(nn.Module):
    """The reference's ``Conv2dLayer``: weight N(0, 1) scaled by ``1 / sqrt(fan_in)``; ``down``: FIR then stride 2.

    ``gain`` multiplies the output after the activation (the residual blocks' sqrt(0.5)).
    """

    features: int
    kernel: int = 3
    activation: str = "lrelu"
    use_bias: bool = True
    down: bool = False

    @nn.compact
    def __call__(self, x: Array, gain: float = 1.0) -> Array:
        k, fan_in = self.kernel, x.shape[-1]
        w = self.param("weight", nn.initializers.normal(1.0), (k, k, fan_in, self.features)) / math.sqrt(fan_in * k * k)
        if self.down and k > 1:
            # the reference's conv2d_resample: pad and low-pass, then a strided 'VALID' convolution
            x = _conv(_blur(x, (k + 1) // 2), w, stride=2, padding="VALID")
        elif self.down:
            x = _conv(downsample_2x(x), w)
        else:
            x = _conv(x, w)
        if self.use_bias:
            x = x + self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return _lrelu(x, gain) if self.activation == "lrelu" else x * gain


# ----------------------------------------------------------------------------- generator


class MappingNetwork(nn.Module):
    """z (and a one-hot label embedding), each normalised, -> ``num_layers`` equalised FC layers -> w (B, w_dim)."""

    w_dim: int = 512
    num_layers: int = 8
    lr_mul: float = 0.01
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: Array | None, y: Array | None = None) -> Array:
        parts = []
        if z is not None:
            parts.append(normalize_2nd_moment(z.astype(jnp.float32)))
        if self.num_classes:
            if y is None:
                raise ValueError("a conditional StyleGAN2 network needs labels")
            embed = EqualDense(self.w_dim, name="embed")(jax.nn.one_hot(y, self.num_classes))
            parts.append(normalize_2nd_moment(embed))
        x = jnp.concatenate(parts, axis=-1)
        for i in range(self.num_layers):
            x = EqualDense(self.w_dim, lr_mul=self.lr_mul, activation="lrelu", name=f"fc{i}")(x)
        return x


class _SynthesisLayer(nn.Module):
    features: int
    up: bool = False
    use_noise: bool = True

    @nn.compact
    def __call__(self, x: Array, w: Array, noise_keys: Array | None, layer: int) -> Array:
        styles = EqualDense(x.shape[-1], bias_init=1.0, name="affine")(w)
        weight = self.param("weight", nn.initializers.normal(1.0), (3, 3, x.shape[-1], self.features))
        x = modulated_conv(x, weight, styles, up=self.up)
        if self.use_noise:
            strength = self.param("noise_strength", nn.initializers.zeros_init(), ())
            res = x.shape[1]
            if noise_keys is None:  # the reference's noise_mode='const': one fixed image per layer
                noise = jax.random.normal(jax.random.PRNGKey(layer), (1, res, res, 1), x.dtype)
            else:  # one draw per example from its own key: the same whatever the device split
                noise = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, layer), (res, res, 1), x.dtype))(noise_keys)
            x = x + noise * strength
        b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return _lrelu(x + b)


class _ToRGB(nn.Module):
    channels: int

    @nn.compact
    def __call__(self, x: Array, w: Array) -> Array:
        fan_in = x.shape[-1]
        styles = EqualDense(fan_in, bias_init=1.0, name="affine")(w) / math.sqrt(fan_in)
        weight = self.param("weight", nn.initializers.normal(1.0), (1, 1, fan_in, self.channels))
        x = modulated_conv(x, weight, styles, demodulate=False)
        return x + self.param("bias", nn.initializers.zeros_init(), (self.channels,))


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) -> images (B, R, R, C): constant 4x4 input, skip architecture."""

    resolution: int
    channels: int
    channel_base: int = 16384
    channel_max: int = 512
    use_noise: bool = True

    @nn.compact
    def __call__(self, ws: Array, noise_keys: Array | None = None) -> Array:
        log2 = int(math.log2(self.resolution))
        if 2**log2 != self.resolution or self.resolution < 4:
            raise ValueError(f"StyleGAN2 needs a power-of-two resolution >= 4, got {self.resolution}")
        if ws.shape[1] != num_ws(self.resolution):
            raise ValueError(f"synthesis at {self.resolution} px takes {num_ws(self.resolution)} style vectors, got {ws.shape[1]}")
        ch = lambda r: channels_at(r, self.channel_base, self.channel_max)
        const = self.param("const", nn.initializers.normal(1.0), (4, 4, ch(4)))
        x = jnp.broadcast_to(const, (ws.shape[0], 4, 4, ch(4)))
        layer = 0
        x = _SynthesisLayer(ch(4), use_noise=self.use_noise, name="b4_conv1")(x, ws[:, 0], noise_keys, layer)
        img = _ToRGB(self.channels, name="b4_torgb")(x, ws[:, 1])
        w_idx = 1
        for i in range(3, log2 + 1):
            r = 2**i
            x = _SynthesisLayer(ch(r), up=True, use_noise=self.use_noise, name=f"b{r}_conv0")(x, ws[:, w_idx], noise_keys, layer + 1)
            x = _SynthesisLayer(ch(r), use_noise=self.use_noise, name=f"b{r}_conv1")(x, ws[:, w_idx + 1], noise_keys, layer + 2)
            img = upsample_2x(img) + _ToRGB(self.channels, name=f"b{r}_torgb")(x, ws[:, w_idx + 2])
            layer, w_idx = layer + 2, w_idx + 2
        return img


class StyleGAN2Generator(nn.Module):
    """G(z, y) = synthesis(mapping(z, y) broadcast to every layer), with optional truncation.

    Methods for the recipe (``module.apply(..., method=...)``): ``mapping(z, y) -> w (B, w_dim)``,
    ``synthesis(ws, noise_keys=None) -> images``. ``noise_keys`` (B,) per-example keys draw the
    noise inputs; ``None`` uses one fixed noise image per layer (the reference's 'const' mode).
    Truncation: ``w <- w_avg + psi (w - w_avg)`` on the first ``truncation_cutoff`` layers (all if None).
    """

    image_shape: tuple[int, int, int]
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    num_classes: int = 0
    channel_base: int = 16384
    channel_max: int = 512
    use_noise: bool = True

    @property
    def num_ws(self) -> int:
        return num_ws(network_resolution(self.image_shape[0]))

    def setup(self):
        if self.image_shape[0] != self.image_shape[1]:
            raise ValueError(f"StyleGAN2 makes square images, got {self.image_shape}")
        self.map_net = MappingNetwork(self.w_dim, self.mapping_layers, self.mapping_lr_mul, self.num_classes)
        self.synth = SynthesisNetwork(network_resolution(self.image_shape[0]), self.image_shape[2], self.channel_base, self.channel_max,
                                      self.use_noise)

    def mapping(self, z: Array, y: Array | None = None, *, train: bool = False) -> Array:
        del train
        return self.map_net(z, y)

    def synthesis(self, ws: Array, noise_keys: Array | None = None, *, train: bool = False) -> Array:
        del train
        return _crop_to(self.synth(ws, noise_keys), self.image_shape[0])

    def __call__(self, z: Array, y: Array | None = None, *, train: bool = False, noise_keys: Array | None = None,
                 truncation_psi: float = 1.0, truncation_cutoff: int | None = None, w_avg: Array | None = None) -> Array:
        w = self.map_net(z, y)
        ws = jnp.broadcast_to(w[:, None, :], (w.shape[0], self.num_ws, w.shape[-1]))
        if w_avg is not None:
            ws = truncate(ws, w_avg, truncation_psi, truncation_cutoff)
        return _crop_to(self.synth(ws, noise_keys), self.image_shape[0])


def truncate(ws: Array, w_avg: Array, psi: float | Array, cutoff: int | None = None) -> Array:
    """The truncation trick in W: ``w_avg + psi (w - w_avg)`` on layers ``[0, cutoff)`` (all if None)."""
    t = w_avg + psi * (ws - w_avg)
    if cutoff is None:
        return t
    layer = jnp.arange(ws.shape[1])[None, :, None]
    return jnp.where(layer < cutoff, t, ws)


# ----------------------------------------------------------------------------- discriminator


class StyleGAN2Discriminator(nn.Module):
    """D(x, y) -> logits (B,): ``resnet`` (default) or ``orig`` blocks from R down to 8, then the 4x4
    epilogue (minibatch std, 3x3 conv, FC, output FC; projection on a mapped label if conditional).
    ``resolution``: the network's (a power of two); smaller inputs are zero-padded to it."""

    resolution: int
    channel_base: int = 16384
    channel_max: int = 512
    architecture: str = "resnet"
    mbstd_group: int = 4
    mbstd_channels: int = 1
    num_classes: int = 0
    #: the label mapping network's depth (the reference's MappingNetwork defaults: 8 layers, lr x 0.01)
    mapping_layers: int = 8
    bn_axis_name: Any = None

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None, *, train: bool = False) -> Array:
        del train
        if self.architecture not in ("resnet", "orig"):
            raise ValueError(f"unknown discriminator architecture {self.architecture!r}; choose 'resnet' or 'orig'")
        ch = lambda r: channels_at(r, self.channel_base, self.channel_max)
        log2 = int(math.log2(self.resolution))
        if 2**log2 != self.resolution or x.shape[1] > self.resolution:
            raise ValueError(f"discriminator resolution {self.resolution} must be a power of two >= the images' {x.shape[1]}")
        if x.shape[1] < self.resolution:
            x = _pad_to(x, self.resolution)
        h = EqualConv(ch(self.resolution), kernel=1, name=f"b{self.resolution}_fromrgb")(x)
        for i in range(log2, 2, -1):
            r = 2**i
            if self.architecture == "resnet":
                skip = EqualConv(ch(r // 2), kernel=1, activation="linear", use_bias=False, down=True, name=f"b{r}_skip")(h, gain=math.sqrt(0.5))
                h = EqualConv(ch(r), name=f"b{r}_conv0")(h)
                h = skip + EqualConv(ch(r // 2), down=True, name=f"b{r}_conv1")(h, gain=math.sqrt(0.5))
            else:
                h = EqualConv(ch(r), name=f"b{r}_conv0")(h)
                h = EqualConv(ch(r // 2), down=True, name=f"b{r}_conv1")(h)
        if self.mbstd_channels:
            h = minibatch_std(h, self.mbstd_group, self.mbstd_channels, self.bn_axis_name)
        h = EqualConv(ch(4), name="b4_conv")(h)
        h = EqualDense(ch(4), activation="lrelu", name="b4_fc")(h.reshape(h.shape[0], -1))
        cmap_dim = ch(4) if self.num_classes else 1
        out = EqualDense(cmap_dim, name="b4_out")(h)
        if self.num_classes:
            if y is None:
                raise ValueError("a conditional StyleGAN2 discriminator needs labels")
            cmap = MappingNetwork(cmap_dim, self.mapping_layers, 0.01, self.num_classes, name="mapping")(None, y)
            return jnp.sum(out * cmap, axis=-1) / math.sqrt(cmap_dim)
        return out[:, 0]
