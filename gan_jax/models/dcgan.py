"""DCGAN generator and discriminator (Radford, Metz & Chintala 2015).

Architecture as in the paper and the PyTorch DCGAN example, generalised to the
resolutions we need: the generator projects z to a ``base x base`` map (4x4, or 7x7
for 28x28 images), then doubles the resolution with stride-2 4x4 transposed
convolutions, halving the channels each time; BatchNorm + ReLU everywhere but the
output (tanh). The discriminator mirrors it with stride-2 4x4 convolutions and
LeakyReLU(0.2), BatchNorm on every layer but the first (optional: WGAN-GP and R1
critics must not use BatchNorm).

``width`` is the channel count of the largest-resolution hidden layer (``ngf``/``ndf``
in the PyTorch example, 64 there).

Conditioning (all off by default, which leaves the parameter tree unchanged):
``DCGANGenerator.num_classes`` concatenates one-hot labels to z (Mirza & Osindero 2014);
``DCGANDiscriminator.num_classes`` concatenates them to the image as constant feature
maps; ``DCGANDiscriminator.aux_classes`` adds the ACGAN classifier head (D then returns
``(logits, class_logits)``); ``DCGANDiscriminator.spectral_norm`` spectrally normalises
every D layer (the "standard CNN" of Miyato et al. 2018 uses this with no BatchNorm).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.fast_conv import FastConv, FastUpConv2x
from gan_jax.models.spectral import SNConv, SNDense

#: the generator's upsampling layers (see ``DCGANGenerator.upsample``)
UPSAMPLE_MODES = ("subpixel", "conv_transpose")

#: weight initialisations (``weight_init`` field): "normal" = the paper's (every conv / dense weight from
#: N(0, 0.02), BatchNorm scales from N(1, 0.02), biases 0, as the PyTorch DCGAN example's
#: ``weights_init``); "flax" = Flax's defaults (LeCun normal kernels, BatchNorm scale 1)
INITS = ("normal", "flax")


def _inits(init: str) -> dict[str, Any]:
    """Keyword arguments for the layers of a DCGAN with initialisation ``init``."""
    if init == "flax":
        return {"kernel": {}, "scale": {}}
    if init == "normal":
        return {"kernel": {"kernel_init": nn.initializers.normal(0.02)},
                "scale": {"scale_init": lambda key, shape, dtype=jnp.float32: 1.0 + 0.02 * jax.random.normal(key, shape, dtype)}}
    raise ValueError(f"unknown DCGAN init {init!r}; choose one of {INITS}")


#: spatial size -> (size of the first feature map, number of stride-2 stages)
SUPPORTED_SIZES = {16: (4, 2), 28: (7, 2), 32: (4, 3), 64: (4, 4)}


def _stages(size: int) -> tuple[int, int]:
    try:
        return SUPPORTED_SIZES[size]
    except KeyError:
        raise ValueError(f"DCGAN supports image sizes {sorted(SUPPORTED_SIZES)}, got {size}") from None


def _batch_norm(train: bool, axis_name: str | None, dtype: Any = None, init: str = "flax") -> nn.BatchNorm:
    # PyTorch defaults (momentum 0.1 there == 0.9 here, eps 1e-5), so parity runs compare like with like.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=axis_name, dtype=dtype,
                        **_inits(init)["scale"])


# PyTorch's ConvTranspose2d(k=4, s=2, padding=1) doubles the size; with lax.conv_transpose
# semantics that is an explicit padding of k - 1 - p = 2 on each side.
_UP_PADDING = ((2, 2), (2, 2))
_DOWN_PADDING = ((1, 1), (1, 1))


class DCGANGenerator(nn.Module):
    image_shape: tuple[int, int, int] = (32, 32, 3)
    width: int = 64
    #: set by ``gan_jax.parallel`` under ``pmap`` so BatchNorm uses the global batch
    bn_axis_name: str | None = None
    #: "subpixel": ``UpConv2x``, exactly equivalent to the transposed convolution (same
    #: parameters, tested) but with a fast weight gradient on XLA:CPU; "conv_transpose":
    #: ``nn.ConvTranspose`` itself. Both give the same parameter tree (checkpoints swap).
    upsample: str = "subpixel"
    #: computation dtype (e.g. ``jnp.bfloat16``); parameters stay float32. None: float32.
    dtype: Any = None
    #: > 0: condition on labels by concatenating one-hot(y) to z
    num_classes: int = 0
    #: implementation of the "subpixel" layers (``gan_jax.models.fast_conv.FastUpConv2x``):
    #: "auto" = Winograd (col2im below 4x4 inputs) on XLA:CPU, lax.conv elsewhere; "xla" = lax.conv
    conv_impl: str = "auto"
    #: weight initialisation, one of ``INITS`` (default: the paper's N(0, 0.02))
    weight_init: str = "normal"

    def _up(self, features: int, index: int, use_bias: bool):
        kw = _inits(self.weight_init)["kernel"]
        if self.upsample == "subpixel":
            return FastUpConv2x(features, use_bias=use_bias, dtype=self.dtype, impl=self.conv_impl, name=f"ConvTranspose_{index}", **kw)
        if self.upsample == "conv_transpose":
            return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=_UP_PADDING, use_bias=use_bias, dtype=self.dtype,
                                    name=f"ConvTranspose_{index}", **kw)
        raise ValueError(f"unknown upsample {self.upsample!r}; choose one of {UPSAMPLE_MODES}")

    @nn.compact
    def __call__(self, z, y=None, *, train: bool = True):
        if self.num_classes > 0:
            if y is None:
                raise ValueError("a conditional DCGAN generator needs labels y")
            z = jnp.concatenate([z, jax.nn.one_hot(y, self.num_classes, dtype=z.dtype)], axis=-1)
        height, width_px, channels = self.image_shape
        if height != width_px:
            raise ValueError(f"DCGAN needs square images, got {self.image_shape}")
        base, n_up = _stages(height)
        ch = self.width * 2 ** (n_up - 1)
        # Dense == ConvTranspose(4x4, stride 1, no padding) applied to a 1x1 map.
        kw = _inits(self.weight_init)["kernel"]
        h = nn.Dense(base * base * ch, use_bias=False, dtype=self.dtype, **kw)(z).reshape((z.shape[0], base, base, ch))
        h = nn.relu(_batch_norm(train, self.bn_axis_name, self.dtype, self.weight_init)(h))
        for i in range(n_up - 1):
            ch //= 2
            h = self._up(ch, i, use_bias=False)(h)
            h = nn.relu(_batch_norm(train, self.bn_axis_name, self.dtype, self.weight_init)(h))
        h = self._up(channels, n_up - 1, use_bias=True)(h)
        return jnp.tanh(h)


class DCGANDiscriminator(nn.Module):
    width: int = 64
    batch_norm: bool = True
    bn_axis_name: str | None = None
    #: computation dtype (e.g. ``jnp.bfloat16``); parameters and logits stay float32. None: float32.
    dtype: Any = None
    #: > 0: concatenate one-hot(y) to the input as constant feature maps (concat cGAN)
    num_classes: int = 0
    #: > 0: ACGAN auxiliary classifier head; D then returns (logits, class_logits)
    aux_classes: int = 0
    #: spectral normalisation of every convolution and of the output layers
    spectral_norm: bool = False
    #: implementation of the (non-spectral-norm) convolutions (``gan_jax.models.fast_conv.FastConv``):
    #: "auto" = Winograd on XLA:CPU from 16 input channels (not the first layer), lax.conv elsewhere
    conv_impl: str = "auto"
    #: weight initialisation, one of ``INITS`` (default: the paper's N(0, 0.02))
    weight_init: str = "normal"

    @nn.compact
    def __call__(self, x, y=None, *, train: bool = True):
        _, n_down = _stages(x.shape[1])
        kw = _inits(self.weight_init)["kernel"]
        h = x
        if self.num_classes > 0:
            if y is None:
                raise ValueError("a conditional DCGAN discriminator needs labels y")
            maps = jax.nn.one_hot(y, self.num_classes, dtype=x.dtype)[:, None, None, :]
            h = jnp.concatenate([h, jnp.broadcast_to(maps, h.shape[:3] + (self.num_classes,))], axis=-1)
        for i in range(n_down):
            use_bias = i == 0 or not self.batch_norm
            if self.spectral_norm:
                h = SNConv(self.width * 2**i, (4, 4), strides=(2, 2), padding=_DOWN_PADDING, use_bias=use_bias, **kw)(h, update_stats=train)
            else:
                h = FastConv(self.width * 2**i, (4, 4), strides=(2, 2), padding=_DOWN_PADDING, use_bias=use_bias, dtype=self.dtype,
                             impl=self.conv_impl, name=f"Conv_{i}", **kw)(h)
            if i > 0 and self.batch_norm:
                h = _batch_norm(train, self.bn_axis_name, self.dtype, self.weight_init)(h)
            h = nn.leaky_relu(h, 0.2)
        # Dense on the flattened base x base map == Conv(base x base, valid) to 1x1.
        h = h.reshape((h.shape[0], math.prod(h.shape[1:])))
        if self.spectral_norm:
            logits = SNDense(1, **kw)(h, update_stats=train)[:, 0]
        else:
            logits = nn.Dense(1, dtype=self.dtype, **kw)(h)[:, 0]
        logits = logits if self.dtype is None else logits.astype(jnp.float32)
        if self.aux_classes > 0:
            if self.spectral_norm:
                class_logits = SNDense(self.aux_classes, name="classifier", **kw)(h, update_stats=train)
            else:
                class_logits = nn.Dense(self.aux_classes, dtype=self.dtype, name="classifier", **kw)(h)
            return logits, class_logits.astype(jnp.float32)
        return logits
