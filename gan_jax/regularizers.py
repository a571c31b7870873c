"""Discriminator regularisers as pure functions, and the ``Penalty`` the classic recipe adds to D's loss.

A penalty function is called inside the discriminator's loss, so its gradient reaches D's
parameters through nested ``jax.grad`` (Optax has no gradient-penalty transform; it belongs in
the loss)::

    fn(*, d_fn, real, fake, rng, axis_name=None) -> scalar

``d_fn`` maps a batch of (already packed) inputs to logits with the current discriminator
parameters; ``real`` and ``fake`` are the batches the discriminator saw; ``axis_name`` is the
pmap axis (random draws and batch statistics are then global, ``gan_jax.noise``). A ``Penalty``
names the function, its weight and how often it applies: every step inside the D loss, or
lazily every ``every`` steps as a phase of its own (``Dreg``) whose loss the engine multiplies by
``every`` (Karras et al. 2020).

Per-example gradient penalties need D's output for one example to depend on that example
alone: a D with BatchNorm in training mode couples the batch, and the classic recipe refuses it.

Other tricks are pure functions of parameters or inputs:

* ``clip_weights`` (WGAN weight clipping): a projection applied to D's parameters *after* the
  optimizer update (``Network.project``). Not an Optax transformation: a transformation returns
  updates, so clipping would be ``u' = clip(p + u) - p``, and ``p + u'`` equals ``clip(p + u)``
  only up to rounding (a parameter can land one ulp outside ``[-c, c]``).
* ``orthogonal_penalty`` (BigGAN) and ``historical_averaging_penalty`` (Salimans et al. 2016)
  are functions of parameters; the running parameter average lives in the state's ``extra``
  and is updated by ``running_average``.
* ``instance_noise`` (Sonderby et al. 2016; Arjovsky & Bottou 2017) perturbs every input D sees.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from gan_jax import noise

Array = jax.Array


def _per_example_grad_norm(d_fn: Callable[[Array], Array], x: Array) -> Array:
    # Each logit depends only on its own example, so the gradient of the summed logits
    # w.r.t. x holds every per-example input gradient: one extra backward pass.
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
    sq = jnp.sum(grads.reshape((x.shape[0], -1)) ** 2, axis=1)
    # sqrt has an infinite derivative at 0; the epsilon keeps the penalty's gradient finite
    # when D is locally flat (e.g. a freshly initialised critic with zero weights).
    return jnp.sqrt(sq + 1e-12)


def gradient_penalty(*, d_fn, real: Array, fake: Array, rng: Array, target: float = 1.0, one_sided: bool = False,
                     axis_name: str | None = None) -> Array:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)|| - target)^2] on random interpolates.

    ``one_sided`` penalises only norms above ``target``: E[max(0, ||grad|| - target)^2].
    """
    eps = noise.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), axis_name, real.dtype)
    x_hat = eps * real + (1.0 - eps) * fake
    gap = _per_example_grad_norm(d_fn, x_hat) - target
    if one_sided:
        gap = jnp.maximum(gap, 0.0)
    return jnp.mean(gap**2)


def one_sided_gradient_penalty(*, d_fn, real: Array, fake: Array, rng: Array, axis_name: str | None = None) -> Array:
    """``gradient_penalty(..., one_sided=True)``: E[max(0, ||grad D(x_hat)|| - 1)^2]."""
    return gradient_penalty(d_fn=d_fn, real=real, fake=fake, rng=rng, one_sided=True, axis_name=axis_name)


