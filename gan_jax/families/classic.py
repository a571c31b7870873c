"""The classic family's config sections and builder: ``Config`` -> models, optimizers, ``ClassicSpec``.

``model``: MLP, DCGAN, SNGAN ResNet or BigGAN G/D and their conditioning. ``recipe``: loss, n_critic,
optimizers and learning rates (TTUR), EMA, penalties and the other tricks of
``gan_jax.recipes.classic``. Every config problem is one ``UserError`` line.
"""

from __future__ import annotations

import dataclasses

import jax
import optax

from gan_jax import models
from gan_jax.config import Config, UserError
from gan_jax.engine import EMA, Recipe, TrainState
from gan_jax.optimizers import OPTIMIZERS, make_optimizer
from gan_jax.recipes.classic import ClassicSpec, classic_gan
from gan_jax.regularizers import Penalty, dragan_penalty, gradient_penalty, one_sided_gradient_penalty, r1_penalty, r2_penalty


@dataclasses.dataclass
class ModelConfig:
    #: "dcgan", "mlp", "sngan" (SNGAN ResNet, 32/48/64 px) or "biggan" (BigGAN, 32/64/128 px, class-conditional)
    arch: str = "dcgan"
    z_dim: int = 100
    #: DCGAN channel widths (ngf / ndf); the channel unit ``ch`` of the SNGAN and BigGAN ResNets
    g_width: int = 64
    d_width: int = 64
    d_batch_norm: bool = True
    #: DCGAN upsampling: "subpixel" (fast everywhere, exact) or "conv_transpose"
    g_upsample: str = "subpixel"
    #: weight initialisation, "" = the architecture's default. DCGAN: "normal" (the paper's N(0, 0.02);
    #: default) or "flax" (Flax's defaults); MLP: "flax" (default) or "torch" (PyTorch's nn.Linear defaults)
    weight_init: str = ""
    #: BatchNorm in the MLP generator's hidden layers
    g_batch_norm: bool = False
    #: MLP hidden layer sizes
    g_hidden: tuple[int, ...] = (256, 256)
    d_hidden: tuple[int, ...] = (256, 256)
    #: spectral normalisation of every D layer (dcgan, sngan)
    d_spectral_norm: bool = False
    #: class conditioning: "none"; "concat" (one-hot concatenated to z and to D's input:
    #: mlp, dcgan); "projection" (conditional BatchNorm in G + projection D: sngan);
    #: "acgan" (G conditioned as above, D with an auxiliary classifier head: dcgan, sngan);
    #: biggan is always "projection" (shared class embedding in G's conditional BatchNorm + projection D)
    conditioning: str = "none"
    #: BigGAN: size of G's shared class embedding
    biggan_shared_dim: int = 128
    #: BigGAN: resolutions after whose G/D blocks a self-attention layer sits (() = none; sizes a
    #: network does not have are ignored, as in the reference)
    biggan_attention: tuple[int, ...] = (64,)
    #: BigGAN: hierarchical z (split into one chunk per G block plus one; model.z_dim must divide)
    biggan_hierarchical: bool = True
    #: BigGAN weight initialisation: "ortho" (the reference default, StudioGAN), "N02" (BigGAN-PyTorch's CIFAR script) or "glorot"
    biggan_init: str = "ortho"


