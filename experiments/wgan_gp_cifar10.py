"""WGAN-GP (Gulrajani et al., NeurIPS 2017) on CIFAR-10 with the ResNet architecture.

Paper:     "Improved Training of Wasserstein GANs", arXiv:1704.00028; its CIFAR-10 ResNet
           (Table 3, unsupervised Inception score 7.86 +- 0.07) was trained by the authors'
           gan_cifar_resnet.py, whose settings are the defaults here: gradient penalty
           lambda = 10, n_critic = 5, Adam 2e-4 (beta1 = 0, beta2 = 0.9) decayed linearly to 0
           over 100,000 generator steps, batch size 64, G and D 128 channels, BatchNorm in G,
           no normalisation in the critic (``model.arch=sngan`` with ``d_spectral_norm=False``:
           the same residual layout).
Deviations: G's batch is the critic's (the script draws 2 x 64 for G's update); the critic
           sum-pools its last features (the script averages: a constant factor the first
           linear layer absorbs); no dequantisation noise on the reals. Algorithm 1's
           constant 1e-4: ``--set recipe.lr_g=1e-4 --set recipe.lr_d=1e-4 --set recipe.lr_schedule=constant``.
Command:   gan-jax train wgan_gp_cifar10 --workdir runs/wgan_gp_cifar10 --set data.dir=../shared/datasets
Runtime:   100,000 generator steps: a GPU run (not measured yet). A 300-step run at half width
           with Algorithm 1's learning rate took 40 min on 2 shared CPU cores (README, "The GAN family").
Result:    not reproduced here yet.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="wgan_gp_cifar10",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(arch="sngan", z_dim=128, g_width=128, d_width=128, d_spectral_norm=False),
        recipe=RecipeConfig(loss="wasserstein", n_critic=5, gp_weight=10.0, lr_g=0.0002, lr_d=0.0002, b1=0.0, b2=0.9, lr_schedule="linear"),
        train=TrainConfig(steps=100000, batch_size=64),
        log=LogConfig(every=100, sample_every=5000, num_samples=64),
    )
