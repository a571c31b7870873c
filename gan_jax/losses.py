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
    "relativistic_avg_d",
    "relativistic_avg_g",
    "relativistic_avg_ls_d",
    "relativistic_avg_ls_g",
    "classifier_ce",
    "acgan_d",
    "acgan_g",
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


# --- relativistic average (Jolicoeur-Martineau 2018, "The relativistic discriminator") ---
#
# C(x) is the critic (pre-sigmoid) output; the relativistic average discriminator judges
# whether real data is more realistic than the *average* fake (and vice versa):
#   D_ra(x_r) = sigmoid(C(x_r) - E_f[C(x_f)]),   D_ra(x_f) = sigmoid(C(x_f) - E_r[C(x_r)]).
# Unlike the other generator losses these need the real logits too (``GANLoss.relativistic``);
# the batch means are not detached (as in the paper's code) and, under pmap (``axis_name``), are
# means over the global batch. The author's code divides each loss by 2; we follow the paper's
# equations (a constant factor, invisible to Adam).


def _mean(x: Array, axis_name: str | None) -> Array:
    """Batch mean; under pmap (``axis_name``) the mean over the global batch."""
    m = jnp.mean(x)
    return m if axis_name is None else jax.lax.pmean(m, axis_name)


def relativistic_avg_d(*, real_logits: Array, fake_logits: Array, axis_name: str | None = None) -> tuple[Array, Array]:
    """RaSGAN discriminator: -E_r[log D_ra(x_r)] - E_f[log(1 - D_ra(x_f))]."""
    mean_r, mean_f = _mean(real_logits, axis_name), _mean(fake_logits, axis_name)
    real = jnp.mean(jax.nn.softplus(-(real_logits - mean_f)))  # -log sigmoid(C_r - mean C_f)
    fake = jnp.mean(jax.nn.softplus(fake_logits - mean_r))  # -log(1 - sigmoid(C_f - mean C_r))
    return real, fake


def relativistic_avg_g(*, fake_logits: Array, real_logits: Array, axis_name: str | None = None) -> Array:
    """RaSGAN generator: -E_f[log D_ra(x_f)] - E_r[log(1 - D_ra(x_r))] (the roles swapped)."""
    mean_r, mean_f = _mean(real_logits, axis_name), _mean(fake_logits, axis_name)
    fake = jnp.mean(jax.nn.softplus(-(fake_logits - mean_r)))  # -log sigmoid(C_f - mean C_r)
    real = jnp.mean(jax.nn.softplus(real_logits - mean_f))  # -log(1 - sigmoid(C_r - mean C_f))
    return fake + real


def relativistic_avg_ls_d(*, real_logits: Array, fake_logits: Array, axis_name: str | None = None) -> tuple[Array, Array]:
    """RaLSGAN discriminator: E_r[(C_r - E_f C_f - 1)^2] + E_f[(C_f - E_r C_r + 1)^2]."""
    mean_r, mean_f = _mean(real_logits, axis_name), _mean(fake_logits, axis_name)
    real = jnp.mean((real_logits - mean_f - 1.0) ** 2)
    fake = jnp.mean((fake_logits - mean_r + 1.0) ** 2)
    return real, fake


def relativistic_avg_ls_g(*, fake_logits: Array, real_logits: Array, axis_name: str | None = None) -> Array:
    """RaLSGAN generator: E_f[(C_f - E_r C_r - 1)^2] + E_r[(C_r - E_f C_f + 1)^2]."""
    mean_r, mean_f = _mean(real_logits, axis_name), _mean(fake_logits, axis_name)
    fake = jnp.mean((fake_logits - mean_r - 1.0) ** 2)
    real = jnp.mean((real_logits - mean_f + 1.0) ** 2)
    return fake + real


# --- auxiliary classifier (ACGAN, Odena, Olah & Shlens 2017) ---------------------------
#
# D has a second head with class logits; L_C = E[log P(C = c | X)] on real and fake data.
# D maximises L_S + L_C and G maximises L_C - L_S: both *minimise* the class cross-entropy,
# added (with a weight, 1 in the paper) to their adversarial losses.


def classifier_ce(*, class_logits: Array, labels: Array) -> Array:
    """Mean softmax cross-entropy -log softmax(class_logits)[label]; finite for all finite logits."""
    logz = jax.nn.logsumexp(class_logits, axis=-1)
    picked = jnp.take_along_axis(class_logits, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return jnp.mean(logz - picked)  # log sum_k e^{l_k} - l_y


def acgan_d(*, real_class_logits: Array, fake_class_logits: Array, real_labels: Array, fake_labels: Array) -> tuple[Array, Array]:
    """ACGAN discriminator class terms: (CE on real data, CE on generated data), both minimised."""
    return (
        classifier_ce(class_logits=real_class_logits, labels=real_labels),
        classifier_ce(class_logits=fake_class_logits, labels=fake_labels),
    )


def acgan_g(*, fake_class_logits: Array, fake_labels: Array) -> Array:
    """ACGAN generator class term: CE of D's classifier on G(z, c) against c."""
    return classifier_ce(class_logits=fake_class_logits, labels=fake_labels)


class GANLoss(NamedTuple):
    d: Callable[..., tuple[Array, Array]]
    g: Callable[..., Array]
    #: whether the discriminator loss accepts ``label_smoothing``
    smoothable: bool = False
    #: whether the generator loss needs ``real_logits`` too (the train step then runs D on a real
    #: batch); relativistic losses also take ``axis_name`` for their global batch means
    relativistic: bool = False


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(minimax_d, minimax_g, smoothable=True),
    "nonsaturating": GANLoss(minimax_d, nonsaturating_g, smoothable=True),
    "wasserstein": GANLoss(wasserstein_d, wasserstein_g),
    "hinge": GANLoss(hinge_d, hinge_g),
    "least_squares": GANLoss(least_squares_d, least_squares_g),
    "relativistic_avg": GANLoss(relativistic_avg_d, relativistic_avg_g, relativistic=True),
    "relativistic_avg_ls": GANLoss(relativistic_avg_ls_d, relativistic_avg_ls_g, relativistic=True),
}


def get_loss(name: str) -> GANLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {sorted(LOSSES)}") from None
