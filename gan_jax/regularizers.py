"""Discriminator regularisers as pure functions, and the ``Penalty`` hook of the step.

A penalty function is called by ``gan_jax.steps.d_step`` inside the discriminator's
loss, so gradients of the penalty reach the discriminator parameters through nested
``jax.grad`` (Optax has no gradient-penalty transform; it belongs in the loss)::

    fn(*, d_fn, real, fake, rng) -> scalar

``d_fn`` maps a batch of (already packed) inputs to logits with the current
discriminator parameters; ``real`` and ``fake`` are the batches the discriminator saw
this step. A ``Penalty`` names the function, its weight and how often it applies
(lazy regularisation, Karras et al. 2020: every ``every`` steps with the weight
multiplied by ``every``, so the expected penalty is unchanged).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def _per_example_grad_norm(d_fn: Callable[[Array], Array], x: Array) -> Array:
    # Each logit depends only on its own example, so the gradient of the summed logits
    # w.r.t. x holds every per-example input gradient: one extra backward pass.
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
    sq = jnp.sum(grads.reshape((x.shape[0], -1)) ** 2, axis=1)
    # sqrt has an infinite derivative at 0; the epsilon keeps the penalty's gradient finite
    # when D is locally flat (e.g. a freshly initialised critic with zero weights).
    return jnp.sqrt(sq + 1e-12)


def gradient_penalty(*, d_fn, real: Array, fake: Array, rng: Array, target: float = 1.0, one_sided: bool = False) -> Array:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)|| - target)^2] on random interpolates.

    ``one_sided`` penalises only norms above ``target``: E[max(0, ||grad|| - target)^2].
    """
    eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), dtype=real.dtype)
    x_hat = eps * real + (1.0 - eps) * fake
    gap = _per_example_grad_norm(d_fn, x_hat) - target
    if one_sided:
        gap = jnp.maximum(gap, 0.0)
    return jnp.mean(gap**2)


def r1_penalty(*, d_fn, real: Array, fake: Array, rng: Array) -> Array:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; apply with weight gamma/2."""
    del fake, rng
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(real)
    return jnp.mean(jnp.sum(grads.reshape((real.shape[0], -1)) ** 2, axis=1))


@dataclasses.dataclass(frozen=True)
class Penalty:
    """A weighted discriminator penalty, applied every ``every`` D steps (lazy regularisation)."""

    name: str
    fn: Callable[..., Array]
    weight: float
    every: int = 1

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"Penalty.every must be >= 1, got {self.every}")

    def __call__(self, *, d_fn, real: Array, fake: Array, rng: Array, d_step: Array) -> Array:
        """Weighted penalty for D step number ``d_step`` (0 on steps a lazy penalty skips)."""
        if self.every == 1:
            return self.weight * self.fn(d_fn=d_fn, real=real, fake=fake, rng=rng)
        return jax.lax.cond(
            d_step % self.every == 0,
            # weight * every keeps the expected regularisation strength of the eager schedule
            lambda: (self.weight * self.every) * self.fn(d_fn=d_fn, real=real, fake=fake, rng=rng),
            lambda: jnp.zeros((), real.dtype),
        )
