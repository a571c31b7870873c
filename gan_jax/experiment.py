"""From a ``Config`` to typed core objects: dataset, models, optimizers, ``GANSpec``, state."""

from __future__ import annotations

import jax
import optax

from gan_jax import data as data_lib
from gan_jax import models
from gan_jax.config import Config, UserError
from gan_jax.regularizers import Penalty, dragan_penalty, gradient_penalty, one_sided_gradient_penalty, r1_penalty, r2_penalty
from gan_jax.state import OPTIMIZERS, GANSpec, GANState, create_state, make_optimizer


def build_dataset(config: Config) -> data_lib.Dataset:
    """The experiment's training data; every data problem surfaces as one ``UserError`` line."""
    from gan_jax.augment import AUGMENT_POLICIES

    if unknown := [p for p in config.data.augment if p not in AUGMENT_POLICIES]:
        raise UserError(f"unknown data.augment policy {unknown}; choose from {', '.join(AUGMENT_POLICIES)}")
    try:
        return data_lib.get_dataset(config.data.name, image_size=config.data.image_size, data_dir=config.data.dir or None)
    except UserError:
        raise
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None


CONDITIONINGS = ("none", "concat", "projection", "acgan")
#: which conditioning each architecture supports
_ARCH_CONDITIONING = {"mlp": ("none", "concat"), "dcgan": ("none", "concat", "acgan"), "sngan": ("none", "projection", "acgan")}


def build_models(config: Config, dataset: data_lib.Dataset):
    m = config.model
    if m.arch not in _ARCH_CONDITIONING:
        raise UserError(f"unknown model.arch {m.arch!r}; choose one of {sorted(_ARCH_CONDITIONING)}")
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
    if m.arch == "mlp":
        out_act = "tanh" if dataset.is_image else "linear"
        return (
            models.MLPGenerator(output_shape=dataset.data_shape, hidden=m.g_hidden, output_activation=out_act, batch_norm=m.g_batch_norm, num_classes=n_cls),
            models.MLPDiscriminator(hidden=m.d_hidden, num_classes=n_cls),
        )
    if len(dataset.data_shape) != 3:
        raise UserError(f"model.arch={m.arch} needs image data, but dataset {dataset.name!r} has examples of shape {dataset.data_shape}")
    size = dataset.data_shape[0]
    if m.arch == "dcgan":
        if m.g_upsample not in models.dcgan.UPSAMPLE_MODES:
            raise UserError(f"unknown model.g_upsample {m.g_upsample!r}; choose one of {models.dcgan.UPSAMPLE_MODES}")
        if size not in models.dcgan.SUPPORTED_SIZES:
            raise UserError(f"DCGAN supports image sizes {sorted(models.dcgan.SUPPORTED_SIZES)}, got {size} (set data.image_size)")
        return (
            models.DCGANGenerator(image_shape=dataset.data_shape, width=m.g_width, upsample=m.g_upsample, num_classes=n_cls),
            models.DCGANDiscriminator(
                width=m.d_width,
                batch_norm=m.d_batch_norm,
                num_classes=n_cls if m.conditioning == "concat" else 0,
                aux_classes=aux,
                spectral_norm=m.d_spectral_norm,
            ),
        )
    # sngan
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


def build_spec(config: Config) -> GANSpec:
    t = config.train
    if t.d_reg_every < 1:
        raise UserError(f"train.d_reg_every must be >= 1, got {t.d_reg_every}")
    every = t.d_reg_every
    penalties = []
    if t.gp_weight:
        gp = one_sided_gradient_penalty if t.gp_one_sided else gradient_penalty
        penalties.append(Penalty("gp", gp, t.gp_weight, every))
    if t.r1_gamma:
        penalties.append(Penalty("r1", r1_penalty, t.r1_gamma / 2, every))
    if t.r2_gamma:
        penalties.append(Penalty("r2", r2_penalty, t.r2_gamma / 2, every))
    if t.dragan_weight:
        penalties.append(Penalty("dragan", dragan_penalty, t.dragan_weight, every))
    conditioning = config.model.conditioning
    try:
        return GANSpec(
            z_dim=config.model.z_dim,
            loss=t.loss,
            n_critic=t.n_critic,
            ema_decay=t.ema_decay,
            label_smoothing=t.label_smoothing,
            pack=t.pack,
            conditional=conditioning != "none",
            d_penalties=tuple(penalties),
            d_weight_clip=t.weight_clip,
            aux_weight=t.aux_weight if conditioning == "acgan" else 0.0,
            g_ortho_weight=t.g_ortho_weight,
            hist_weight=t.hist_weight,
            instance_noise=t.instance_noise,
            instance_noise_anneal=t.instance_noise_anneal,
            # DataConfig.augment is added by the data pipeline; absent means no augmentation
            augment=tuple(getattr(config.data, "augment", ()) or ()),
        )
    except ValueError as e:
        raise UserError(str(e)) from None


def _schedule(lr: float, kind: str, num_updates: int):
    if kind == "constant":
        return lr
    if kind == "linear":
        return optax.linear_schedule(lr, 0.0, num_updates)
    raise UserError(f"unknown train.lr_schedule {kind!r}; choose 'constant' or 'linear'")


def _optimizer(name: str, lr, b1: float, b2: float):
    if name not in OPTIMIZERS:
        raise UserError(f"unknown train.optimizer {name!r}; choose one of {OPTIMIZERS}")
    return make_optimizer(name, lr, b1, b2)


def build_state(config: Config, dataset: data_lib.Dataset | None = None) -> tuple[data_lib.Dataset, GANState]:
    """Dataset and freshly initialised state of an experiment (seeded by ``train.seed``)."""
    dataset = dataset or build_dataset(config)
    t = config.train
    if t.batch_size % t.pack:
        raise UserError(f"train.batch_size={t.batch_size} must be divisible by train.pack={t.pack}")
    generator, discriminator = build_models(config, dataset)
    state = create_state(
        generator=generator,
        discriminator=discriminator,
        g_tx=_optimizer(t.optimizer, _schedule(t.lr_g, t.lr_schedule, t.steps), t.b1, t.b2),
        # the critic takes n_critic optimizer steps per train step
        d_tx=_optimizer(t.optimizer, _schedule(t.lr_d, t.lr_schedule, t.steps * t.n_critic), t.b1, t.b2),
        spec=build_spec(config),
        data_shape=dataset.data_shape,
        rng=jax.random.PRNGKey(t.seed),
        num_classes=dataset.num_classes,
    )
    return dataset, state
