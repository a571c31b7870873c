"""``GANState``: the one pytree that holds everything a GAN training run carries.

Array leaves (saved in checkpoints, donated to the compiled step, sharded/replicated by
``gan_jax.parallel``): step, G and D parameters, their non-parameter collections
(BatchNorm ``batch_stats``, later spectral-norm vectors), both optimizer states, the EMA
generator parameters and the run's base rng key.

Static fields (part of the tree structure, not of its leaves): the two Flax modules,
the two Optax transformations and the ``GANSpec`` of the training recipe. They are what
makes ``train_step(state, batch, rng)`` need no other argument.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax.losses import get_loss
from gan_jax.regularizers import Penalty

PyTree = Any


@dataclasses.dataclass(frozen=True)
class GANSpec:
    """The training recipe of a GAN, as typed arguments (no config objects in the core)."""

    z_dim: int
    #: a name in ``gan_jax.losses.LOSSES``
    loss: str = "nonsaturating"
    #: discriminator (critic) updates per generator update
    n_critic: int = 1
    #: EMA generator: ema <- decay * ema + (1 - decay) * params after every G step
    ema_decay: float = 0.999
    #: one-sided label smoothing of the real target (cross-entropy losses only)
    label_smoothing: float = 0.0
    #: PacGAN packing (Lin et al. 2018): D judges ``pack`` samples jointly
    pack: int = 1
    #: pass ``batch['y']`` to G and D
    conditional: bool = False
    #: discriminator penalties added to the D loss (see ``gan_jax.regularizers``)
    d_penalties: tuple[Penalty, ...] = ()
    #: set by ``gan_jax.parallel`` under ``pmap``: the axis to average gradients over
    axis_name: str | None = None
    #: WGAN weight clipping: D's parameters are clamped to [-c, c] after every D update (0 = off)
    d_weight_clip: float = 0.0
    #: ACGAN: weight of the auxiliary class cross-entropy in the G and D losses (0 = off;
    #: > 0 needs a discriminator that returns (logits, class_logits) and a conditional spec)
    aux_weight: float = 0.0
    #: BigGAN orthogonal regularisation weights (beta) on G's / D's kernels (0 = off)
    g_ortho_weight: float = 0.0
    d_ortho_weight: float = 0.0
    #: historical averaging weight for both players (Salimans et al. 2016; 0 = off); the
    #: running parameter averages live in ``GANState.hist_params``
    hist_weight: float = 0.0
    #: instance noise std added to every input of D (0 = off), decayed linearly to 0 over
    #: ``instance_noise_anneal`` generator steps (0 = constant)
    instance_noise: float = 0.0
    instance_noise_anneal: int = 0
    #: DiffAugment policy (Zhao et al. 2020), e.g. ("color", "translation", "cutout"),
    #: applied to real and fake images before D in both the D and the G step (() = off)
    augment: tuple[str, ...] = ()

    def __post_init__(self):
        loss = get_loss(self.loss)
        for name in ("d_weight_clip", "aux_weight", "g_ortho_weight", "d_ortho_weight", "hist_weight", "instance_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.aux_weight and not self.conditional:
            raise ValueError("aux_weight (ACGAN) needs a conditional spec (labels for G)")
        if not isinstance(self.augment, tuple):
            raise ValueError(f"augment must be a tuple of policy names, got {self.augment!r}")
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")
        if self.pack < 1:
            raise ValueError(f"pack must be >= 1, got {self.pack}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.label_smoothing and not loss.smoothable:
            raise ValueError(f"label_smoothing applies to cross-entropy losses only, not {self.loss!r}")
        if self.conditional and self.pack > 1:
            raise ValueError("packing (pack > 1) is not defined for conditional models")


class GANState(struct.PyTreeNode):
    step: jax.Array
    g_params: PyTree
    #: non-parameter variable collections of G, e.g. {"batch_stats": ...} ({} if none)
    g_state: PyTree
    d_params: PyTree
    d_state: PyTree
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    ema_params: PyTree
    #: historical averaging (``spec.hist_weight > 0``): {"g": mean of G's past parameters,
    #: "d": mean of D's past parameters}; {} otherwise
    hist_params: PyTree
    #: base key of the run; the step derives per-step keys with fold_in(rng, step)
    rng: jax.Array
    generator: nn.Module = struct.field(pytree_node=False)
    discriminator: nn.Module = struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    spec: GANSpec = struct.field(pytree_node=False)


def _split_vars(variables) -> tuple[PyTree, PyTree]:
    variables = dict(variables)
    params = variables.pop("params")
    return params, variables


def pack(x: jax.Array, n: int) -> jax.Array:
    """PacGAN packing: (B, *s) -> (B // n, *s[:-1], n * s[-1]), n consecutive samples per input."""
    if n == 1:
        return x
    b = x.shape[0]
    if b % n:
        raise ValueError(f"batch size {b} is not divisible by pack={n}")
    x = x.reshape((b // n, n) + x.shape[1:])
    x = jnp.moveaxis(x, 1, -2)  # (B/n, *s[:-1], n, s[-1])
    return x.reshape(x.shape[:-2] + (n * x.shape[-1],))


def create_state(
    *,
    generator: nn.Module,
    discriminator: nn.Module,
    g_tx: optax.GradientTransformation,
    d_tx: optax.GradientTransformation,
    spec: GANSpec,
    data_shape: tuple[int, ...],
    rng: jax.Array,
    num_classes: int = 0,
) -> GANState:
    """Initialise G, D, both optimizers and the EMA generator.

    ``data_shape`` is the shape of one example (e.g. ``(32, 32, 3)`` or ``(2,)``).
    ``rng`` becomes the run's base key after one split for initialisation.
    """
    if spec.conditional and num_classes < 1:
        raise ValueError("a conditional GANSpec needs num_classes >= 1")
    k_g, k_d, k_run = jax.random.split(rng, 3)
    z = jnp.zeros((spec.pack, spec.z_dim), jnp.float32)
    y = jnp.zeros((spec.pack,), jnp.int32) if spec.conditional else None
    g_params, g_state = _split_vars(generator.init(k_g, z, y, train=False))
    x = pack(jnp.zeros((spec.pack, *data_shape), jnp.float32), spec.pack)
    d_params, d_state = _split_vars(discriminator.init(k_d, x, y, train=False))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        g_state=g_state,
        d_params=d_params,
        d_state=d_state,
        g_opt_state=g_tx.init(g_params),
        d_opt_state=d_tx.init(d_params),
        # a copy, not an alias: the step donates the state, and aliased leaves cannot be donated twice
        ema_params=jax.tree.map(jnp.copy, g_params),
        hist_params={"g": jax.tree.map(jnp.copy, g_params), "d": jax.tree.map(jnp.copy, d_params)} if spec.hist_weight else {},
        rng=k_run,
        generator=generator,
        discriminator=discriminator,
        g_tx=g_tx,
        d_tx=d_tx,
        spec=spec,
    )


def adam(learning_rate: float | optax.Schedule, b1: float = 0.5, b2: float = 0.999) -> optax.GradientTransformation:
    """Adam with the DCGAN default beta1 = 0.5 (Radford et al. 2015)."""
    return optax.adam(learning_rate, b1=b1, b2=b2)


#: optimizer names accepted by ``make_optimizer`` (``train.optimizer``)
OPTIMIZERS = ("adam", "optimistic_adam", "rmsprop")


def make_optimizer(name: str, learning_rate: float | optax.Schedule, b1: float = 0.5, b2: float = 0.999) -> optax.GradientTransformation:
    """A GAN optimizer by name.

    * ``adam``: ``optax.adam(lr, b1, b2)``.
    * ``optimistic_adam``: ``optax.optimistic_adam_v2(lr, b1=b1, b2=b2)`` (Daskalakis et al.
      2018: Adam on the optimistic gradient 2 g_t - g_{t-1}, optax's alpha = beta = 1;
      the v2 interface, as optax 0.2.8 deprecates ``optimistic_adam``).
    * ``rmsprop``: RMSprop as in the WGAN reference code (PyTorch ``RMSprop(lr)``:
      decay 0.99, eps 1e-8 added outside the square root, no momentum); b1/b2 unused.
    """
    if name == "adam":
        return adam(learning_rate, b1, b2)
    if name == "optimistic_adam":
        return optax.optimistic_adam_v2(learning_rate, b1=b1, b2=b2)
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
