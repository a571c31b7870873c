"""Spectral normalisation (Miyato et al. 2018) for Linen layers.

``W_SN = W / sigma(W)`` with ``sigma`` estimated by power iteration. The stored
parameter is never rewritten: the normalised kernel is computed on the fly from the
``params`` kernel and a vector ``u`` kept in the ``"spectral"`` variable collection
(``SN_COLLECTION``), so optimizers, checkpoints and weight decay see the raw ``W`` (the
Linen ``nn.SpectralNorm`` also keeps W; NNX's rewrites the stored weight, flax issue 5576).

One power iteration runs per call when ``update_stats=True`` *and* the collection is
mutable (``apply(..., mutable=[..., "spectral"])``); otherwise the stored ``u`` is used
as is. ``gan_jax.steps`` makes the collection mutable only in D's first forward pass of
a D step, so each D update does exactly one power iteration and the real pass, the fake
pass, the penalties and the following G step all use the same ``sigma``. ``u`` depends
only on the (replicated) parameters, so it stays identical on every device under pmap
and needs no cross-device reduction.

Matrix view: a kernel of shape ``(..., fan_in, out)`` (Dense, Conv HWIO, Embed) is
reshaped to ``w`` of shape ``(fan_in', out)`` (PyTorch's ``W.view(out, -1)`` transposed;
same singular values). ``u`` has size ``out``; one iteration is
``v = normalize(w u)``, ``u = normalize(w^T v)`` and ``sigma = ||w u||`` with ``u``
held constant, whose gradient w.r.t. ``w`` is ``v u^T`` exactly as in the paper.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array

SN_COLLECTION = "spectral"

__all__ = ["SN_COLLECTION", "power_iteration", "spectral_normalize", "SNDense", "SNConv", "SNEmbed"]


def _normalize(x: Array, eps: float) -> Array:
    return x / jnp.maximum(jnp.linalg.norm(x), eps)


def power_iteration(w: Array, u: Array, n_steps: int = 1, eps: float = 1e-12) -> tuple[Array, Array]:
    """``n_steps`` power iterations on the (m, n) matrix ``w`` from ``u`` (size n).

    Returns ``(u, sigma)``: the new right singular vector estimate and ``||w u||``, the
    estimate of the largest singular value (differentiable in ``w``, ``u`` held constant).
    """
    for _ in range(n_steps):
        v = _normalize(w @ u, eps)
        u = _normalize(w.T @ v, eps)
    u = lax.stop_gradient(u)
    return u, jnp.linalg.norm(w @ u)


def spectral_normalize(module: nn.Module, kernel: Array, *, update_stats: bool, n_steps: int = 1, eps: float = 1e-12) -> Array:
    """``kernel / sigma(kernel)`` inside ``module``'s ``__call__`` (creates/updates ``u``)."""
    w = kernel.reshape((-1, kernel.shape[-1])).astype(jnp.float32)
    u_var = module.variable(
        SN_COLLECTION,
        "u",
        lambda: _normalize(jax.random.normal(module.make_rng("params"), (w.shape[1],), jnp.float32), eps),
    )
    update = update_stats and module.is_mutable_collection(SN_COLLECTION) and not module.is_initializing()
    u, sigma = power_iteration(w, u_var.value, n_steps if update else 0, eps)
    if update:
        u_var.value = u
    return (kernel / sigma.astype(kernel.dtype)).astype(kernel.dtype)


class SNDense(nn.Module):
    """``nn.Dense`` with a spectrally normalised kernel (same parameter names)."""

    features: int
    use_bias: bool = True
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()
    n_steps: int = 1

    @nn.compact
    def __call__(self, x: Array, *, update_stats: bool = True) -> Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        kernel = spectral_normalize(self, kernel, update_stats=update_stats, n_steps=self.n_steps)
        y = x @ kernel
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32)
        return y


class SNConv(nn.Module):
    """``nn.Conv`` (NHWC, HWIO kernel) with a spectrally normalised kernel."""

    features: int
    kernel_size: Sequence[int] = (3, 3)
    strides: Sequence[int] = (1, 1)
    padding: Any = "SAME"
    use_bias: bool = True
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()
    n_steps: int = 1

    @nn.compact
    def __call__(self, x: Array, *, update_stats: bool = True) -> Array:
        kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
        kernel = spectral_normalize(self, kernel, update_stats=update_stats, n_steps=self.n_steps)
        y = lax.conv_general_dilated(
            x, kernel, window_strides=tuple(self.strides), padding=self.padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32)
        return y


class SNEmbed(nn.Module):
    """Class embedding with a spectrally normalised (num_classes, features) table (projection D)."""

    num_embeddings: int
    features: int
    embedding_init: Any = nn.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)
    n_steps: int = 1

    @nn.compact
    def __call__(self, y: Array, *, update_stats: bool = True) -> Array:
        table = self.param("embedding", self.embedding_init, (self.num_embeddings, self.features), jnp.float32)
        table = spectral_normalize(self, table, update_stats=update_stats, n_steps=self.n_steps)
        return jnp.take(table, y, axis=0)
