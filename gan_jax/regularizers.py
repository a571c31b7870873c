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

Other tricks of the catalogue are pure functions of parameters or inputs, wired into the
step by ``GANSpec`` fields rather than through ``Penalty``:

* ``clip_weights`` (WGAN weight clipping): a projection applied to D's parameters
  *after* the optimizer update (``GANSpec.d_weight_clip``). It is deliberately not an
  Optax transformation: a transformation returns updates, so clipping would have to be
  written as ``u' = clip(p + u) - p``, and ``p + u'`` then equals ``clip(p + u)`` only up
  to rounding (a parameter can land one ulp outside ``[-c, c]``). A plain function of
  the parameters applied after ``optax.apply_updates`` is exact and keeps the optimizer
  a pure optimizer.
* ``orthogonal_penalty`` (BigGAN) and ``historical_averaging_penalty`` (Salimans et al.
  2016) are functions of parameters, added to the G/D losses by the step; the running
  parameter average lives in ``GANState.hist_params`` and is updated by
  ``running_average``.
* ``instance_noise`` (Sonderby et al. 2016; Arjovsky & Bottou 2017) perturbs every input
  D sees, real and fake, with an optionally annealed standard deviation.
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


def one_sided_gradient_penalty(*, d_fn, real: Array, fake: Array, rng: Array) -> Array:
    """``gradient_penalty(..., one_sided=True)``: E[max(0, ||grad D(x_hat)|| - 1)^2]."""
    return gradient_penalty(d_fn=d_fn, real=real, fake=fake, rng=rng, one_sided=True)


def r1_penalty(*, d_fn, real: Array, fake: Array, rng: Array) -> Array:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; apply with weight gamma/2."""
    del fake, rng
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(real)
    return jnp.mean(jnp.sum(grads.reshape((real.shape[0], -1)) ** 2, axis=1))


def r2_penalty(*, d_fn, real: Array, fake: Array, rng: Array) -> Array:
    """R2 (Mescheder et al. 2018): E[||grad D(x)||^2] on generated data; apply with weight gamma/2."""
    del real, rng
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(fake)
    return jnp.mean(jnp.sum(grads.reshape((fake.shape[0], -1)) ** 2, axis=1))


def dragan_penalty(*, d_fn, real: Array, fake: Array, rng: Array, scale: float = 0.5, target: float = 1.0) -> Array:
    """DRAGAN (Kodali et al. 2017): E[(||grad D(x_hat)|| - target)^2] around the real data.

    x_p = x + scale * std(x) * U[0, 1) (elementwise, std over the whole batch, as in the
    authors' code) and x_hat = x + alpha (x_p - x) with alpha ~ U[0, 1) per example.
    The perturbation is treated as a constant (no gradient through std(x)).
    """
    del fake
    k_noise, k_alpha = jax.random.split(rng)
    noise = jax.random.uniform(k_noise, real.shape, dtype=real.dtype)
    x_p = real + scale * jax.lax.stop_gradient(jnp.std(real)) * noise
    alpha = jax.random.uniform(k_alpha, (real.shape[0],) + (1,) * (real.ndim - 1), dtype=real.dtype)
    x_hat = real + alpha * (x_p - real)
    gap = _per_example_grad_norm(d_fn, x_hat) - target
    return jnp.mean(gap**2)


def clip_weights(params, c: float):
    """WGAN weight clipping (Arjovsky et al. 2017): every parameter clamped to [-c, c]."""
    if c <= 0:
        raise ValueError(f"weight clipping needs c > 0, got {c}")
    return jax.tree.map(lambda p: jnp.clip(p, -c, c), params)


def _kernel_matrices(params):
    """Every parameter with ndim >= 2 as a (fan_in, fan_out) matrix (Flax kernels are (..., in, out))."""
    return [p.reshape((-1, p.shape[-1])) for p in jax.tree.leaves(params) if p.ndim >= 2]


def orthogonal_penalty(params) -> Array:
    """BigGAN orthogonal regularisation (Brock et al. 2019): sum_W ||W^T W * (1 - I)||_F^2.

    Only the off-diagonal entries are penalised (the filters' norms are free), over every
    kernel with ndim >= 2 reshaped to (fan_in, fan_out), i.e. between output filters
    (PyTorch's ``W.view(out, -1)`` rows). BigGAN's hand-written gradient
    ``2 (W W^T * (1 - I)) W`` is half the gradient of this sum; use beta/2 for their beta.
    """
    total = jnp.zeros((), jnp.float32)
    for w in _kernel_matrices(params):
        gram = w.T @ w
        off = gram * (1.0 - jnp.eye(gram.shape[0], dtype=gram.dtype))
        total = total + jnp.sum(off**2)
    return total


def historical_averaging_penalty(params, average) -> Array:
    """Historical averaging (Salimans et al. 2016): ||theta - (1/t) sum_i theta[i]||^2 (summed over leaves).

    ``average`` is the running mean of the past parameters; it is a constant here.
    """
    average = jax.lax.stop_gradient(average)
    return sum(jnp.sum((p - a) ** 2) for p, a in zip(jax.tree.leaves(params), jax.tree.leaves(average)))


def running_average(average, params, count: Array):
    """Cumulative mean update: the mean of ``count`` values from the mean of ``count - 1``."""
    count = jnp.asarray(count, jnp.float32)
    return jax.tree.map(lambda a, p: a + (p - a) / count, average, params)


def instance_noise(x: Array, rng: Array, std: Array | float) -> Array:
    """x + std * N(0, I): instance noise on a batch D sees (real or generated)."""
    return x + std * jax.random.normal(rng, x.shape, x.dtype)


def annealed_std(std: float, anneal_steps: int, step: Array) -> Array:
    """Instance-noise std at generator step ``step``: linear decay from ``std`` to 0 over
    ``anneal_steps`` steps (constant ``std`` if ``anneal_steps`` is 0)."""
    if anneal_steps <= 0:
        return jnp.asarray(std, jnp.float32)
    return std * jnp.maximum(0.0, 1.0 - step.astype(jnp.float32) / anneal_steps)


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
