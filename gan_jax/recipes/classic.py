"""The classic GAN family as a recipe: one G, one D, phases ``Dmain`` (x n_critic), ``Dreg`` (lazy), ``Gmain``.

Covers MLP GAN, DCGAN, cGAN, ACGAN, WGAN (weight clipping), WGAN-GP, LSGAN, hinge/SNGAN,
projection cGAN, DRAGAN, relativistic losses and the trick catalogue: label smoothing, PacGAN
packing, R1/R2/GP/DRAGAN penalties (eager or lazy), orthogonal regularisation, historical
averaging, instance noise and DiffAugment. ``ClassicSpec`` holds the recipe as typed arguments
(no config objects); ``classic_gan`` builds the ``Recipe`` and a fresh ``TrainState``::

    recipe, state = classic_gan(generator=G, discriminator=D, g_tx=optax.adam(2e-4, b1=0.5),
                                d_tx=optax.adam(2e-4, b1=0.5), spec=ClassicSpec(z_dim=100),
                                data_shape=(32, 32, 3), rng=jax.random.PRNGKey(0))
    step = gan_jax.steps.make_train_step(recipe)
    state, metrics = step(state, {"x": images}, step=0)

Phases (``gan_jax.engine``): ``Dmain`` updates D ``n_critic`` times per step, each time on a
fresh real batch and fresh latents: the D loss (real and fake batches through D separately, so
BatchNorm in D never mixes them; only the real pass advances spectral-norm vectors), the ACGAN
class terms, the eager penalties and D's parameter penalties. ``Dreg`` (only with lazy penalties)
applies the penalties with ``every > 1`` on its own steps. ``Gmain`` updates G on fresh latents
(labels of the step's last real batch: the data's class frequencies). G's EMA is updated once per
step by the engine.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax import losses, regularizers
from gan_jax.engine import EMA, Phase, PhaseContext, Recipe, TrainState, init_network, init_state, to_float
from gan_jax.losses import get_loss
from gan_jax.regularizers import Penalty

Array = jax.Array

__all__ = ["ClassicSpec", "classic_gan", "classic_recipe", "pack"]


@dataclasses.dataclass(frozen=True)
class ClassicSpec:
    """The classic recipe, as typed arguments."""

    z_dim: int
    #: a name in ``gan_jax.losses.LOSSES``
    loss: str = "nonsaturating"
    #: discriminator (critic) updates per generator update, each on a fresh real batch
    n_critic: int = 1
    #: G's EMA (``None``: no EMA copy; samples then come from the raw generator). The ramp-up 0.01
    #: (half-life at most 1% of the steps so far) gave EMA samples at least as good as the raw
    #: generator's at 1k, 2k and 3k DCGAN CIFAR-10 steps (benchmarks/results/ema_sweep_dcgan_cifar10.json)
    ema: EMA | None = EMA(0.999, rampup=0.01)
    #: one-sided label smoothing of the real target (cross-entropy losses only)
    label_smoothing: float = 0.0
    #: PacGAN packing (Lin et al. 2018): D judges ``pack`` samples jointly
    pack: int = 1
    #: > 0: class-conditional; ``batch['y']`` goes to G and D
    num_classes: int = 0
    #: discriminator penalties (``every > 1``: lazily, in the ``Dreg`` phase)
    d_penalties: tuple[Penalty, ...] = ()
    #: WGAN weight clipping: D's parameters are clamped to [-c, c] after every D update (0 = off)
    d_weight_clip: float = 0.0
    #: ACGAN: weight of the auxiliary class cross-entropy in the G and D losses (0 = off;
    #: > 0 needs a discriminator that returns (logits, class_logits) and num_classes > 0)
    aux_weight: float = 0.0
    #: BigGAN orthogonal regularisation weights (beta) on G's / D's kernels (0 = off)
    g_ortho_weight: float = 0.0
    d_ortho_weight: float = 0.0
    #: historical averaging weight for both players (Salimans et al. 2016; 0 = off); the running
    #: parameter averages live in ``state.extra["hist"]``
    hist_weight: float = 0.0
    #: instance noise std on every input of D (0 = off), decayed linearly to 0 over
    #: ``instance_noise_anneal`` generator steps (0 = constant)
    instance_noise: float = 0.0
    instance_noise_anneal: int = 0
    #: DiffAugment policy (Zhao et al. 2020), e.g. ("color", "translation", "cutout"), applied
    #: to real and fake images before D in every phase (() = off)
    augment: tuple[str, ...] = ()

    def __post_init__(self):
        loss = get_loss(self.loss)
        for name in ("d_weight_clip", "aux_weight", "g_ortho_weight", "d_ortho_weight", "hist_weight", "instance_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.aux_weight and not self.num_classes:
            raise ValueError("aux_weight (ACGAN) needs a conditional recipe (num_classes > 0)")
        if not isinstance(self.augment, tuple) or not isinstance(self.d_penalties, tuple):
            raise ValueError("augment and d_penalties must be tuples")
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")
        if self.pack < 1:
            raise ValueError(f"pack must be >= 1, got {self.pack}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.label_smoothing and not loss.smoothable:
            raise ValueError(f"label_smoothing applies to cross-entropy losses only, not {self.loss!r}")
        if self.num_classes and self.pack > 1:
            raise ValueError("packing (pack > 1) is not defined for conditional models")
        if len({p.name for p in self.d_penalties}) != len(self.d_penalties):
            raise ValueError(f"penalty names must be distinct, got {[p.name for p in self.d_penalties]}")

    @property
    def transforms_inputs(self) -> bool:
        """Whether D's inputs are transformed (DiffAugment or instance noise)."""
        return bool(self.augment or self.instance_noise)


