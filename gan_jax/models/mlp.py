"""Multilayer-perceptron generator and discriminator (Goodfellow et al. 2014).

The 2014 paper used maxout units and dropout in D; like most re-implementations we use
ReLU in G and LeakyReLU(0.2) in D, which train more reliably. The same modules serve
the toy 2D benchmark (``output_shape=(2,)``, linear output) and small images
(``output_shape=(28, 28, 1)``, tanh output in [-1, 1]).

With ``num_classes > 0`` both become the conditional GAN of Mirza & Osindero 2014: the
one-hot label is concatenated to z (G) and to the flattened input (D).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


#: weight initialisations (``weight_init`` field): "flax" = Flax's Dense defaults (LeCun normal kernels,
#: zero biases); "torch" = PyTorch's ``nn.Linear`` defaults (kernels and biases U(-1/sqrt(fan_in),
#: 1/sqrt(fan_in)): the init of the plain PyTorch MLP GANs people compare with)
INITS = ("flax", "torch")


def _dense(features: int, fan_in: int, init: str, **kw) -> nn.Dense:
    if init == "flax":
        return nn.Dense(features, **kw)
    if init == "torch":
        bound = 1.0 / math.sqrt(fan_in)
        return nn.Dense(features, kernel_init=nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
                        bias_init=lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound), **kw)
    raise ValueError(f"unknown MLP init {init!r}; choose one of {INITS}")


def _concat_label(h, y, num_classes: int):
    if num_classes <= 0:
        return h
    if y is None:
        raise ValueError("a conditional MLP (num_classes > 0) needs labels y")
    return jnp.concatenate([h, jax.nn.one_hot(y, num_classes, dtype=h.dtype)], axis=-1)


class MLPGenerator(nn.Module):
    output_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)
    #: "tanh" for images in [-1, 1], "linear" for unbounded data such as the toy sets
    output_activation: str = "tanh"
    #: BatchNorm after each hidden layer (as in PacGAN's toy generator)
    batch_norm: bool = False
    #: set by ``gan_jax.parallel`` under ``pmap`` so BatchNorm uses the global batch
    bn_axis_name: str | None = None
    #: > 0: concatenate one-hot(y) to z (conditional GAN)
    num_classes: int = 0
    #: one of ``INITS``
    weight_init: str = "flax"

    @nn.compact
    def __call__(self, z, y=None, *, train: bool = True):
        h = _concat_label(z, y, self.num_classes)
        for width in self.hidden:
            h = _dense(width, h.shape[-1], self.weight_init, use_bias=not self.batch_norm)(h)
            if self.batch_norm:
                h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=self.bn_axis_name)(h)
            h = nn.relu(h)
        h = _dense(math.prod(self.output_shape), h.shape[-1], self.weight_init)(h)
        if self.output_activation == "tanh":
            h = jnp.tanh(h)
        elif self.output_activation != "linear":
            raise ValueError(f"unknown output_activation {self.output_activation!r}; use 'tanh' or 'linear'")
        return h.reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
    hidden: Sequence[int] = (256, 256)
    bn_axis_name: str | None = None
    #: > 0: concatenate one-hot(y) to the flattened input (conditional GAN)
    num_classes: int = 0
    #: one of ``INITS``
    weight_init: str = "flax"

    @nn.compact
    def __call__(self, x, y=None, *, train: bool = True):
        del train
        h = _concat_label(x.reshape((x.shape[0], -1)), y, self.num_classes)
        for width in self.hidden:
            h = nn.leaky_relu(_dense(width, h.shape[-1], self.weight_init)(h), 0.2)
        return _dense(1, h.shape[-1], self.weight_init)(h)[:, 0]
