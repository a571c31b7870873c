"""LSGAN (Mao et al., ICCV 2017) on CIFAR-10.

Paper:     "Least Squares Generative Adversarial Networks", arXiv:1611.04076. Loss: the
           a = 0, b = c = 1 coding (``least_squares``: 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2],
           G: 1/2 E[(D(G(z))-1)^2]). Architecture and optimizer: DCGAN at 32x32 with Adam
           2e-4, beta1 = 0.5 (the DCGAN settings the paper builds on; its own networks are
           DCGAN-like with larger LSUN-specific variants that we do not copy).
Command:   gan-jax train lsgan_cifar10 --workdir runs/lsgan_cifar10 --set data.dir=../shared/datasets
Runtime:   not measured yet (50,000 generator steps; a GPU run).
Result:    no reference number in the paper for CIFAR-10 (it shows samples); none measured yet.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="lsgan_cifar10",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=64, d_width=64, d_batch_norm=True),
        recipe=RecipeConfig(loss="least_squares", lr_g=0.0002, lr_d=0.0002, b1=0.5, b2=0.999),
        train=TrainConfig(steps=50000, batch_size=64),
        log=LogConfig(every=100, sample_every=5000, num_samples=64),
    )
