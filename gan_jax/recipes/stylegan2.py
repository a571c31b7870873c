"""StyleGAN2 (Karras et al. 2020) with ADA (Karras et al. 2020b) as a recipe: phases Gmain, Greg, Dmain, Dreg.

As stylegan2-ada-pytorch ``training/loss.py`` and ``training_loop.py``:

* ``Gmain``: non-saturating loss ``softplus(-D(aug(G(z))))  # -log(sigmoid(logits))``.
* ``Greg`` (every ``g_reg_every``): path-length regularisation on a batch shrunk by
  ``pl_batch_shrink``: ``|J_w^T r|`` with ``r = randn / sqrt(H W)``, ``pl_mean`` lerped by
  ``pl_decay`` towards the batch mean *before* the penalty ``pl_weight (|J^T r| - pl_mean)^2``.
* ``Dmain``: ``softplus(D(aug(G(z)))) + softplus(-D(aug(x)))``; the ADA statistic
  ``E[sign(D(aug(x)))]`` is accumulated and ``p`` adjusted every ``ada_interval`` steps.
* ``Dreg`` (every ``d_reg_every``): R1, ``gamma / 2 |grad_x D(aug(x))|^2`` on the un-augmented reals
  through the augmentation.

Lazy phases multiply their loss by their interval (the engine); the networks' Adam learning
rate and betas are rescaled by ``mb_ratio = every / (every + 1)`` (``gan_jax.optimizers``), for G
even when the path-length weight is 0 (the reference keeps G's regularisation interval then).
Every call of G (in Gmain, Greg and Dmain) mixes styles with probability ``style_mixing``
(one cutoff per batch) and updates ``w_avg`` (beta ``w_avg_beta``) from the first latent's w.
``w_avg``, ``pl_mean`` and ADA's ``p`` live in ``state.extra`` and are averaged over the global
batch (``jax.lax.pmean`` under pmap), so a resumed or sharded run computes what one device does.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax import noise
from gan_jax.engine import EMA, Phase, PhaseContext, Recipe, TrainState, apply_network, init_network, init_state, to_float

Array = jax.Array

__all__ = ["StyleGAN2Spec", "AUGMENTS", "stylegan2", "stylegan2_recipe", "path_length", "r1", "mix_styles"]

#: what D's inputs go through: nothing, ADA (adaptive p), a fixed p of the ADA pipeline, DiffAugment
AUGMENTS = ("none", "ada", "fixed", "diffaugment")


@dataclasses.dataclass(frozen=True)
class StyleGAN2Spec:
    """The StyleGAN2(-ADA) recipe as typed arguments (defaults: the reference's)."""

    z_dim: int
    num_ws: int
    #: global batch size (ADA's step size counts images)
    batch_size: int
    num_classes: int = 0
    r1_gamma: float = 10.0
    d_reg_every: int = 16
    pl_weight: float = 2.0
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    g_reg_every: int = 4
    style_mixing: float = 0.9
    w_avg_beta: float = 0.995
    ema: EMA | None = EMA(0.5 ** (32 / 10_000))
    augment: str = "none"
    #: ADA pipeline (``gan_jax.ada.PIPELINES``), initial / fixed p, target of E[sign D(real)], interval, speed
    ada_pipeline: str = "bgc"
    augment_p: float = 0.0
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 500.0
    #: DiffAugment policy when ``augment == "diffaugment"``
    diffaugment: tuple[str, ...] = ("color", "translation", "cutout")

    def __post_init__(self):
        if self.augment not in AUGMENTS:
            raise ValueError(f"unknown augment {self.augment!r}; choose one of {AUGMENTS}")
        for name in ("r1_gamma", "pl_weight", "pl_decay", "augment_p"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.style_mixing <= 1.0 or not 0.0 <= self.w_avg_beta < 1.0:
            raise ValueError(f"need style_mixing in [0, 1] and w_avg_beta in [0, 1), got {self.style_mixing}, {self.w_avg_beta}")
        if min(self.d_reg_every, self.g_reg_every, self.pl_batch_shrink, self.ada_interval) < 1 or self.ada_kimg <= 0:
            raise ValueError("d_reg_every, g_reg_every, pl_batch_shrink, ada_interval must be >= 1 and ada_kimg > 0")
        if self.batch_size % self.pl_batch_shrink:
            raise ValueError(f"batch size {self.batch_size} is not divisible by pl_batch_shrink={self.pl_batch_shrink}")
        if self.augment in ("ada", "fixed"):
            from gan_jax.ada import PIPELINES

            if self.ada_pipeline not in PIPELINES:
                raise ValueError(f"unknown ADA pipeline {self.ada_pipeline!r}; choose one of {tuple(PIPELINES)}")


# ----------------------------------------------------------------------------- pure pieces


def mix_styles(w: Array, w2: Array, num_ws: int, cutoff: Array) -> Array:
    """(B, num_ws, w_dim): ``w`` on layers ``[0, cutoff)``, ``w2`` from ``cutoff`` on (cutoff = num_ws: no mixing)."""
    layer = jnp.arange(num_ws)[None, :, None]
    return jnp.where(layer < cutoff, w[:, None, :], w2[:, None, :])


def path_length(synthesis, ws: Array, pl_noise: Array, pl_mean: Array, *, decay: float, axis_name: str | None = None):
    """StyleGAN2's path-length penalty per example, the new ``pl_mean`` and the lengths.

    ``lengths = sqrt(mean_layers(sum_wdim(g^2)))`` with ``g = d sum(synthesis(ws) * pl_noise) / d ws``;
    ``pl_mean' = pl_mean + decay (mean(lengths) - pl_mean)`` (global mean; differentiable, as the
    reference's ``lerp``); ``penalty = (lengths - pl_mean')^2``.
    """
    _, vjp = jax.vjp(synthesis, ws)
    (g,) = vjp(pl_noise)
    lengths = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(g), axis=2), axis=1))
    new_mean = pl_mean + decay * (noise.batch_mean(lengths, axis_name) - pl_mean)
    return jnp.square(lengths - new_mean), new_mean, lengths


