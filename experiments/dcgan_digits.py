"""DCGAN (Radford et al. 2015) on scikit-learn's 8x8 digits, upsampled to 32x32.

The default experiment: real data shipped inside the package, no download, no GPU.

Command:   gan-jax train dcgan_digits --workdir runs/dcgan_digits
Runtime:   see README ("Quickstart") for the measured time on 2 CPU cores.
Result:    recognisable digits in runs/dcgan_digits/samples.png.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="dcgan_digits",
        data=DataConfig(name="digits", image_size=32),
        model=ModelConfig(arch="dcgan", z_dim=64, g_width=32, d_width=32, d_batch_norm=True),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0002, lr_d=0.0002, b1=0.5, ema_decay=0.99),
        train=TrainConfig(steps=1500, batch_size=64),
        log=LogConfig(every=50, sample_every=500, num_samples=64),
    )
