"""ACGAN (Odena, Olah & Shlens, ICML 2017) on MNIST: D also classifies, G and D add the class cross-entropy.

Paper:     "Conditional Image Synthesis with Auxiliary Classifier GANs", arXiv:1610.09585.
           Objective: D maximises L_S + L_C, G maximises L_C - L_S (both minimise the class
           cross-entropy on real and generated data; weight 1). G gets one-hot(y) with z;
           D is a DCGAN discriminator with a second, 10-way linear head. Architecture and
           optimizer: DCGAN at 28x28, Adam 2e-4, beta1 = 0.5 (the paper's networks are
           for CIFAR-10/ImageNet; MNIST re-implementations use DCGAN-sized ones).
Command:   gan-jax train acgan_mnist --workdir runs/acgan_mnist --set data.dir=../shared/datasets
Runtime:   3,000 steps: about 8 min on 2 CPU cores (benchmarks/quality_vs_torch.py's runs).
Result:    3,000 steps, seeds 0-2: fid_mnist (EMA) 1.30 +- 0.11 and 90.2 % of samples classified as
           their label; the same recipe in PyTorch 1.34 +- 0.35 / 88.9 % (README "The GAN family",
           benchmarks/results/quality_acgan_mnist.json). Grid: docs/quality_acgan_mnist_gan_jax.png.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="acgan_mnist",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=64, d_width=64, d_batch_norm=True, conditioning="acgan"),
        recipe=RecipeConfig(loss="nonsaturating", aux_weight=1.0, lr_g=0.0002, lr_d=0.0002, b1=0.5),
        train=TrainConfig(steps=10000, batch_size=64),
        log=LogConfig(every=100, sample_every=1000, num_samples=100),
    )