def r1(d_fn, real: Array) -> Array:
    """R1's per-example ``|grad_x sum D(x)|^2`` (``d_fn`` may augment inside: gradients w.r.t. the un-augmented x)."""
    g = jax.grad(lambda x: jnp.sum(d_fn(x)))(real)
    return jnp.sum(jnp.square(g), axis=tuple(range(1, g.ndim)))


def _global_mean0(x: Array, axis_name: str | None) -> Array:
    m = jnp.mean(x, axis=0)
    return m if axis_name is None else jax.lax.pmean(m, axis_name)


# ----------------------------------------------------------------------------- phase helpers


def _labels(spec: StyleGAN2Spec, ctx: PhaseContext, n: int | None = None):
    if not spec.num_classes:
        return None
    y = ctx.batch["y"]
    return y if n is None else y[:n]


def _run_g(spec: StyleGAN2Spec, ctx: PhaseContext, n: int, y) -> tuple[Array, Array, Array]:
    """G on fresh latents with style mixing; returns (images, ws, new w_avg)."""
    z = ctx.normal("latent", (n, spec.z_dim))
    w = ctx.apply("G", z, y, method="mapping")
    w_avg = ctx.extra["w_avg"]
    # lerp(mean(w), w_avg, beta): the batch mean over every device
    w_avg = w_avg + (1.0 - spec.w_avg_beta) * (_global_mean0(jax.lax.stop_gradient(w), ctx.axis_name) - w_avg)
    cutoff = jnp.asarray(spec.num_ws, jnp.int32)
    if spec.style_mixing > 0:
        k_cut, k_prob, k_z = jax.random.split(ctx.key("mix"), 3)
        drawn = jax.random.randint(k_cut, (), 1, spec.num_ws)
        cutoff = jnp.where(jax.random.uniform(k_prob, ()) < spec.style_mixing, drawn, cutoff)
        w2 = ctx.apply("G", noise.normal(k_z, (n, spec.z_dim), ctx.axis_name), y, method="mapping")
        ws = mix_styles(w, w2, spec.num_ws, cutoff)
    else:
        ws = jnp.broadcast_to(w[:, None, :], (n, spec.num_ws, w.shape[-1]))
    return _synthesis(ctx, n)(ws), ws, w_avg


def _synthesis(ctx: PhaseContext, n: int):
    keys = ctx.example_keys("noise", n)
    return lambda ws: ctx.apply("G", ws, keys, method="synthesis", keep_stats=False)


