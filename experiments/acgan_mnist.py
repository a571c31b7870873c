"""ACGAN (Odena, Olah & Shlens, ICML 2017) on MNIST: D also classifies, G and D add the class cross-entropy.

Paper:     "Conditional Image Synthesis with Auxiliary Classifier GANs", arXiv:1610.09585.
           Objective: D maximises L_S + L_C, G maximises L_C - L_S (both minimise the class
           cross-entropy on real and generated data; weight 1). G gets one-hot(y) with z;
           D is a DCGAN discriminator with a second, 10-way linear head. Architecture and
           optimizer: DCGAN at 28x28, Adam 2e-4, beta1 = 0.5 (the paper's networks are
           for CIFAR-10/ImageNet; MNIST re-implementations use DCGAN-sized ones).
Command:   gan-jax train acgan_mnist --workdir runs/acgan_mnist --set data.dir=../shared/datasets
Runtime:   not measured yet.
Result:    expected: class-consistent rows in the sample grid and d/aux_acc_real near 1; no
           number measured yet.
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
