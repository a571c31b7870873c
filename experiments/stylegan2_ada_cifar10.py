"""StyleGAN2-ADA on CIFAR-10 (32x32): the ``cifar`` configuration with adaptive discriminator augmentation.

Paper:     Karras et al. 2020b, "Training Generative Adversarial Networks with Limited Data"
           (arXiv:2006.06676); stylegan2-ada-pytorch ``train.py --cfg=cifar --aug=ada``: the
           ``stylegan2_cifar10`` recipe, every image D sees (real and fake, in every phase, R1
           through it) augmented by the ``bgc`` pipeline (x-flip, 90-degree rotations, integer
           translation, isotropic/anisotropic scaling, rotation, fractional translation,
           brightness, contrast, luma flip, hue, saturation) with probability p, adjusted every
           4 steps towards E[sign D(real)] = 0.6 at 500 kimg per unit. Limited data:
           ``--set data.limit=N`` (e.g. 10000, the paper's CIFAR-10 subsets). Deviations: as
           ``stylegan2_cifar10``, and ``gan_jax.ada``'s geometric ops resample bilinearly.
Command:   gan-jax train stylegan2_ada_cifar10 --workdir runs/stylegan2_ada_cifar10 --set data.dir=../shared/datasets
Runtime:   not measured (a GPU run).
Result:    not reproduced here.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.stylegan2 import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="stylegan2_ada_cifar10",
        family="stylegan2",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(preset="cifar"),
        recipe=RecipeConfig(augment="ada", ada_pipeline="bgc", ada_target=0.6, ada_interval=4, ada_kimg=500.0),
        train=TrainConfig(steps=1_562_500, batch_size=64),
        log=LogConfig(every=100, sample_every=5000, num_samples=64),
        checkpoint=CheckpointConfig(every=5000, keep=3),
    )