def _augment(spec: StyleGAN2Spec, ctx: PhaseContext, x: Array, which: int) -> Array:
    """What D sees of a batch (``which``: 0 real, 1 fake); differentiable w.r.t. ``x``."""
    if spec.augment == "none":
        return x
    key = jax.random.fold_in(ctx.key("augment"), which)
    if spec.augment == "diffaugment":
        from gan_jax.augment import diff_augment

        return diff_augment(x, key, spec.diffaugment, ctx.axis_name)
    from gan_jax.ada import augment

    return augment(x, ctx.extra["ada"]["p"], key, pipeline=spec.ada_pipeline, axis_name=ctx.axis_name)


def _d(spec: StyleGAN2Spec, ctx: PhaseContext, x: Array, y, which: int) -> Array:
    return ctx.apply("D", _augment(spec, ctx, x, which), y)


# ----------------------------------------------------------------------------- the phases


def g_main(ctx: PhaseContext, *, spec: StyleGAN2Spec):
    """Gmain: maximise D's logits for generated images."""
    n = ctx.batch["x"].shape[0]
    y = _labels(spec, ctx)
    img, _, w_avg = _run_g(spec, ctx, n, y)
    logits = _d(spec, ctx, img, y, 1)
    loss = jnp.mean(jax.nn.softplus(-logits))  # -log(sigmoid(logits))
    ctx.set_extra({**ctx.extra, "w_avg": w_avg})
    return loss, {"loss/g": loss, "d/fake_logits_g": jnp.mean(logits)}


def g_reg(ctx: PhaseContext, *, spec: StyleGAN2Spec):
    """Greg: path-length regularisation on a batch shrunk by ``pl_batch_shrink``."""
    n = ctx.batch["x"].shape[0] // spec.pl_batch_shrink
    y = _labels(spec, ctx, n)
    img, ws, w_avg = _run_g(spec, ctx, n, y)
    h, w = img.shape[1:3]
    pl_noise = ctx.normal("pl_noise", img.shape) / jnp.sqrt(float(h * w))
    penalty, pl_mean, lengths = path_length(_synthesis(ctx, n), ws, pl_noise, ctx.extra["pl_mean"], decay=spec.pl_decay,
                                            axis_name=ctx.axis_name)
    loss = spec.pl_weight * jnp.mean(penalty)
    ctx.set_extra({**ctx.extra, "w_avg": w_avg, "pl_mean": jax.lax.stop_gradient(pl_mean)})
    return loss, {"loss/g_pl": loss, "pl/mean": pl_mean, "pl/length": jnp.mean(lengths)}


def d_main(ctx: PhaseContext, *, spec: StyleGAN2Spec):
    """Dmain: minimise D's logits for generated images, maximise them for real ones; ADA's statistic."""
    real = to_float(ctx.batch["x"])
    n = real.shape[0]
    y = _labels(spec, ctx)
    img, _, w_avg = _run_g(spec, ctx, n, y)
    fake_logits = _d(spec, ctx, jax.lax.stop_gradient(img), y, 1)
    real_logits = _d(spec, ctx, real, y, 0)
    l_fake = jnp.mean(jax.nn.softplus(fake_logits))  # -log(1 - sigmoid(logits))
    l_real = jnp.mean(jax.nn.softplus(-real_logits))  # -log(sigmoid(logits))
    extra = {**ctx.extra, "w_avg": w_avg}
    signs = ctx.mean(jnp.sign(jax.lax.stop_gradient(real_logits)))
    if spec.augment == "ada":
        ada = extra["ada"]
        extra["ada"] = {**ada, "signs": ada["signs"] + signs, "count": ada["count"] + 1.0}
    ctx.set_extra(extra)
    metrics = {"loss/d": l_fake + l_real, "loss/d_real": l_real, "loss/d_fake": l_fake, "d/real_logits": jnp.mean(real_logits),
               "d/fake_logits": jnp.mean(fake_logits), "d/real_signs": signs}
    if spec.augment in ("ada", "fixed"):
        metrics["ada/p"] = ctx.extra["ada"]["p"]
    return l_fake + l_real, metrics


def d_reg(ctx: PhaseContext, *, spec: StyleGAN2Spec):
    """Dreg: R1 on the real batch, through the augmentation."""
    real = to_float(ctx.batch["x"])
    y = _labels(spec, ctx)
    penalty = r1(lambda x: _d(spec, ctx, x, y, 0), real)
    loss = (spec.r1_gamma / 2) * jnp.mean(penalty)
    return loss, {"penalty/r1": jnp.mean(penalty), "loss/d_r1": loss}


