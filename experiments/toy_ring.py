"""Toy benchmark: 8 Gaussians on a ring (radius 2, std 0.02), PacGAN protocol.

Command:   gan-jax train toy_ring --workdir runs/toy_ring
Metric:    modes covered and % high-quality samples (within 3 std of the nearest mode)
           on 2,500 samples, written to runs/toy_ring/report.json.
Reference: PacGAN (Lin et al., NeurIPS 2018) Table 1: vanilla GAN 6.3 modes / 98.2 %.
Result:    README "Toy benchmark" (5 seeds, benchmarks/toy_modes.py).
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="toy_ring",
        data=DataConfig(name="ring"),
        # R1 with a small gamma keeps the non-saturating game stable; a linear learning-rate
        # decay and the EMA generator make the samples precise (high quality).
        model=ModelConfig(arch="mlp", z_dim=2, g_hidden=(256, 256, 256), d_hidden=(256, 256, 256)),
        recipe=RecipeConfig(
            loss="nonsaturating", r1_gamma=0.01, lr_g=0.0005, lr_d=0.0005, lr_schedule="linear", b1=0.5, ema_decay=0.999
        ),
        train=TrainConfig(steps=10000, batch_size=256),
        log=LogConfig(every=500, sample_every=5000, num_samples=2500),
    )