@dataclasses.dataclass
class RecipeConfig:
    #: a name in ``gan_jax.losses.LOSSES``
    loss: str = "nonsaturating"
    #: D updates per G update, each on a fresh real batch
    n_critic: int = 1
    #: separate learning rates for G and D (TTUR, Heusel et al. 2017)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    #: "constant" or "linear" (decay to 0 at the last step; train.steps is then fixed for the run)
    lr_schedule: str = "constant"
    #: "adam", "optimistic_adam" or "rmsprop" (for both G and D)
    optimizer: str = "adam"
    b1: float = 0.5
    b2: float = 0.999
    #: EMA generator decay (0 = no EMA: samples from the raw generator) ...
    ema_decay: float = 0.999
    #: ... with a StyleGAN2-style ramp-up: half-life at most ema_rampup x steps so far (0 = plain
    #: decay); 0.01 measured best of 0.05/0.02/0.01 early in DCGAN training (benchmarks/ema_sweep.py)
    ema_rampup: float = 0.01
    #: before this step the EMA copies the generator (BigGAN's ema_start; 0 = off)
    ema_start: int = 0
    label_smoothing: float = 0.0
    pack: int = 1
    #: WGAN-GP weight (lambda; 0 = off) and its one-sided variant
    gp_weight: float = 0.0
    gp_one_sided: bool = False
    #: R1 gamma (gamma/2 * E||grad D(x)||^2 on real data; 0 = off)
    r1_gamma: float = 0.0
    #: R2 gamma (gamma/2 * E||grad D(G(z))||^2 on generated data; 0 = off)
    r2_gamma: float = 0.0
    #: DRAGAN gradient-penalty weight (lambda; 0 = off)
    dragan_weight: float = 0.0
    #: lazy regularisation: the gradient penalties run as phase Dreg every N steps, loss x N ...
    d_reg_every: int = 1
    #: ... with D's lr and Adam betas rescaled by N / (N + 1) (StyleGAN2's mb_ratio)
    d_reg_rescale: bool = True
    #: WGAN weight clipping of D's parameters to [-c, c] (0 = off)
    weight_clip: float = 0.0
    #: BigGAN orthogonal regularisation weights on G's / D's kernels (0 = off)
    g_ortho_weight: float = 0.0
    d_ortho_weight: float = 0.0
    #: historical averaging weight for G and D (0 = off)
    hist_weight: float = 0.0
    #: instance noise std on everything D sees (0 = off), annealed linearly to 0 over
    #: instance_noise_anneal steps (0 = constant)
    instance_noise: float = 0.0
    instance_noise_anneal: int = 0
    #: ACGAN class-loss weight (used with model.conditioning=acgan)
    aux_weight: float = 1.0


CONDITIONINGS = ("none", "concat", "projection", "acgan")
#: ``model.weight_init`` values per architecture (the SNGAN and BigGAN models have their own inits)
_INITS = {"dcgan": models.dcgan.INITS, "mlp": models.mlp.INITS}
#: which conditioning each architecture supports
_ARCH_CONDITIONING = {"mlp": ("none", "concat"), "dcgan": ("none", "concat", "acgan"), "sngan": ("none", "projection", "acgan"),
                      "biggan": ("projection",)}