def pack(x: Array, n: int) -> Array:
    """PacGAN packing: (B, *s) -> (B // n, *s[:-1], n * s[-1]), n consecutive samples per input."""
    if n == 1:
        return x
    b = x.shape[0]
    if b % n:
        raise ValueError(f"batch size {b} is not divisible by pack={n}")
    x = x.reshape((b // n, n) + x.shape[1:])
    x = jnp.moveaxis(x, 1, -2)  # (B/n, *s[:-1], n, s[-1])
    return x.reshape(x.shape[:-2] + (n * x.shape[-1],))


# ----------------------------------------------------------------------------- shared pieces


def _labels(spec: ClassicSpec, ctx: PhaseContext) -> Array | None:
    return ctx.batch["y"] if spec.num_classes else None


def _d_input(spec: ClassicSpec, ctx: PhaseContext, x: Array, which: int) -> Array:
    """What D sees of a batch (``which``: 0 real, 1 fake): DiffAugment, then instance noise.
    Both are differentiable, so G's gradient flows through them (DiffAugment semantics)."""
    if not spec.transforms_inputs:
        return x
    k_aug, k_noise = jax.random.split(jax.random.fold_in(ctx.key("augment"), which))
    if spec.augment:
        from gan_jax.augment import diff_augment  # lazy: only runs that use DiffAugment need it

        x = diff_augment(x, k_aug, spec.augment, ctx.axis_name)
    if spec.instance_noise:
        std = regularizers.annealed_std(spec.instance_noise, spec.instance_noise_anneal, ctx.step)
        x = regularizers.instance_noise(x, k_noise, std, ctx.axis_name)
    return x


def _split_output(out, aux: bool):
    """(logits, class_logits or None) from a D output."""
    if aux:
        if not isinstance(out, tuple):
            raise ValueError("aux_weight > 0 (ACGAN) needs a discriminator that returns (logits, class_logits)")
        return out
    if isinstance(out, tuple):
        raise ValueError("the discriminator returns (logits, class_logits): set aux_weight > 0 (ACGAN)")
    return out, None


def _discriminate(spec: ClassicSpec, ctx: PhaseContext, x: Array, y, **kw):
    return _split_output(ctx.apply("D", pack(x, spec.pack), y, **kw), spec.aux_weight > 0)


def _fakes(spec: ClassicSpec, ctx: PhaseContext, n: int, y, **kw) -> Array:
    z = ctx.normal("latent", (n, spec.z_dim))
    return ctx.apply("G", z, y, **kw)


def _param_penalties(spec: ClassicSpec, ctx: PhaseContext, net: str, ortho_weight: float, metrics: dict) -> Array:
    """Orthogonal regularisation and historical averaging of one player's parameters;
    adds ``penalty/{net}_ortho`` / ``penalty/{net}_hist`` (lower case) to ``metrics``."""
    total = jnp.zeros((), jnp.float32)
    params, tag = ctx.params(net), net.lower()
    if ortho_weight:
        metrics[f"penalty/{tag}_ortho"] = value = ortho_weight * regularizers.orthogonal_penalty(params)
        total = total + value
    if spec.hist_weight:
        value = spec.hist_weight * regularizers.historical_averaging_penalty(params, ctx.extra["hist"][net])
        metrics[f"penalty/{tag}_hist"] = value
        total = total + value
    return total


def _penalties(spec: ClassicSpec, ctx: PhaseContext, penalties, real: Array, fake: Array, y, metrics: dict) -> Array:
    """The given D penalties on what D saw (packed inputs); BatchNorm-free D (checked at build)."""
    total = jnp.zeros((), jnp.float32)
    if not penalties:
        return total
    aux = spec.aux_weight > 0

    def d_fn(x):
        return _split_output(ctx.apply("D", x, y, keep_stats=False), aux)[0]

    real_p, fake_p = pack(real, spec.pack), pack(fake, spec.pack)
    for i, penalty in enumerate(penalties):
        value = penalty(d_fn=d_fn, real=real_p, fake=fake_p, rng=jax.random.fold_in(ctx.key("penalty"), i), axis_name=ctx.axis_name)
        metrics[f"penalty/{penalty.name}"] = value
        total = total + value
    return total


def _hist_update(net: str, offset: int):
    """``after`` hook: the running mean of ``net``'s parameters (initial ones included)."""

    def after(state: TrainState, call_index: Array):
        hist = dict(state.extra["hist"])
        hist[net] = regularizers.running_average(hist[net], state.nets[net].params, call_index + offset)
        return {**state.extra, "hist": hist}

    return after


# ----------------------------------------------------------------------------- the phases


def d_main(ctx: PhaseContext, *, spec: ClassicSpec) -> tuple[Array, dict]:
    """Dmain: the discriminator's adversarial loss (+ ACGAN, eager penalties, parameter penalties)."""
    loss = get_loss(spec.loss)
    aux = spec.aux_weight > 0
    real = to_float(ctx.batch["x"])
    y = _labels(spec, ctx)
    # G in training mode (BatchNorm on the fake batch's statistics, as the PyTorch DCGAN example);
    # its running statistics advance.
    fake = jax.lax.stop_gradient(_fakes(spec, ctx, real.shape[0], y))
    real, fake = _d_input(spec, ctx, real, 0), _d_input(spec, ctx, fake, 1)
    # Real and fake batches go through D separately: BatchNorm in D never mixes them. Only the
    # real pass advances the spectral-norm power iteration (one per D update).
    real_logits, real_cls = _discriminate(spec, ctx, real, y, update_sn=True)
    fake_logits, fake_cls = _discriminate(spec, ctx, fake, y)
    kwargs = {"label_smoothing": spec.label_smoothing} if loss.smoothable else {}
    if loss.relativistic:
        kwargs["axis_name"] = ctx.axis_name
    l_real, l_fake = loss.d(real_logits=real_logits, fake_logits=fake_logits, **kwargs)
    metrics = {"loss/d_real": l_real, "loss/d_fake": l_fake, "d/real_logits": jnp.mean(real_logits), "d/fake_logits": jnp.mean(fake_logits)}
    total = l_real + l_fake
    if aux:
        c_real, c_fake = losses.acgan_d(real_class_logits=real_cls, fake_class_logits=fake_cls, real_labels=y, fake_labels=y)
        metrics["loss/d_aux"] = c_real + c_fake
        metrics["d/aux_acc_real"] = jnp.mean(jnp.argmax(real_cls, axis=-1) == y)
        total = total + spec.aux_weight * (c_real + c_fake)
    total = total + _penalties(spec, ctx, [p for p in spec.d_penalties if p.every == 1], real, fake, y, metrics)
    total = total + _param_penalties(spec, ctx, "D", spec.d_ortho_weight, metrics)
    metrics["loss/d"] = total
    return total, metrics


def d_reg(ctx: PhaseContext, *, spec: ClassicSpec, every: int) -> tuple[Array, dict]:
    """Dreg: the penalties with this interval, on a fresh real and fake batch (lazy regularisation)."""
    real = to_float(ctx.batch["x"])
    y = _labels(spec, ctx)
    fake = jax.lax.stop_gradient(_fakes(spec, ctx, real.shape[0], y, keep_stats=False))
    real, fake = _d_input(spec, ctx, real, 0), _d_input(spec, ctx, fake, 1)
    metrics: dict = {}
    total = _penalties(spec, ctx, [p for p in spec.d_penalties if p.every == every], real, fake, y, metrics)
    return total, metrics


def g_main(ctx: PhaseContext, *, spec: ClassicSpec) -> tuple[Array, dict]:
    """Gmain: the generator's adversarial loss (+ ACGAN, parameter penalties)."""
    loss = get_loss(spec.loss)
    y = _labels(spec, ctx)
    n = ctx.batch["x"].shape[0]
    fake = _d_input(spec, ctx, _fakes(spec, ctx, n, y), 1)  # differentiable: G's gradient flows through
    # D's BatchNorm statistics (and spectral-norm vectors) do not advance in G's phase.
    fake_logits, fake_cls = _discriminate(spec, ctx, fake, y, keep_stats=False)
    kwargs = {}
    if loss.relativistic:
        real = _d_input(spec, ctx, to_float(ctx.batch["x"]), 0)
        kwargs = {"real_logits": jax.lax.stop_gradient(_discriminate(spec, ctx, real, y, keep_stats=False)[0]), "axis_name": ctx.axis_name}
    l_g = loss.g(fake_logits=fake_logits, **kwargs)
    metrics = {}
    total = l_g
    if spec.aux_weight:
        c_fake = losses.acgan_g(fake_class_logits=fake_cls, fake_labels=y)
        metrics["loss/g_aux"] = c_fake
        total = total + spec.aux_weight * c_fake
    total = total + _param_penalties(spec, ctx, "G", spec.g_ortho_weight, metrics)
    if metrics:
        metrics["loss/g_adv"] = l_g
    metrics["loss/g"] = total
    return total, metrics


# ----------------------------------------------------------------------------- building it


def classic_recipe(spec: ClassicSpec, name: str = "classic") -> Recipe:
    """The phases of ``spec``: Dmain (x n_critic), one Dreg per lazy penalty interval, Gmain."""
    keys = ("augment",) if spec.transforms_inputs else ()
    phases = [
        Phase("Dmain", functools.partial(d_main, spec=spec), updates=("D",), repeats=spec.n_critic, keys=("latent", "penalty") + keys,
              after=_hist_update("D", 2) if spec.hist_weight else None),
    ]
    intervals = sorted({p.every for p in spec.d_penalties if p.every > 1})
    for every in intervals:
        phases.append(Phase("Dreg" if len(intervals) == 1 else f"Dreg{every}", functools.partial(d_reg, spec=spec, every=every),
                            updates=("D",), every=every, keys=("latent", "penalty") + keys))
    phases.append(Phase("Gmain", functools.partial(g_main, spec=spec), updates=("G",), keys=("latent",) + keys,
                        after=_hist_update("G", 2) if spec.hist_weight else None))
    return Recipe(name=name, phases=tuple(phases), generator="G", latent_dim=spec.z_dim, num_classes=spec.num_classes)


def _has_batch_norm(collections: Any) -> bool:
    return "batch_stats" in collections


def classic_gan(
    *,
    generator: nn.Module,
    discriminator: nn.Module,
    g_tx: optax.GradientTransformation,
    d_tx: optax.GradientTransformation,
    spec: ClassicSpec,
    data_shape: tuple[int, ...],
    rng: Array,
    name: str = "classic",
) -> tuple[Recipe, TrainState]:
    """The recipe of ``spec`` and a fresh state: G, D (+ G's EMA), optimizers, ``extra``.

    ``data_shape`` is the shape of one example (e.g. ``(32, 32, 3)`` or ``(2,)``); ``rng`` is split
    into G's and D's initialisation keys and the run key. Lazy penalties share D's optimizer with
    Dmain; build ``d_tx`` with ``gan_jax.optimizers.adam(..., lazy_every=N)`` (or ``make_optimizer``)
    for StyleGAN2's lr/beta rescaling.
    """
    y = jnp.zeros((spec.pack,), jnp.int32) if spec.num_classes else None
    z = jnp.zeros((spec.pack, spec.z_dim), jnp.float32)
    x = pack(jnp.zeros((spec.pack, *data_shape), jnp.float32), spec.pack)
    clip = functools.partial(regularizers.clip_weights, c=spec.d_weight_clip) if spec.d_weight_clip else None
    networks = {
        "G": lambda k: init_network(generator, g_tx, k, z, y, ema=spec.ema),
        "D": lambda k: init_network(discriminator, d_tx, k, x, y, project=clip),
    }

    def extra(nets):
        if not spec.hist_weight:
            return {}
        return {"hist": {n: jax.tree.map(jnp.copy, nets[n].params) for n in ("G", "D")}}

    # Checked on shapes before anything is compiled (jax.eval_shape runs no computation).
    d_variables = jax.eval_shape(lambda k: discriminator.init(k, x, y, train=False), jax.random.PRNGKey(0))
    if spec.d_penalties and _has_batch_norm(d_variables):
        names = ", ".join(p.name for p in spec.d_penalties)
        raise ValueError(
            f"gradient penalties ({names}) need per-example input gradients, but this discriminator has BatchNorm, "
            "whose training-mode output for one example depends on the whole batch; use a discriminator without "
            "BatchNorm (model.d_batch_norm=false), as WGAN-GP advises"
        )
    state = init_state(rng, networks, extra)
    return classic_recipe(spec, name), state
