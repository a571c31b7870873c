"""StyleGAN2 (Karras et al. 2020) on MNIST at 32x32, sized for 2 CPU cores (the full recipe: ``stylegan2_cifar10``).

The reference's ``auto`` configuration (stylegan2-ada-pytorch ``train.py --cfg=auto``) at 32 px:
mapping network of 2 layers (lr x 0.01), skip generator, residual discriminator, minibatch std
group 4, non-saturating loss, R1 every 16 steps, path length weight 2 every 4 steps (batch
shrink 2), style mixing 0.9, Adam lr 0.0025, betas (0, 0.99), G EMA half-life 64 x 10 / 32 =
20 kimg with ramp-up 0.05, batch 64. Deviations: R1 gamma 1 (the reference's ``paper256``
value) instead of the ``auto`` heuristic 0.0002 x 32^2 / 64 = 0.0032, with which D won
outright after ~900 steps in a measured run (README); for the CPU, widths min(1024 / res, 64)
(64 at 4-16 px, 32 at 32 px; the reference: 512 everywhere), z and w of 128 dimensions (512). MNIST's 28 px images: the networks run at 32 px, G's output
center-cropped to 28 and D's input zero-padded to 32 (MNIST padded, as the data pipeline's
32 px MNIST), so metrics see 28x28 images as for ``dcgan_mnist``.

Data:      MNIST. Offline: data.dir (or GAN_JAX_DATA_DIR) holding mnist.npz.
Command:   gan-jax train stylegan2_mnist --workdir runs/stylegan2_mnist --set data.dir=../shared/datasets
Runtime:   see README "StyleGAN2 and BigGAN" (measured on the 2-core CPU).
Result:    README "StyleGAN2 and BigGAN": fid_mnist at 3,000 steps next to dcgan_mnist's.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.stylegan2 import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="stylegan2_mnist",
        family="stylegan2",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(preset="auto", z_dim=128, w_dim=128, channel_base=1024, channel_max=64),
        recipe=RecipeConfig(r1_gamma=1.0),
        train=TrainConfig(steps=3000, batch_size=64),
        log=LogConfig(every=50, sample_every=500, num_samples=64),
        checkpoint=CheckpointConfig(every=500, keep=3),
    )