def build_models(config: Config, dataset):
    m = config.model
    if m.arch not in _ARCH_CONDITIONING:
        raise UserError(f"unknown model.arch {m.arch!r}; choose one of {sorted(_ARCH_CONDITIONING)}")
    if m.arch == "biggan" and dataset.num_classes < 1:
        raise UserError(f"model.arch=biggan is class-conditional; dataset {dataset.name!r} has no labels")
    if m.conditioning not in CONDITIONINGS:
        raise UserError(f"unknown model.conditioning {m.conditioning!r}; choose one of {CONDITIONINGS}")
    if m.conditioning not in _ARCH_CONDITIONING[m.arch]:
        raise UserError(f"model.arch={m.arch} supports model.conditioning in {_ARCH_CONDITIONING[m.arch]}, got {m.conditioning!r}")
    n_cls = 0
    if m.conditioning != "none":
        n_cls = dataset.num_classes
        if n_cls < 1:
            raise UserError(f"model.conditioning={m.conditioning} needs a labelled dataset; {dataset.name!r} has no classes")
    aux = n_cls if m.conditioning == "acgan" else 0
    if m.weight_init and m.arch in _INITS and m.weight_init not in _INITS[m.arch]:
        raise UserError(f"model.arch={m.arch} supports model.weight_init in {_INITS[m.arch]}, got {m.weight_init!r}")
    if m.arch == "mlp":
        out_act = "tanh" if dataset.is_image else "linear"
        init = m.weight_init or "flax"
        return (
            models.MLPGenerator(output_shape=dataset.data_shape, hidden=m.g_hidden, output_activation=out_act, batch_norm=m.g_batch_norm,
                                num_classes=n_cls, weight_init=init),
            models.MLPDiscriminator(hidden=m.d_hidden, num_classes=n_cls, weight_init=init),
        )
    if len(dataset.data_shape) != 3:
        raise UserError(f"model.arch={m.arch} needs image data, but dataset {dataset.name!r} has examples of shape {dataset.data_shape}")
    size = dataset.data_shape[0]
    if m.arch == "dcgan":
        if m.g_upsample not in models.dcgan.UPSAMPLE_MODES:
            raise UserError(f"unknown model.g_upsample {m.g_upsample!r}; choose one of {models.dcgan.UPSAMPLE_MODES}")
        if size not in models.dcgan.SUPPORTED_SIZES:
            raise UserError(f"DCGAN supports image sizes {sorted(models.dcgan.SUPPORTED_SIZES)}, got {size} (set data.image_size)")
        init = m.weight_init or "normal"
        return (
            models.DCGANGenerator(image_shape=dataset.data_shape, width=m.g_width, upsample=m.g_upsample, num_classes=n_cls, weight_init=init),
            models.DCGANDiscriminator(
                weight_init=init,
                width=m.d_width,
                batch_norm=m.d_batch_norm,
                num_classes=n_cls if m.conditioning == "concat" else 0,
                aux_classes=aux,
                spectral_norm=m.d_spectral_norm,
            ),
        )
    if m.arch == "biggan":
        return _biggan(m, dataset, size, n_cls)
    if size not in models.sngan.SUPPORTED_SIZES:
        raise UserError(f"the SNGAN ResNet supports image sizes {list(models.sngan.SUPPORTED_SIZES)}, got {size} (set data.image_size)")
    return (
        models.SNGANGenerator(image_shape=dataset.data_shape, width=m.g_width, num_classes=n_cls),
        models.SNGANDiscriminator(
            width=m.d_width,
            spectral_norm=m.d_spectral_norm,
            num_classes=n_cls if m.conditioning == "projection" else 0,
            aux_classes=aux,
        ),
    )


def _biggan(m: ModelConfig, dataset, size: int, n_cls: int):
    from gan_jax.models import biggan

    if size not in biggan.SUPPORTED_SIZES:
        hint = " (MNIST: data.image_size=32 zero-pads it)" if size == 28 else " (set data.image_size)"
        raise UserError(f"model.arch=biggan supports image sizes {list(biggan.SUPPORTED_SIZES)}, got {size}{hint}")
    if m.biggan_init not in biggan.INITS:
        raise UserError(f"unknown model.biggan_init {m.biggan_init!r}; choose one of {biggan.INITS}")
    chunks = biggan.num_z_chunks(size)
    if m.biggan_hierarchical and m.z_dim % chunks:
        raise UserError(f"model.biggan_hierarchical splits z into {chunks} chunks at {size} px: model.z_dim={m.z_dim} is not divisible by {chunks}")
    attention = tuple(m.biggan_attention)
    return (
        models.BigGANGenerator(image_shape=dataset.data_shape, ch=m.g_width, z_dim=m.z_dim, shared_dim=m.biggan_shared_dim, num_classes=n_cls,
                               attention_resolutions=attention, hierarchical=m.biggan_hierarchical, weight_init=m.biggan_init),
        models.BigGANDiscriminator(ch=m.d_width, num_classes=n_cls, attention_resolutions=attention, weight_init=m.biggan_init),
    )


