"""Image-to-image translation networks, as in junyanz/pytorch-CycleGAN-and-pix2pix.

* ``UNetGenerator`` (pix2pix, Isola et al. 2017): ``num_downs`` stride-2 4x4 convolutions down to
  1x1 and transposed convolutions back, each decoder level concatenated with its encoder level
  (skip connections). Widths ngf, 2ngf, 4ngf, 8ngf, then 8ngf; LeakyReLU(0.2) down, ReLU up, tanh
  out; dropout 0.5 in the ``num_downs - 5`` decoder blocks next to the innermost one (the
  reference's rule: none at 32x32, three at 256x256), also in inference mode when ``test_dropout``
  (the paper's source of noise at test time); ``test_batch_stats``: BatchNorm uses the test batch's
  statistics at test time, as the paper (translations then run the network in training mode).
* ``PatchGANDiscriminator`` (pix2pix's ``NLayerDiscriminator``): 4x4 convolutions ndf (no norm)
  -> 2ndf -> 4ndf stride 2 -> 8ndf stride 1 -> 1 for ``n_layers=3``, LeakyReLU(0.2): a map of
  logits, each seeing a 70x70 patch. Returns ``(B, h, w)``.
* ``ResNetGenerator`` (CycleGAN, Zhu et al. 2017, after Johnson et al. 2016): reflect-padded 7x7
  conv, two stride-2 3x3 convs, ``n_blocks`` residual blocks at 4ngf, two stride-2 transposed 3x3
  convs, reflect-padded 7x7 conv, tanh.

Norms: ``"batch"`` (pix2pix's default), ``"instance"`` (CycleGAN's: no affine parameters, as
PyTorch's ``InstanceNorm2d`` default) or ``"none"``; convolutions feeding a BatchNorm have no bias
(the reference's ``use_bias = norm is InstanceNorm``). Weights N(0, 0.02), BatchNorm scales
N(1, 0.02), biases 0 (the reference's ``init_type="normal"``). Every model is called
``model(x, *, train)``; ``bn_axis_name`` is set by ``gan_jax.parallel`` under ``pmap``.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.fast_conv import FastConv, FastUpConv2x

NORMS = ("batch", "instance", "none")

_KERNEL_INIT = nn.initializers.normal(0.02)


def _scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


class Norm(nn.Module):
    kind: str = "batch"
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, train: bool):
        if self.kind == "batch":  # PyTorch's momentum 0.1 and eps 1e-5
            return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=self.axis_name,
                                scale_init=_scale_init)(x)
        if self.kind == "instance":
            return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)(x)
        if self.kind == "none":
            return x
        raise ValueError(f"unknown norm {self.kind!r}; choose one of {NORMS}")


def _check_norm(kind: str) -> None:
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


def _conv(features: int, kernel: int, stride: int, padding, use_bias: bool, name: str | None = None) -> FastConv:
    return FastConv(features, (kernel, kernel), strides=stride, padding=padding, use_bias=use_bias, kernel_init=_KERNEL_INIT, name=name)


class UpConv3x3(FastUpConv2x):
    """PyTorch's ``ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)`` (CycleGAN's
    upsampling, ``H -> 2H``) with kernel ``(3, 3, C, F)``.

    It equals ``lax.conv_transpose`` with padding ``(1, 2)`` per axis, which is ``UpConv2x``'s
    4x4 transposed convolution (padding ``(2, 2)``) with the 3x3 kernel in the last three rows
    and columns of a zero 4x4 one: ``sum_{k<3} d[o+k-1] w[k] = sum_{k<4} d[o+k-2] w4[k]`` with
    ``w4[k] = w[k-1]``, ``w4[0] = 0``. So it runs on the same fast sub-pixel convolution
    (XLA:CPU's own transposed-convolution weight gradient is ~45x slower).
    """

    @nn.compact
    def __call__(self, inputs):
        kernel = self.param("kernel", self.kernel_init, (3, 3, inputs.shape[-1], self.features), self.param_dtype)
        y = self._upconv(inputs, jnp.pad(kernel, ((1, 0), (1, 0), (0, 0), (0, 0))))
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        return y


def unet_depth(size: int) -> int:
    """``num_downs`` that takes a ``size`` x ``size`` image to 1x1 (the reference: 8 at 256 px)."""
    depth = int(round(math.log2(size))) if size > 0 else 0
    if size < 32 or 2**depth != size:
        raise ValueError(f"the U-Net needs a power-of-two image size >= 32, got {size}")
    return depth


class UNetGenerator(nn.Module):
    out_channels: int = 3
    num_downs: int = 8
    ngf: int = 64
    norm: str = "batch"
    dropout: float = 0.5
    #: keep dropout on in inference mode (the paper: "dropout, applied at both training and test time")
    test_dropout: bool = True
    #: at test time normalise with the test batch's statistics, as the paper does ("we apply batch
    #: normalization using the statistics of the test batch"); read by ``gan_jax.translation_eval``
    test_batch_stats: bool = True
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool):
        _check_norm(self.norm)
        if self.num_downs < 5:
            raise ValueError(f"the U-Net needs num_downs >= 5, got {self.num_downs}")
        x = x.astype(jnp.float32)
        if x.shape[1] != 2**self.num_downs or x.shape[2] != 2**self.num_downs:
            raise ValueError(f"a U-Net with num_downs={self.num_downs} takes {2**self.num_downs}x{2**self.num_downs} images, got {x.shape[1:3]}")
        bias = self.norm != "batch"
        ngf = self.ngf
        widths = [ngf, 2 * ngf, 4 * ngf] + [8 * ngf] * (self.num_downs - 3)
        # encoder: level 0 has no norm (and no activation before it); the innermost has no norm
        skips = []
        h = x
        for i, w in enumerate(widths):
            if i > 0:
                h = nn.leaky_relu(h, 0.2)
            h = _conv(w, 4, 2, ((1, 1), (1, 1)), use_bias=bias, name=f"down_{i}")(h)
            if 0 < i < self.num_downs - 1:
                h = Norm(self.norm, self.bn_axis_name, name=f"down_norm_{i}")(h, train)
            skips.append(h)
        # decoder, innermost first; level i's output is concatenated with the encoder output of level i - 1
        n_dropout = max(self.num_downs - 5, 0)
        deterministic = not (train or self.test_dropout)
        for i in reversed(range(self.num_downs)):
            h = nn.relu(h)
            out = self.out_channels if i == 0 else widths[i - 1]
            h = FastUpConv2x(out, use_bias=bias if i > 0 else True, kernel_init=_KERNEL_INIT, name=f"up_{i}")(h)
            if i == 0:
                return jnp.tanh(h)
            h = Norm(self.norm, self.bn_axis_name, name=f"up_norm_{i}")(h, train)
            if self.num_downs - 1 - n_dropout <= i < self.num_downs - 1 and self.dropout > 0:
                h = nn.Dropout(self.dropout, deterministic=deterministic)(h)
            # (the reference's in-place LeakyReLU rewrites the skip tensor too; it makes no difference,
            # the next level's ReLU comes first: relu(leaky_relu(x)) = relu(x))
            h = jnp.concatenate([skips[i - 1], h], axis=-1)


class PatchGANDiscriminator(nn.Module):
    ndf: int = 64
    n_layers: int = 3
    norm: str = "batch"
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool):
        _check_norm(self.norm)
        bias = self.norm != "batch"
        pad = ((1, 1), (1, 1))
        h = nn.leaky_relu(_conv(self.ndf, 4, 2, pad, True, name="conv_0")(x.astype(jnp.float32)), 0.2)
        for n in range(1, self.n_layers + 1):
            stride = 2 if n < self.n_layers else 1
            h = _conv(self.ndf * min(2**n, 8), 4, stride, pad, bias, name=f"conv_{n}")(h)
            h = nn.leaky_relu(Norm(self.norm, self.bn_axis_name, name=f"norm_{n}")(h, train), 0.2)
        return _conv(1, 4, 1, pad, True, name="logits")(h)[..., 0]


def patch_receptive_field(n_layers: int) -> int:
    """Input pixels (per side) one PatchGAN logit sees: 70 for ``n_layers=3`` (pix2pix's 70x70)."""
    rf = 1
    for stride in reversed([2] * n_layers + [1, 1]):  # conv_0..conv_{n-1} stride 2, then two stride-1 convs
        rf = (rf - 1) * stride + 4
    return rf


class ResNetGenerator(nn.Module):
    out_channels: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    dropout: float = 0.0
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool):
        _check_norm(self.norm)
        bias = self.norm != "batch"
        h = x.astype(jnp.float32)
        if h.shape[1] % 4 or h.shape[2] % 4:
            raise ValueError(f"the ResNet generator downsamples twice: image sides must be multiples of 4, got {h.shape[1:3]}")

        def norm_relu(h, name):
            return nn.relu(Norm(self.norm, self.bn_axis_name, name=name)(h, train))

        def reflect(h, p):
            return jnp.pad(h, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")

        h = norm_relu(_conv(self.ngf, 7, 1, "VALID", bias, name="in_conv")(reflect(h, 3)), "in_norm")
        for i in range(2):
            h = norm_relu(_conv(self.ngf * 2 ** (i + 1), 3, 2, ((1, 1), (1, 1)), bias, name=f"down_{i}")(h), f"down_norm_{i}")
        width = self.ngf * 4
        for b in range(self.n_blocks):
            r = norm_relu(_conv(width, 3, 1, "VALID", bias, name=f"block_{b}_conv_0")(reflect(h, 1)), f"block_{b}_norm_0")
            if self.dropout:
                r = nn.Dropout(self.dropout, deterministic=not train)(r)
            r = _conv(width, 3, 1, "VALID", bias, name=f"block_{b}_conv_1")(reflect(r, 1))
            h = h + Norm(self.norm, self.bn_axis_name, name=f"block_{b}_norm_1")(r, train)
        for i in range(2):
            h = UpConv3x3(self.ngf * 2 ** (1 - i), use_bias=bias, kernel_init=_KERNEL_INIT, name=f"up_{i}")(h)
            h = norm_relu(h, f"up_norm_{i}")
        return jnp.tanh(_conv(self.out_channels, 7, 1, "VALID", True, name="out_conv")(reflect(h, 3)))
