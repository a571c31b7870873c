"""A toy cycle-consistency GAN on 2-D points, built only from the public engine API.

An acceptance test that ``gan_jax.engine`` handles more than one generator/discriminator pair
(CycleGAN, Zhu et al. 2017, in miniature): two translators ``G_ab: A -> B`` and ``G_ba: B -> A``
(small MLPs R^2 -> R^2) and two least-squares critics ``D_a``, ``D_b``. Domain A is a Gaussian
blob at ``CENTER_A``, domain B one at ``CENTER_B``; the batch is ``{"a": (B, 2), "b": (B, 2)}``.

Phases (in this order, as in CycleGAN's training loop):

* ``Gmain`` updates ``("G_ab", "G_ba")``: least-squares adversarial losses of both directions
  ``E[(D_b(G_ab(a)) - 1)^2] + E[(D_a(G_ba(b)) - 1)^2]`` plus the cycle L1 loss
  ``E|G_ba(G_ab(a)) - a| + E|G_ab(G_ba(b)) - b|`` (weight ``cycle_weight``, 10 as in CycleGAN).
* ``Dmain`` updates ``("D_a", "D_b")``: least-squares losses on real points vs translated ones,
  halved as in CycleGAN (the translations are constants here: ``stop_gradient``).

Every batch mean is ``ctx.mean`` (the global batch under pmap), so the step is device-count
invariant; used by ``tests/parallel_check.py`` (1 device == Mesh == pmap) and
``tests/test_parallel.py`` (it trains).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.engine import (
    EMA,
    Phase,
    PhaseContext,
    Recipe,
    TrainState,
    apply_network,
    init_network,
    init_state,
)

#: The domains live at the scale of images in [-1, 1], where CycleGAN's cycle weight 10 was
#: tuned: the L1 cycle loss grows with the data's scale and the least-squares adversarial loss
#: does not, and at 4x this scale (blobs at (-2, 0) and (2, 1)) the cycle term wins and half of
#: the seeds settle on two identity-like translators that the saturated critics cannot dislodge.
CENTER_A = (-0.5, 0.0)
CENTER_B = (0.5, 0.25)
STD = 0.075
#: the mean distance of a domain's points to its centre (2-D Gaussian: STD * sqrt(pi / 2))
DOMAIN_RADIUS = STD * (np.pi / 2) ** 0.5

__all__ = [
    "CENTER_A",
    "CENTER_B",
    "DOMAIN_RADIUS",
    "STD",
    "PointCritic",
    "PointMap",
    "cycle_error",
    "cycle_recipe",
    "domain_distance",
    "make_cycle_toy",
    "sample_batch",
    "translate",
]


class PointMap(nn.Module):
    """A translator R^2 -> R^2 (a plain MLP: at initialisation far from both domains and from cycle-consistency)."""

    hidden: Sequence[int] = (32, 32)

    @nn.compact
    def __call__(self, x, *, train: bool = True):
        del train
        h = x
        for width in self.hidden:
            h = nn.relu(nn.Dense(width)(h))
        return nn.Dense(2)(h)


class PointCritic(nn.Module):
    """A critic R^2 -> R (one logit per point)."""

    hidden: Sequence[int] = (32, 32)

    @nn.compact
    def __call__(self, x, *, train: bool = True):
        del train
        h = x
        for width in self.hidden:
            h = nn.leaky_relu(nn.Dense(width)(h), 0.2)
        return nn.Dense(1)(h)[:, 0]


def _mse(ctx: PhaseContext, logits: jax.Array, target: float) -> jax.Array:
    """Least squares E[(logits - target)^2] over the global batch (CycleGAN's ``nn.MSELoss``)."""
    return ctx.mean((logits - target) ** 2)


def g_main(ctx: PhaseContext, *, cycle_weight: float):
    a, b = ctx.batch["a"], ctx.batch["b"]
    fake_b = ctx.apply("G_ab", a)
    fake_a = ctx.apply("G_ba", b)
    # the critics judge without updating anything of theirs (keep_stats=False)
    adv_ab = _mse(ctx, ctx.apply("D_b", fake_b, keep_stats=False), 1.0)
    adv_ba = _mse(ctx, ctx.apply("D_a", fake_a, keep_stats=False), 1.0)
    cycle_a = ctx.mean(jnp.abs(ctx.apply("G_ba", fake_b) - a))
    cycle_b = ctx.mean(jnp.abs(ctx.apply("G_ab", fake_a) - b))
    cycle = cycle_a + cycle_b
    total = adv_ab + adv_ba + cycle_weight * cycle
    return total, {"loss/g_ab": adv_ab, "loss/g_ba": adv_ba, "loss/cycle": cycle, "loss/g": total}


def d_main(ctx: PhaseContext):
    a, b = ctx.batch["a"], ctx.batch["b"]
    fake_b = jax.lax.stop_gradient(ctx.apply("G_ab", a, keep_stats=False))
    fake_a = jax.lax.stop_gradient(ctx.apply("G_ba", b, keep_stats=False))
    # CycleGAN halves each critic's loss (it learns more slowly than the translators)
    d_b = 0.5 * (_mse(ctx, ctx.apply("D_b", b), 1.0) + _mse(ctx, ctx.apply("D_b", fake_b), 0.0))
    d_a = 0.5 * (_mse(ctx, ctx.apply("D_a", a), 1.0) + _mse(ctx, ctx.apply("D_a", fake_a), 0.0))
    return d_a + d_b, {"loss/d_a": d_a, "loss/d_b": d_b, "d/real_b": ctx.mean(ctx.apply("D_b", b, keep_stats=False))}


def cycle_recipe(cycle_weight: float = 10.0) -> Recipe:
    return Recipe(
        name="cycle_toy",
        phases=(
            Phase("Gmain", lambda ctx: g_main(ctx, cycle_weight=cycle_weight), updates=("G_ab", "G_ba")),
            Phase("Dmain", d_main, updates=("D_a", "D_b")),
        ),
        generator="G_ab",
    )


def make_cycle_toy(
    rng: jax.Array,
    *,
    hidden: Sequence[int] = (32, 32),
    g_tx: optax.GradientTransformation | None = None,
    d_tx: optax.GradientTransformation | None = None,
    cycle_weight: float = 10.0,
    ema: EMA | None = None,
) -> tuple[Recipe, TrainState]:
    """The cycle toy's recipe and a fresh state (networks G_ab, G_ba, D_a, D_b; G's EMA if ``ema``)."""
    g_tx = g_tx or optax.adam(2e-3, b1=0.5)
    d_tx = d_tx or optax.adam(2e-3, b1=0.5)
    x = jnp.zeros((1, 2), jnp.float32)
    networks = {
        "G_ab": lambda k: init_network(PointMap(tuple(hidden)), g_tx, k, x, ema=ema),
        "G_ba": lambda k: init_network(PointMap(tuple(hidden)), g_tx, k, x, ema=ema),
        "D_a": lambda k: init_network(PointCritic(tuple(hidden)), d_tx, k, x),
        "D_b": lambda k: init_network(PointCritic(tuple(hidden)), d_tx, k, x),
    }
    return cycle_recipe(cycle_weight), init_state(rng, networks)


def sample_batch(rng: np.random.Generator, batch_size: int, batches_per_step: int = 1) -> dict[str, np.ndarray]:
    """``{"a", "b"}``: ``batch_size`` points of each domain (leading axis ``batches_per_step`` if > 1)."""
    shape = (batch_size, 2) if batches_per_step == 1 else (batches_per_step, batch_size, 2)
    a = np.asarray(CENTER_A, np.float32) + STD * rng.standard_normal(shape, dtype=np.float32)
    b = np.asarray(CENTER_B, np.float32) + STD * rng.standard_normal(shape, dtype=np.float32)
    return {"a": a, "b": b}


def translate(state: TrainState, name: str, x) -> jax.Array:
    """A translator in inference mode on the raw parameters."""
    return apply_network(state.nets[name], jnp.asarray(x))


def domain_distance(points, center) -> float:
    """Mean distance of points to a domain's centre."""
    return float(np.mean(np.linalg.norm(np.asarray(points) - np.asarray(center, np.float32), axis=-1)))


def cycle_error(state: TrainState, batch: dict[str, np.ndarray]) -> float:
    """Mean L1 cycle error over both directions (per coordinate, as in the loss)."""
    a, b = jnp.asarray(batch["a"]), jnp.asarray(batch["b"])
    err_a = jnp.mean(jnp.abs(translate(state, "G_ba", translate(state, "G_ab", a)) - a))
    err_b = jnp.mean(jnp.abs(translate(state, "G_ab", translate(state, "G_ba", b)) - b))
    return float(err_a + err_b)
