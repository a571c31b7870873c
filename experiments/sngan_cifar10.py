"""SNGAN (Miyato et al., ICLR 2018) on CIFAR-10: ResNet G/D, spectral norm in D, hinge loss.

Paper:     "Spectral Normalization for Generative Adversarial Networks", arXiv:1802.05957.
           Hyper-parameters (setting with n_dis = 5): Adam 2e-4, beta1 = 0, beta2 = 0.9,
           n_critic = 5, batch size 64, hinge loss, one power iteration per D update,
           50,000 generator updates with the learning rate decayed linearly to 0 (the authors'
           code, pfnet-research/sngan_projection configs/sn_cifar10_unconditional.yml:
           LinearShift from iteration 0). Architecture: Appendix B ResNet (G 256 channels
           with BatchNorm, D 128 channels with spectral normalisation on every layer).
Deviation: G's batch is D's (that config draws 128 samples for G's update).
Command:   gan-jax train sngan_cifar10 --workdir runs/sngan_cifar10 --set data.dir=../shared/datasets
Runtime:   not measured yet (a GPU run).
Result:    the paper reports Inception score 8.22 +- 0.05 and FID 21.7 for the ResNet
           SN-GAN (Table 2); not reproduced here yet.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="sngan_cifar10",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(arch="sngan", z_dim=128, g_width=256, d_width=128, d_spectral_norm=True),
        recipe=RecipeConfig(loss="hinge", n_critic=5, lr_g=0.0002, lr_d=0.0002, b1=0.0, b2=0.9, lr_schedule="linear"),
        train=TrainConfig(steps=50000, batch_size=64),
        log=LogConfig(every=100, sample_every=5000, num_samples=64),
    )
