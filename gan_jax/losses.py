"""GAN losses as pure, keyword-only functions of discriminator logits.

Conventions
-----------
* ``real_logits`` / ``fake_logits`` are the raw (pre-sigmoid) discriminator outputs
  D(x) and D(G(z)); any shape, every element is one example.
* A discriminator loss returns ``(real_term, fake_term)``, two scalars whose sum is
  the loss the discriminator minimises; the split is what the train step logs as
  ``loss/d_real`` and ``loss/d_fake``.
* A generator loss returns one scalar, minimised by the generator.
* Cross-entropy losses are written with ``softplus`` (``-log(sigmoid(x)) ==
  softplus(-x)``), which is finite for every finite logit; we never take
  ``log(sigmoid(x))``, which underflows to ``log(0)`` for large negative ``x``.

``LOSSES`` maps a loss name to its ``(d_loss, g_loss)`` pair; ``get_loss`` looks it up
with a clear error for an unknown name.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = [
    "GANLoss",
    "LOSSES",
    "get_loss",
    "minimax_d",
    "minimax_g",
    "nonsaturating_g",
    "wasserstein_d",
    "wasserstein_g",
    "hinge_d",
    "hinge_g",
    "least_squares_d",
    "least_squares_g",
]


def _bce_with_logits(logits: Array, target: float) -> Array:
    """Mean binary cross-entropy of sigmoid(logits) against a constant target in [0, 1]."""
    # -t log s(x) - (1-t) log(1 - s(x)) = t softplus(-x) + (1-t) softplus(x)
    if target == 1.0:  # keep the common case exact
        return jnp.mean(jax.nn.softplus(-logits))
    return jnp.mean(target * jax.nn.softplus(-logits) + (1.0 - target) * jax.nn.softplus(logits))


# --- minimax / non-saturating (Goodfellow et al. 2014) -------------------------------


def minimax_d(*, real_logits: Array, fake_logits: Array, label_smoothing: float = 0.0) -> tuple[Array, Array]:
    """Discriminator cross-entropy: -log D(x) - log(1 - D(G(z))).

    ``label_smoothing`` is one-sided label smoothing (Salimans et al. 2016): the real
    target becomes ``1 - label_smoothing``; the fake target stays 0.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    real = _bce_with_logits(real_logits, 1.0 - label_smoothing)
    fake = jnp.mean(jax.nn.softplus(fake_logits))  # -log(1 - sigmoid(x))
    return real, fake


def minimax_g(*, fake_logits: Array) -> Array:
    """Saturating generator loss from the original minimax game: log(1 - D(G(z)))."""
    return -jnp.mean(jax.nn.softplus(fake_logits))  # log(1 - sigmoid(x)) = -softplus(x)


def nonsaturating_g(*, fake_logits: Array) -> Array:
    """Non-saturating generator loss: -log D(G(z))."""
    return jnp.mean(jax.nn.softplus(-fake_logits))  # -log(sigmoid(x))


# --- Wasserstein (Arjovsky et al. 2017) ----------------------------------------------


def wasserstein_d(*, real_logits: Array, fake_logits: Array) -> tuple[Array, Array]:
    """Critic loss: E[D(G(z))] - E[D(x)] (the critic maximises the Wasserstein estimate)."""
    return -jnp.mean(real_logits), jnp.mean(fake_logits)


def wasserstein_g(*, fake_logits: Array) -> Array:
    """Generator loss: -E[D(G(z))]."""
    return -jnp.mean(fake_logits)


# --- hinge (Lim & Ye 2017; Miyato et al. 2018) ---------------------------------------


def hinge_d(*, real_logits: Array, fake_logits: Array) -> tuple[Array, Array]:
    """Discriminator hinge loss: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return jnp.mean(jax.nn.relu(1.0 - real_logits)), jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_g(*, fake_logits: Array) -> Array:
    """Generator hinge loss: -E[D(G(z))]."""
    return -jnp.mean(fake_logits)


# --- least squares (Mao et al. 2017, a=0, b=c=1) -------------------------------------


def least_squares_d(*, real_logits: Array, fake_logits: Array) -> tuple[Array, Array]:
    """LSGAN discriminator loss: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]."""
    return 0.5 * jnp.mean((real_logits - 1.0) ** 2), 0.5 * jnp.mean(fake_logits**2)


def least_squares_g(*, fake_logits: Array) -> Array:
    """LSGAN generator loss: 1/2 E[(D(G(z)) - 1)^2]."""
    return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


class GANLoss(NamedTuple):
    d: Callable[..., tuple[Array, Array]]
    g: Callable[..., Array]
    #: whether the discriminator loss accepts ``label_smoothing``
    smoothable: bool = False


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(minimax_d, minimax_g, smoothable=True),
    "nonsaturating": GANLoss(minimax_d, nonsaturating_g, smoothable=True),
    "wasserstein": GANLoss(wasserstein_d, wasserstein_g),
    "hinge": GANLoss(hinge_d, hinge_g),
    "least_squares": GANLoss(least_squares_d, least_squares_g),
}


def get_loss(name: str) -> GANLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {sorted(LOSSES)}") from None
