"""DCGAN (Radford et al. 2015) on CIFAR-10 (32x32x3).

As in the paper and the PyTorch DCGAN example: ngf = ndf = 64, z = 100, Adam 2e-4,
beta1 0.5, batch 128, non-saturating loss; plus an EMA generator for the samples.
A GPU run: on 2 CPU cores one step takes about a second.

Data:      CIFAR-10. Offline: point data.dir (or GAN_JAX_DATA_DIR) at a folder holding
           cifar10-{train,test}-jpeg.zip (numbers on that copy are "CIFAR-10 (JPEG)").
Command:   gan-jax train dcgan_cifar10 --workdir runs/dcgan_cifar10 --set data.dir=../shared/datasets
Runtime:   the full 50,000 steps: not measured (no GPU so far). 3,000 steps at batch 64 trained in
           8-10 min on 2 shared CPU cores.
Result:    those 3,000 steps at batch 64, seeds 0-2: fid_cifar10 (EMA) 2.78 +- 0.09, PyTorch's
           DCGAN at equal steps 2.68 +- 0.22 (benchmarks/quality_vs_torch.py; docs/quality.md).
           Evaluate a run with gan-jax eval --workdir runs/dcgan_cifar10.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="dcgan_cifar10",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=64, d_width=64, d_batch_norm=True),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0002, lr_d=0.0002, b1=0.5, ema_decay=0.999),
        train=TrainConfig(steps=50000, batch_size=128),
        log=LogConfig(every=100, sample_every=1000, num_samples=64),
        checkpoint=CheckpointConfig(every=2000, keep=3),
    )
