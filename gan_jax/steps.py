"""One import for a train step: ``import gan_jax.steps``.

    from gan_jax import models, steps
    recipe, state = steps.classic_gan(generator=models.DCGANGenerator(), discriminator=models.DCGANDiscriminator(),
                                      g_tx=steps.adam(2e-4), d_tx=steps.adam(2e-4), spec=steps.ClassicSpec(z_dim=100),
                                      data_shape=(32, 32, 3), rng=jax.random.PRNGKey(0))
    train_step = steps.make_train_step(recipe)
    for i, images in enumerate(batches):
        state, metrics = train_step(state, {"x": images}, step=i)

The engine (``TrainState``, ``Network``, ``Phase``, ``Recipe``, ``make_train_step``) lives in
``gan_jax.engine``, the classic recipe in ``gan_jax.recipes.classic``, the text GANs (MLE,
SeqGAN, Gumbel-softmax) in ``gan_jax.recipes.text``, pix2pix and CycleGAN in
``gan_jax.recipes.translation``; this module re-exports them.
"""

from gan_jax.engine import (
    EMA,
    Network,
    Phase,
    PhaseContext,
    Recipe,
    TrainState,
    TrainStep,
    apply_network,
    init_network,
    init_state,
    make_train_step,
    to_float,
    train_step_fn,
)
from gan_jax.optimizers import adam, lazy_ratio, make_optimizer
from gan_jax.recipes.classic import ClassicSpec, classic_gan, classic_recipe, pack
from gan_jax.recipes.text import TextSpec, text_gan
from gan_jax.recipes.translation import CycleGANSpec, Pix2PixSpec, cyclegan, pix2pix
from gan_jax.regularizers import Penalty
from gan_jax.sampling import generate, sample

__all__ = [
    "EMA", "Network", "Phase", "PhaseContext", "Recipe", "TrainState", "TrainStep", "apply_network", "init_network",
    "init_state", "make_train_step", "to_float", "train_step_fn", "adam", "lazy_ratio", "make_optimizer", "ClassicSpec",
    "classic_gan", "classic_recipe", "pack", "Penalty", "generate", "sample", "TextSpec", "text_gan", "Pix2PixSpec",
    "CycleGANSpec", "pix2pix", "cyclegan",
]
