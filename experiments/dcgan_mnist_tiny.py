"""A small CPU variant of ``dcgan_mnist``: DCGAN widths 32 (a quarter of the reference's FLOPs).

Not the reference recipe (that is ``dcgan_mnist``, widths 64): narrower layers, for quick runs on
a laptop CPU. Otherwise the same (N(0, 0.02) init, Adam 2e-4 / 0.5, batch 64), except the EMA decay
0.99 this variant has always had.

Command:   gan-jax train dcgan_mnist_tiny --workdir runs/dcgan_mnist_tiny --set data.dir=../shared/datasets
Runtime:   README ("Quickstart") has a measured 3,000-step run of this network (before "Core v2").
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="dcgan_mnist_tiny",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=32, d_width=32, d_batch_norm=True),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0002, lr_d=0.0002, b1=0.5, ema_decay=0.99),
        train=TrainConfig(steps=3000, batch_size=64),
        log=LogConfig(every=50, sample_every=500, num_samples=64),
        checkpoint=CheckpointConfig(every=500, keep=3),
    )
