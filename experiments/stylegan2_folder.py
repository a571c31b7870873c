"""StyleGAN2-ADA on a folder of images (64 px by default, 128 with ``--set data.image_size=128``).

The reference's ``auto`` configuration for one GPU (stylegan2-ada-pytorch ``train.py
--cfg=auto --aug=ada``) at the run's resolution: fmaps 0.5 (widths min(16384 / res, 512)),
2 mapping layers, minibatch-std group 4, lr 0.0025, R1 gamma 0.0002 res^2 / batch, path length
2, style mixing 0.9, G EMA half-life batch x 10 / 32 kimg with ramp-up 0.05, batch 32
(min(4096 / res, 32) at 64-128 px), ADA towards 0.6; 25,000 kimg. Deviations: no fp16 / conv
clamping; x-flips of the dataset (``--mirror``) are not done here.

Data:      data.name=folder:PATH (every image file under PATH, center-cropped and resized).
Command:   gan-jax train stylegan2_folder --workdir runs/faces --set data.name=folder:/path/to/images
Runtime:   not measured (a GPU run).
Result:    none yet.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.stylegan2 import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="stylegan2_folder",
        family="stylegan2",
        data=DataConfig(name="folder:images", image_size=64),
        model=ModelConfig(preset="auto"),
        recipe=RecipeConfig(augment="ada"),
        train=TrainConfig(steps=781_250, batch_size=32),
        log=LogConfig(every=100, sample_every=5000, num_samples=64),
        checkpoint=CheckpointConfig(every=5000, keep=3),
    )
