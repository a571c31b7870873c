"""Toy benchmark: 25 Gaussians on a 5x5 grid at {-4,-2,0,2,4}^2 (std 0.05), PacGAN protocol.

Command:   gan-jax train toy_grid --workdir runs/toy_grid
Metric:    modes covered and % high-quality samples (within 3 std of the nearest mode)
           on 2,500 samples, written to runs/toy_grid/report.json.
Reference: PacGAN (Lin et al., NeurIPS 2018) Table 1: vanilla GAN 17.3 modes / 94.8 %, PacGAN4 24.8 / 93.6 %.
Result:    README "Toy benchmark" (5 seeds, benchmarks/toy_modes.py).
"""

from gan_jax.config import Config, DataConfig, LogConfig, ModelConfig, TrainConfig


def get_config() -> Config:
    return Config(
        experiment="toy_grid",
        data=DataConfig(name="grid"),
        model=ModelConfig(arch="mlp", z_dim=2, g_hidden=(128, 128, 128), d_hidden=(128, 128, 128)),
        train=TrainConfig(steps=3000, batch_size=256, loss="nonsaturating", lr_g=1e-3, lr_d=1e-3, b1=0.5, ema_decay=0.0, pack=2),
        log=LogConfig(every=250, sample_every=1000, num_samples=2500),
    )
