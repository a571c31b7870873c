"""GAN optimizers by name, and StyleGAN2's rescaling for lazily regularised networks."""

from __future__ import annotations

import optax

#: optimizer names accepted by ``make_optimizer``
OPTIMIZERS = ("adam", "optimistic_adam", "rmsprop")


def lazy_ratio(every: int) -> float:
    """StyleGAN2's ``mb_ratio = every / (every + 1)``.

    A network updated by a main phase every step and by a regulariser phase every ``every``
    steps takes ``every + 1`` optimizer steps per ``every`` steps; scaling the learning rate by
    the ratio and Adam's betas to its power keeps the step size and averaging horizon of the
    eager schedule (Karras et al. 2020, appendix B)."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    return 1.0 if every == 1 else every / (every + 1)


def _scaled(learning_rate: float | optax.Schedule, r: float):
    if r == 1.0:
        return learning_rate
    if callable(learning_rate):
        return lambda count: learning_rate(count) * r
    return learning_rate * r


def adam(learning_rate: float | optax.Schedule, b1: float = 0.5, b2: float = 0.999, *, lazy_every: int = 1, eps: float = 1e-8) -> optax.GradientTransformation:
    """Adam with the DCGAN default beta1 = 0.5 (Radford et al. 2015); ``lazy_every > 1``
    rescales lr and betas by ``lazy_ratio`` (StyleGAN2)."""
    r = lazy_ratio(lazy_every)
    return optax.adam(_scaled(learning_rate, r), b1=b1**r, b2=b2**r, eps=eps)


def make_optimizer(name: str, learning_rate: float | optax.Schedule, b1: float = 0.5, b2: float = 0.999, *,
                   lazy_every: int = 1) -> optax.GradientTransformation:
    """A GAN optimizer by name.

    * ``adam``: ``optax.adam(lr, b1, b2)``.
    * ``optimistic_adam``: ``optax.optimistic_adam_v2(lr, b1=b1, b2=b2)`` (Daskalakis et al.
      2018: Adam on the optimistic gradient 2 g_t - g_{t-1}, optax's alpha = beta = 1).
    * ``rmsprop``: RMSprop as in the WGAN reference code (PyTorch ``RMSprop(lr)``: decay 0.99,
      eps 1e-8 added outside the square root, no momentum); b1/b2 unused.

    ``lazy_every > 1``: the network is also updated by a regulariser every ``lazy_every`` steps;
    lr (and Adam's betas) are rescaled by ``lazy_ratio`` as in StyleGAN2.
    """
    r = lazy_ratio(lazy_every)
    lr = _scaled(learning_rate, r)
    if name == "adam":
        return optax.adam(lr, b1=b1**r, b2=b2**r)
    if name == "optimistic_adam":
        return optax.optimistic_adam_v2(lr, b1=b1**r, b2=b2**r)
    if name == "rmsprop":
        return optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
