"""WGAN with weight clipping (Arjovsky, Chintala & Bottou, ICML 2017) on MNIST.

Paper:     "Wasserstein GAN", arXiv:1701.07875. Algorithm 1 hyper-parameters: RMSprop with
           learning rate 5e-5 (PyTorch RMSprop defaults otherwise), clipping c = 0.01,
           n_critic = 5, batch size 64. Architecture: DCGAN (BatchNorm in G and in the
           critic, as in the authors' DCGAN_D), here at MNIST's 28x28.
           Not reproduced: the reference code's 100 critic iterations for the first 25
           and every 500th generator iteration.
Command:   gan-jax train wgan_mnist --workdir runs/wgan_mnist --set data.dir=../shared/datasets
Runtime:   not measured yet (10,000 generator steps = 50,000 critic steps).
Result:    expected: digit-like samples and a Wasserstein estimate (-loss/d) that decreases
           as the samples improve (the paper's Figure 3 behaviour); no number measured yet.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="wgan_mnist",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=64, d_width=64, d_batch_norm=True),
        recipe=RecipeConfig(loss="wasserstein", n_critic=5, optimizer="rmsprop", lr_g=5e-05, lr_d=5e-05, weight_clip=0.01),
        train=TrainConfig(steps=10000, batch_size=64),
        log=LogConfig(every=100, sample_every=1000, num_samples=64),
    )