def build_spec(config: Config, num_classes: int) -> ClassicSpec:
    r = config.recipe
    if r.d_reg_every < 1:
        raise UserError(f"recipe.d_reg_every must be >= 1, got {r.d_reg_every}")
    every = r.d_reg_every
    penalties = []
    if r.gp_weight:
        penalties.append(Penalty("gp", one_sided_gradient_penalty if r.gp_one_sided else gradient_penalty, r.gp_weight, every))
    if r.r1_gamma:
        penalties.append(Penalty("r1", r1_penalty, r.r1_gamma / 2, every))
    if r.r2_gamma:
        penalties.append(Penalty("r2", r2_penalty, r.r2_gamma / 2, every))
    if r.dragan_weight:
        penalties.append(Penalty("dragan", dragan_penalty, r.dragan_weight, every))
    conditioning = config.model.conditioning
    try:
        ema = EMA(r.ema_decay, rampup=r.ema_rampup, start=r.ema_start) if r.ema_decay else None
        return ClassicSpec(
            z_dim=config.model.z_dim,
            loss=r.loss,
            n_critic=r.n_critic,
            ema=ema,
            label_smoothing=r.label_smoothing,
            pack=r.pack,
            num_classes=num_classes if conditioning != "none" else 0,
            d_penalties=tuple(penalties),
            d_weight_clip=r.weight_clip,
            aux_weight=r.aux_weight if conditioning == "acgan" else 0.0,
            g_ortho_weight=r.g_ortho_weight,
            d_ortho_weight=r.d_ortho_weight,
            hist_weight=r.hist_weight,
            instance_noise=r.instance_noise,
            instance_noise_anneal=r.instance_noise_anneal,
            augment=tuple(config.data.augment or ()),
        )
    except ValueError as e:
        raise UserError(str(e)) from None


def _schedule(lr: float, kind: str, num_updates: int):
    if kind == "constant":
        return lr
    if kind == "linear":
        return optax.linear_schedule(lr, 0.0, num_updates)
    raise UserError(f"unknown recipe.lr_schedule {kind!r}; choose 'constant' or 'linear'")


def _optimizer(name: str, lr, b1: float, b2: float, lazy_every: int = 1):
    if name not in OPTIMIZERS:
        raise UserError(f"unknown recipe.optimizer {name!r}; choose one of {OPTIMIZERS}")
    return make_optimizer(name, lr, b1, b2, lazy_every=lazy_every)


def steps_locked(config: Config) -> str:
    """Why ``train.steps`` may not change when the run resumes ("" if it may)."""
    if config.recipe.lr_schedule != "constant":
        return f"recipe.lr_schedule={config.recipe.lr_schedule} ends at the run's train.steps"
    return ""


def _d_updates(steps: int, n_critic: int, spec: ClassicSpec) -> int:
    """D's optimizer steps in ``steps`` train steps: n_critic per step, plus each lazy Dreg phase's."""
    intervals = {p.every for p in spec.d_penalties if p.every > 1}
    return steps * n_critic + sum(-(-steps // every) for every in intervals)


def build(config: Config, dataset) -> tuple[Recipe, TrainState]:
    """The classic recipe and a fresh state for ``config`` on ``dataset`` (seeded by ``train.seed``)."""
    r, t = config.recipe, config.train
    if t.batch_size % r.pack:
        raise UserError(f"train.batch_size={t.batch_size} must be divisible by recipe.pack={r.pack}")
    generator, discriminator = build_models(config, dataset)
    spec = build_spec(config, dataset.num_classes)
    lazy = r.d_reg_every if (r.d_reg_rescale and r.d_reg_every > 1 and spec.d_penalties) else 1
    try:
        recipe, state = classic_gan(
            generator=generator,
            discriminator=discriminator,
            g_tx=_optimizer(r.optimizer, _schedule(r.lr_g, r.lr_schedule, t.steps), r.b1, r.b2),
            d_tx=_optimizer(r.optimizer, _schedule(r.lr_d, r.lr_schedule, _d_updates(t.steps, r.n_critic, spec)), r.b1, r.b2, lazy),
            spec=spec,
            data_shape=dataset.data_shape,
            rng=jax.random.PRNGKey(t.seed),
            name=config.experiment,
        )
    except ValueError as e:
        raise UserError(str(e).replace("model.d_batch_norm=false", "--set model.d_batch_norm=false")) from None
    if config.model.arch == "biggan":  # BigGAN's truncation trick: z = psi * N(0, 1) truncated to [-2, 2]
        recipe = dataclasses.replace(recipe, truncation="z")
    return recipe, state
