"""StyleGAN2 (Karras et al. 2020) on MNIST at 32x32, sized for 2 CPU cores (the full recipe: ``stylegan2_cifar10``).

The reference's ``cifar`` configuration (stylegan2-ada-pytorch ``train.py --cfg=cifar``, its
preset for 32 px data): mapping network of 2 layers (lr x 0.01), skip generator, ``orig``
discriminator, minibatch std group 32, non-saturating loss, R1 every 16 steps, no path length,
no style mixing, Adam lr 0.0025, betas (0, 0.99), G EMA half-life 500 kimg with ramp-up 0.05
(so 0.05 x the images seen), batch 64. Deviations: R1 gamma 30 instead of the preset's 0.01,
and widths min(1024 / res, 64) (64 at 4-16 px, 32 at 32 px; the reference: 512 everywhere), z
and w of 128 dimensions (512), for the CPU. Why gamma 30 and this preset: at these widths D
overpowers G and G collapses to a few digits with smaller gammas (fid_mnist at 3,000 steps, seed 0:
gamma 0.1 12.6, 1 5.8, 10 4.5, 30 4.1, 100 6.4), and the ``auto`` preset (path length, mixing,
residual D, mbstd 4) did worse than ``cifar`` at equal gamma (README "StyleGAN2 and BigGAN";
``--set model.preset=auto`` restores it). MNIST's 28 px images: the networks run at 32 px, G's
output center-cropped to 28 and D's input zero-padded to 32, so metrics see 28x28 images as for
``dcgan_mnist``.

Data:      MNIST. Offline: data.dir (or GAN_JAX_DATA_DIR) holding mnist.npz.
Command:   gan-jax train stylegan2_mnist --workdir runs/stylegan2_mnist --set data.dir=../shared/datasets
Runtime:   about an hour for 3,000 steps on 2 CPU cores (55-59 min on 2026-12-07 with a second run
           of it beside, each on one core).
Result:    README "StyleGAN2 and BigGAN": fid_mnist at 3,000 steps next to dcgan_mnist's.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.stylegan2 import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="stylegan2_mnist",
        family="stylegan2",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(preset="cifar", z_dim=128, w_dim=128, channel_base=1024, channel_max=64),
        recipe=RecipeConfig(r1_gamma=30.0),
        train=TrainConfig(steps=3000, batch_size=64),
        log=LogConfig(every=50, sample_every=500, num_samples=64),
        checkpoint=CheckpointConfig(every=500, keep=3),
    )
