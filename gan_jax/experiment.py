"""From a ``Config`` to typed core objects: dataset, models, optimizers, ``GANSpec``, state."""

from __future__ import annotations

import jax
import optax

from gan_jax import data as data_lib
from gan_jax import models
from gan_jax.config import Config, UserError
from gan_jax.regularizers import Penalty, gradient_penalty, r1_penalty
from gan_jax.state import GANSpec, GANState, adam, create_state


def build_dataset(config: Config) -> data_lib.Dataset:
    try:
        return data_lib.get_dataset(config.data.name, image_size=config.data.image_size)
    except ValueError as e:
        raise UserError(str(e)) from None


def build_models(config: Config, dataset: data_lib.Dataset):
    m = config.model
    if m.arch == "mlp":
        out_act = "tanh" if dataset.is_image else "linear"
        return (
            models.MLPGenerator(output_shape=dataset.data_shape, hidden=m.g_hidden, output_activation=out_act, batch_norm=m.g_batch_norm),
            models.MLPDiscriminator(hidden=m.d_hidden),
        )
    if m.arch == "dcgan":
        if len(dataset.data_shape) != 3:
            raise UserError(f"model.arch=dcgan needs image data, but dataset {dataset.name!r} has examples of shape {dataset.data_shape}")
        if m.g_upsample not in models.dcgan.UPSAMPLE_MODES:
            raise UserError(f"unknown model.g_upsample {m.g_upsample!r}; choose one of {models.dcgan.UPSAMPLE_MODES}")
        size = dataset.data_shape[0]
        if size not in models.dcgan.SUPPORTED_SIZES:
            raise UserError(f"DCGAN supports image sizes {sorted(models.dcgan.SUPPORTED_SIZES)}, got {size} (set data.image_size)")
        return (
            models.DCGANGenerator(image_shape=dataset.data_shape, width=m.g_width, upsample=m.g_upsample),
            models.DCGANDiscriminator(width=m.d_width, batch_norm=m.d_batch_norm),
        )
    raise UserError(f"unknown model.arch {m.arch!r}; choose 'dcgan' or 'mlp'")


def build_spec(config: Config) -> GANSpec:
    t = config.train
    penalties = []
    if t.gp_weight:
        penalties.append(Penalty("gp", gradient_penalty, t.gp_weight))
    if t.r1_gamma:
        penalties.append(Penalty("r1", r1_penalty, t.r1_gamma / 2))
    try:
        return GANSpec(
            z_dim=config.model.z_dim,
            loss=t.loss,
            n_critic=t.n_critic,
            ema_decay=t.ema_decay,
            label_smoothing=t.label_smoothing,
            pack=t.pack,
            d_penalties=tuple(penalties),
        )
    except ValueError as e:
        raise UserError(str(e)) from None


def _schedule(lr: float, kind: str, num_updates: int):
    if kind == "constant":
        return lr
    if kind == "linear":
        return optax.linear_schedule(lr, 0.0, num_updates)
    raise UserError(f"unknown train.lr_schedule {kind!r}; choose 'constant' or 'linear'")


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
        g_tx=adam(_schedule(t.lr_g, t.lr_schedule, t.steps), t.b1, t.b2),
        # the critic takes n_critic optimizer steps per train step
        d_tx=adam(_schedule(t.lr_d, t.lr_schedule, t.steps * t.n_critic), t.b1, t.b2),
        spec=build_spec(config),
        data_shape=dataset.data_shape,
        rng=jax.random.PRNGKey(t.seed),
        num_classes=dataset.num_classes,
    )
    return dataset, state
