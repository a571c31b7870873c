"""DCGAN (Radford et al. 2015) on MNIST (28x28x1), sized to train on a laptop CPU.

Architecture and optimiser as in the paper (strided convs, BatchNorm, ReLU/LeakyReLU,
tanh; Adam 2e-4, beta1 0.5, batch 64), with narrower layers (ngf = ndf = 32) so that
3,000 steps fit in minutes on 2 CPU cores, and an EMA generator for the samples.

Data:      MNIST. Offline: point data.dir (or GAN_JAX_DATA_DIR) at a folder holding mnist.npz.
Command:   gan-jax train dcgan_mnist --workdir runs/dcgan_mnist --set data.dir=../shared/datasets
Runtime:   see README ("Training driver") for the measured time of a 3,000-step run on 2 CPU cores.
Result:    recognisable digits in runs/dcgan_mnist/samples.png (README shows a real grid).
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="dcgan_mnist",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=32, d_width=32, d_batch_norm=True),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0002, lr_d=0.0002, b1=0.5, ema_decay=0.99),
        train=TrainConfig(steps=3000, batch_size=64),
        log=LogConfig(every=50, sample_every=500, num_samples=64),
        checkpoint=CheckpointConfig(every=500, keep=3),
    )
