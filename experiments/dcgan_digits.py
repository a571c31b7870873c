"""DCGAN (Radford et al. 2015) on scikit-learn's 8x8 digits at 16x16: the default experiment.

Real data shipped inside the package (1,797 images, upsampled bilinearly to 16x16), no download,
no GPU; meant to finish in about a minute on a laptop CPU and give readable digits. The DCGAN
recipe at this size: G projects z (64) to 4x4x128, two stride-2 4x4 transposed convolutions
(128 -> 64 -> 1 channels), BatchNorm + ReLU, tanh; D mirrors it (1 -> 64 -> 128, LeakyReLU 0.2,
BatchNorm on all but the first); ngf = ndf = 64, weights N(0, 0.02); Adam 2e-4 (0.5, 0.999),
batch 64; EMA generator (decay 0.999 with ramp-up). Deviations from the paper: 16x16, z = 64, and
DiffAugment translation + cutout on everything D sees (Zhao et al. 2020: D overfits 1,797 images;
README "Quickstart" has the measured effect).

Command:   gan-jax train dcgan_digits --workdir runs/dcgan_digits
Runtime:   README ("Quickstart") has the measured time on 2 CPU cores.
Result:    runs/dcgan_digits/samples.png (shown enlarged without interpolation, as in README).
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="dcgan_digits",
        data=DataConfig(name="digits", image_size=16, augment=("translation", "cutout")),
        model=ModelConfig(arch="dcgan", z_dim=64, g_width=64, d_width=64, d_batch_norm=True),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0002, lr_d=0.0002, b1=0.5),
        train=TrainConfig(steps=2000, batch_size=64),
        log=LogConfig(every=50, sample_every=500, num_samples=64),
    )
