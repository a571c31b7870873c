"""Standing statistics (Brock et al. 2019, BigGAN's evaluation trick): BatchNorm statistics of a
trained generator recomputed from N training-mode passes.

The running averages a generator ends training with mix statistics of many past weights (and,
for an EMA copy, of one pass per step). BigGAN-PyTorch (``utils.accumulate_standing_stats``)
resets them and runs N batches of fresh latents and labels through G in training mode, each
BatchNorm storing the plain average of the N per-batch means and variances. ``standing_statistics``
does that for any Flax module whose BatchNorms are ``nn.BatchNorm`` (BigGAN's, SNGAN's, DCGAN's)::

    net = state.nets["G"]
    batches = latent_batches(jax.random.PRNGKey(0), 16, 256, recipe.latent_dim, recipe.num_classes)
    net = with_standing_statistics(net, batches)          # the EMA copy's statistics (ema=True)
"""

from __future__ import annotations

import functools
from typing import Any, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.engine import Network

__all__ = ["standing_statistics", "latent_batches", "with_standing_statistics", "standing_state"]

BATCH_STATS = "batch_stats"


def _batch_statistics(next_fun, args, kwargs, context):
    """Method interceptor: a training-mode ``nn.BatchNorm`` leaves its *batch* mean and variance
    in its running-average variables (instead of the momentum update)."""
    module = context.module
    if not isinstance(module, nn.BatchNorm) or context.method_name != "__call__":
        return next_fun(*args, **kwargs)
    eval_mode = nn.merge_param("use_running_average", module.use_running_average, kwargs.get("use_running_average"))
    if eval_mode or module.is_initializing():
        return next_fun(*args, **kwargs)
    keep = 1.0 - module.momentum
    if keep <= 0:
        raise ValueError("standing statistics need BatchNorm momentum < 1")
    # From zero running averages the update leaves (1 - momentum) * batch statistic; undo the factor.
    for name in ("mean", "var"):
        if module.has_variable(BATCH_STATS, name):
            module.put_variable(BATCH_STATS, name, jnp.zeros_like(module.get_variable(BATCH_STATS, name)))
    out = next_fun(*args, **kwargs)
    for name in ("mean", "var"):
        module.put_variable(BATCH_STATS, name, module.get_variable(BATCH_STATS, name) / keep)
    return out


def _pass_statistics(module: nn.Module, variables, args: tuple, kwargs: dict):
    with nn.intercept_methods(_batch_statistics):
        _, updated = module.apply(variables, *args, train=True, mutable=[BATCH_STATS], **kwargs)
    return updated[BATCH_STATS]


@functools.lru_cache(maxsize=16)
def _compiled_pass(module: nn.Module, kwargs: tuple):
    # one jitted pass per module (and static keyword arguments): repeated calls do not recompile
    return jax.jit(lambda v, a: _pass_statistics(module, v, a, dict(kwargs)))


def standing_statistics(module: nn.Module, variables: dict, inputs: Iterable[tuple], **kwargs: Any):
    """The ``batch_stats`` of ``module`` averaged over training-mode passes on ``inputs``.

    ``variables``: ``{"params": ..., "batch_stats": ..., ...}`` (e.g. a ``Network``'s
    ``{"params": ema_params, **ema_collections}``); ``inputs``: positional-argument tuples, one per
    batch (a generator's ``(z, y)``); ``kwargs`` (hashable, static) go to every call. Each BatchNorm's new mean (and
    variance) is the plain mean over the batches of its per-batch mean (biased variance), as
    BigGAN-PyTorch's ``myBN`` accumulates them. Nothing else changes (spectral-norm vectors and
    other collections are read, not advanced).
    """
    if BATCH_STATS not in variables:
        raise ValueError("this module has no BatchNorm statistics (no 'batch_stats' collection)")
    step = _compiled_pass(module, tuple(sorted(kwargs.items())))
    total, n = None, 0
    for args in inputs:
        stats = step(variables, tuple(args))
        total = stats if total is None else jax.tree.map(jnp.add, total, stats)
        n += 1
    if n == 0:
        raise ValueError("standing statistics need at least one batch")
    return jax.tree.map(lambda t: t / n, total)


def latent_batches(rng: jax.Array, num_batches: int, batch_size: int, z_dim: int, num_classes: int = 0) -> list[tuple]:
    """``num_batches`` generator inputs: N(0, I) latents and uniform labels (``(z,)`` if unconditional),
    as the reference draws them."""
    out = []
    for key in jax.random.split(rng, num_batches):
        kz, ky = jax.random.split(key)
        z = jax.random.normal(kz, (batch_size, z_dim))
        out.append((z, jax.random.randint(ky, (batch_size,), 0, num_classes)) if num_classes else (z,))
    return out


def with_standing_statistics(net: Network, inputs: Iterable[tuple], *, ema: bool = True, **kwargs: Any) -> Network:
    """``net`` with its EMA copy's (``ema``) or raw network's BatchNorm statistics replaced by standing ones."""
    if ema and not net.ema:
        raise ValueError("this network has no EMA copy")
    params, cols = (net.ema_params, net.ema_collections) if ema else (net.params, net.collections)
    stats = standing_statistics(net.module, {"params": params, **cols}, inputs, **kwargs)
    cols = {**cols, BATCH_STATS: stats}
    return net.replace(ema_collections=cols) if ema else net.replace(collections=cols)


def standing_state(recipe, state, num_batches: int, *, seed: int = 0, use_ema: bool = True, batch_size: int = 256):
    """``state`` with its generator's (EMA copy's if ``use_ema`` and it has one) BatchNorm statistics
    replaced by standing ones from ``num_batches`` batches of fresh latents (and uniform labels).
    What ``gan-jax sample --standing-stats N`` and ``gan-jax eval --standing-stats N`` do."""
    net = state.nets[recipe.generator]
    ema = net.ema is not None and use_ema
    if num_batches < 1 or BATCH_STATS not in (net.ema_collections if ema else net.collections):
        raise ValueError("standing statistics need N >= 1 and a generator with BatchNorm statistics")
    batches = latent_batches(jax.random.PRNGKey(seed + 2), num_batches, batch_size, recipe.latent_dim, recipe.num_classes)
    return state.replace(nets={**state.nets, recipe.generator: with_standing_statistics(net, batches, ema=ema)})
