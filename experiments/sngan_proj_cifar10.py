"""Class-conditional SNGAN with a projection discriminator (Miyato & Koyama, ICLR 2018) on CIFAR-10.

Paper:     "cGANs with Projection Discriminator", arXiv:1802.05637. G: the SNGAN ResNet
           with conditional BatchNorm (per-class gain and bias); D: the spectrally
           normalised ResNet with the projection term <embed(y), phi(x)> added to its
           output. Hyper-parameters as in the SNGAN setting: hinge loss, Adam 2e-4,
           beta1 = 0, beta2 = 0.9, n_critic = 5, batch size 64, learning rate decayed
           linearly to 0, 50,000 generator updates.
Command:   gan-jax train sngan_proj_cifar10 --workdir runs/sngan_proj_cifar10 --set data.dir=../shared/datasets
Runtime:   not measured yet (a GPU run).
Result:    see the paper's CIFAR-10 table for its reported Inception score / FID; not
           reproduced here yet.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="sngan_proj_cifar10",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(arch="sngan", z_dim=128, g_width=256, d_width=128, d_spectral_norm=True, conditioning="projection"),
        recipe=RecipeConfig(loss="hinge", n_critic=5, lr_g=0.0002, lr_d=0.0002, b1=0.0, b2=0.9, lr_schedule="linear"),
        train=TrainConfig(steps=50000, batch_size=64),
        log=LogConfig(every=100, sample_every=5000, num_samples=100),
    )
