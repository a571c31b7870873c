"""DRAGAN (Kodali et al. 2017) on MNIST: a gradient penalty in a neighbourhood of the real data.

Paper:     "On Convergence and Stability of GANs", arXiv:1705.07215. Penalty
           lambda * E[(||grad D(x_hat)|| - 1)^2] with x_hat = x + alpha * (x_p - x),
           x_p = x + 0.5 * std(x) * U[0, 1): lambda = 10, k = 1, C = 0.5, added to the
           standard (non-saturating) GAN loss. Architecture and optimizer: DCGAN at 28x28
           without BatchNorm in D (a per-example gradient penalty must not couple examples),
           Adam 2e-4, beta1 = 0.5 (DCGAN settings, not from the paper).
Command:   gan-jax train dragan_mnist --workdir runs/dragan_mnist --set data.dir=../shared/datasets
Runtime:   not measured yet.
Result:    expected: digit-like samples; no number measured yet.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="dragan_mnist",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=64, d_width=64, d_batch_norm=False),
        recipe=RecipeConfig(loss="nonsaturating", dragan_weight=10.0, lr_g=0.0002, lr_d=0.0002, b1=0.5),
        train=TrainConfig(steps=10000, batch_size=64),
        log=LogConfig(every=100, sample_every=1000, num_samples=64),
    )