def _ada_adjust(spec: StyleGAN2Spec):
    """Dmain's ``after``: every ``ada_interval`` steps (after steps interval-1, 2 interval-1, ...),
    ``p <- max(p + sign(E[sign D(real)] - target) * batch * interval / (ada_kimg * 1000), 0)``."""
    from gan_jax.ada import adjust_p

    def after(state: TrainState, call_index: Array):
        ada = state.extra["ada"]
        due = (call_index + 1) % spec.ada_interval == 0
        new_p = adjust_p(ada["p"], ada["signs"] / jnp.maximum(ada["count"], 1.0), batch_size=spec.batch_size, interval=spec.ada_interval,
                         target=spec.ada_target, speed_kimg=spec.ada_kimg)
        zero = jnp.zeros_like(ada["signs"])
        return {**state.extra, "ada": {"p": jnp.where(due, new_p, ada["p"]), "signs": jnp.where(due, zero, ada["signs"]),
                                       "count": jnp.where(due, zero, ada["count"])}}

    return after


# ----------------------------------------------------------------------------- building it


def _generate(state: TrainState, z: Array, y, *, ema: bool, truncation, key):
    keys = None if key is None else jax.random.split(key, z.shape[0])
    kwargs = {} if truncation is None else {"truncation_psi": truncation, "w_avg": state.extra["w_avg"]}
    return apply_network(state.nets["G"], z, y, ema=ema, noise_keys=keys, **kwargs)


def stylegan2_recipe(spec: StyleGAN2Spec, name: str = "stylegan2") -> Recipe:
    """Gmain, Greg (if ``pl_weight``), Dmain, Dreg (if ``r1_gamma``): the reference's phase order."""
    g_keys = ("latent", "mix", "noise", "augment")
    phases = [Phase("Gmain", functools.partial(g_main, spec=spec), updates=("G",), keys=g_keys)]
    if spec.pl_weight:
        phases.append(Phase("Greg", functools.partial(g_reg, spec=spec), updates=("G",), every=spec.g_reg_every, keys=g_keys + ("pl_noise",)))
    phases.append(Phase("Dmain", functools.partial(d_main, spec=spec), updates=("D",), keys=g_keys,
                        after=_ada_adjust(spec) if spec.augment == "ada" else None))
    if spec.r1_gamma:
        phases.append(Phase("Dreg", functools.partial(d_reg, spec=spec), updates=("D",), every=spec.d_reg_every, keys=("augment",)))
    return Recipe(name=name, phases=tuple(phases), generator="G", latent_dim=spec.z_dim, num_classes=spec.num_classes,
                  generate=_generate, truncation="w")


def stylegan2(*, generator: nn.Module, discriminator: nn.Module, g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
              spec: StyleGAN2Spec, image_shape: tuple[int, int, int], rng: Array, name: str = "stylegan2") -> tuple[Recipe, TrainState]:
    """The recipe of ``spec`` and a fresh state: G (+ EMA), D, and ``extra`` = w_avg, pl_mean (and ADA's p).

    Build the optimizers with ``gan_jax.optimizers.adam(lr, 0.0, 0.99, lazy_every=N)`` for the
    reference's lazy rescaling (N = ``g_reg_every`` for G, ``d_reg_every`` for D).
    """
    y = jnp.zeros((1,), jnp.int32) if spec.num_classes else None
    z = jnp.zeros((1, spec.z_dim), jnp.float32)
    x = jnp.zeros((1, *image_shape), jnp.float32)
    networks = {
        "G": lambda k: init_network(generator, g_tx, k, z, y, ema=spec.ema),
        "D": lambda k: init_network(discriminator, d_tx, k, x, y),
    }

    def extra(nets):
        w_dim = generator.w_dim
        out = {"w_avg": jnp.zeros((w_dim,), jnp.float32), "pl_mean": jnp.zeros((), jnp.float32)}
        if spec.augment in ("ada", "fixed"):
            out["ada"] = {"p": jnp.asarray(spec.augment_p, jnp.float32), "signs": jnp.zeros((), jnp.float32),
                          "count": jnp.zeros((), jnp.float32)}
        return out

    return stylegan2_recipe(spec, name), init_state(rng, networks, extra)
