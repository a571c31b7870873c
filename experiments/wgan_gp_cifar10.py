"""WGAN-GP (Gulrajani et al., NeurIPS 2017) on CIFAR-10 with the ResNet architecture.

Paper:     "Improved Training of Wasserstein GANs", arXiv:1704.00028. Algorithm 1
           hyper-parameters: gradient penalty lambda = 10, n_critic = 5, Adam with
           learning rate 1e-4, beta1 = 0, beta2 = 0.9, batch size 64. Architecture: the
           ResNet G/D of the paper's CIFAR-10 experiment (``model.arch=sngan`` with
           ``d_spectral_norm=False``: same residual layout, no normalisation in the critic,
           128 channels). The authors' ResNet script trains with 2e-4 and a linear decay;
           use ``--set recipe.lr_g=2e-4 --set recipe.lr_d=2e-4 --set recipe.lr_schedule=linear`` for that.
Command:   gan-jax train wgan_gp_cifar10 --workdir runs/wgan_gp_cifar10 --set data.dir=../shared/datasets
Runtime:   100,000 generator steps: a GPU run (not measured yet). A 300-step run at half width
           (--set train.steps=300 --set model.g_width=64 --set model.d_width=64) took 40 min on
           2 shared CPU cores (README, "The GAN family").
Result:    the paper reports an unsupervised Inception score of 7.86 +- 0.07 (Table 3) for
           its ResNet; not reproduced here yet.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="wgan_gp_cifar10",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(arch="sngan", z_dim=128, g_width=128, d_width=128, d_spectral_norm=False),
        recipe=RecipeConfig(loss="wasserstein", n_critic=5, gp_weight=10.0, lr_g=0.0001, lr_d=0.0001, b1=0.0, b2=0.9),
        train=TrainConfig(steps=100000, batch_size=64),
        log=LogConfig(every=100, sample_every=5000, num_samples=64),
    )
