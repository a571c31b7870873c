"""StyleGAN2 on CIFAR-10 (32x32), the reference's ``cifar`` configuration (a GPU run).

Paper:     Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"
           (arXiv:1912.04958); the CIFAR-10 setting of Karras et al. 2020b (StyleGAN2-ADA,
           arXiv:2006.06676), stylegan2-ada-pytorch ``train.py --cfg=cifar``: batch 64, Adam lr
           0.0025, betas (0, 0.99), R1 gamma 0.01 every 16 steps, 2 mapping layers, widths 512
           at every resolution (fmaps 1), minibatch-std group 32, G EMA half-life 500 kimg with
           ramp-up 0.05, no path-length regularisation, no style mixing, the ``orig`` (non-residual)
           discriminator, 100,000 kimg (1,562,500 steps). Deviations: no fp16 / conv clamping; the
           reference runs on 2 GPUs with per-GPU minibatch std (here: groups of 32 over the global batch).
           Use ``--set model.conditional=true`` for the class-conditional model, ``stylegan2_ada_cifar10``
           for ADA.
Command:   gan-jax train stylegan2_cifar10 --workdir runs/stylegan2_cifar10 --set data.dir=../shared/datasets
Runtime:   not measured (a multi-day GPU run).
Result:    not reproduced here.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.stylegan2 import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="stylegan2_cifar10",
        family="stylegan2",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(preset="cifar"),
        recipe=RecipeConfig(),
        train=TrainConfig(steps=1_562_500, batch_size=64),
        log=LogConfig(every=100, sample_every=5000, num_samples=64),
        checkpoint=CheckpointConfig(every=5000, keep=3),
    )