def r1_penalty(*, d_fn, real: Array, fake: Array, rng: Array, axis_name: str | None = None) -> Array:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; apply with weight gamma/2."""
    del fake, rng, axis_name
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(real)
    return jnp.mean(jnp.sum(grads.reshape((real.shape[0], -1)) ** 2, axis=1))


def r2_penalty(*, d_fn, real: Array, fake: Array, rng: Array, axis_name: str | None = None) -> Array:
    """R2 (Mescheder et al. 2018): E[||grad D(x)||^2] on generated data; apply with weight gamma/2."""
    del real, rng, axis_name
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(fake)
    return jnp.mean(jnp.sum(grads.reshape((fake.shape[0], -1)) ** 2, axis=1))


def dragan_penalty(*, d_fn, real: Array, fake: Array, rng: Array, scale: float = 0.5, target: float = 1.0,
                   axis_name: str | None = None) -> Array:
    """DRAGAN (Kodali et al. 2017): E[(||grad D(x_hat)|| - target)^2] around the real data.

    x_p = x + scale * std(x) * U[0, 1) (elementwise, std over the whole batch, as in the
    authors' code) and x_hat = x + alpha (x_p - x) with alpha ~ U[0, 1) per example.
    The perturbation is treated as a constant (no gradient through std(x)); under pmap the std is
    that of the global batch.
    """
    del fake
    k_noise, k_alpha = jax.random.split(rng)
    u = noise.uniform(k_noise, real.shape, axis_name, real.dtype)
    mean = noise.batch_mean(real, axis_name)
    std = jnp.sqrt(noise.batch_mean(jnp.square(real - mean), axis_name))
    x_p = real + scale * jax.lax.stop_gradient(std) * u
    alpha = noise.uniform(k_alpha, (real.shape[0],) + (1,) * (real.ndim - 1), axis_name, real.dtype)
    x_hat = real + alpha * (x_p - real)
    gap = _per_example_grad_norm(d_fn, x_hat) - target
    return jnp.mean(gap**2)


def clip_weights(params, c: float):
    """WGAN weight clipping (Arjovsky et al. 2017): every parameter clamped to [-c, c]."""
    if c <= 0:
        raise ValueError(f"weight clipping needs c > 0, got {c}")
    return jax.tree.map(lambda p: jnp.clip(p, -c, c), params)


#: parameters under a module of one of these names are left out of ``orthogonal_penalty``: BigGAN's
#: shared class embedding (``BigGANGenerator``'s ``shared``), which the paper and BigGAN-PyTorch
#: (``utils.ortho``'s blacklist) exclude
ORTHO_EXCLUDE = ("shared",)


def _path_names(path) -> tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def _kernel_matrices(params, exclude: tuple[str, ...] = ORTHO_EXCLUDE):
    """Every parameter with ndim >= 2 as a (fan_in, fan_out) matrix (Flax kernels are (..., in, out)),
    except those with a module name in ``exclude`` on their path."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return [p.reshape((-1, p.shape[-1])) for path, p in leaves
            if p.ndim >= 2 and not set(_path_names(path)[:-1]) & set(exclude)]


def orthogonal_penalty(params, exclude: tuple[str, ...] = ORTHO_EXCLUDE) -> Array:
    """BigGAN orthogonal regularisation (Brock et al. 2019): sum_W ||W^T W * (1 - I)||_F^2.

    Only the off-diagonal entries are penalised (the filters' norms are free), over every
    kernel with ndim >= 2 reshaped to (fan_in, fan_out), i.e. between output filters
    (PyTorch's ``W.view(out, -1)`` rows), except the parameters of modules named in ``exclude``
    (default ``ORTHO_EXCLUDE``: BigGAN's shared class embedding). BigGAN's hand-written gradient
    ``2 (W W^T * (1 - I)) W`` is half the gradient of this sum; use beta/2 for their beta.
    """
    total = jnp.zeros((), jnp.float32)
    for w in _kernel_matrices(params, exclude):
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


def instance_noise(x: Array, rng: Array, std: Array | float, axis_name: str | None = None) -> Array:
    """x + std * N(0, I): instance noise on a batch D sees (real or generated); one key per
    example of the global batch, so the noise does not depend on the device count."""
    keys = noise.example_keys(rng, x.shape[0], axis_name)
    return x + std * jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], x.dtype))(keys)


def annealed_std(std: float, anneal_steps: int, step: Array) -> Array:
    """Instance-noise std at generator step ``step``: linear decay from ``std`` to 0 over
    ``anneal_steps`` steps (constant ``std`` if ``anneal_steps`` is 0)."""
    if anneal_steps <= 0:
        return jnp.asarray(std, jnp.float32)
    return std * jnp.maximum(0.0, 1.0 - step.astype(jnp.float32) / anneal_steps)


@dataclasses.dataclass(frozen=True)
class Penalty:
    """A weighted discriminator penalty, applied every step (``every=1``) or lazily every ``every`` steps."""

    name: str
    fn: Callable[..., Array]
    weight: float
    every: int = 1

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"Penalty.every must be >= 1, got {self.every}")

    def __call__(self, *, d_fn, real: Array, fake: Array, rng: Array, axis_name: str | None = None) -> Array:
        """The weighted penalty (the engine multiplies a lazy phase's loss by ``every``)."""
        return self.weight * self.fn(d_fn=d_fn, real=real, fake=fake, rng=rng, axis_name=axis_name)
