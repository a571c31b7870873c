"""``dcgan_mnist`` with a faster learning rate: the same DCGAN, better samples at 3,000 steps.

The reference recipe (``dcgan_mnist``: DCGAN 28x28, ngf = ndf = 64, N(0, 0.02) init, batch 64,
Adam beta1 0.5) with Adam's learning rate 1.6e-3 for G and D instead of the paper's 2e-4. What else
was tried, one seed each (spectral norm + hinge, TTUR, DiffAugment translation, a longer EMA
ramp-up, lr 4e-4 and 8e-4; all in ``benchmarks/results/quality_dcgan_mnist_ablation.json``), and the
3-seed comparison with PyTorch's reference recipe are in README ("The GAN family").

Command:   gan-jax train dcgan_mnist_plus --workdir runs/dcgan_mnist_plus --set data.dir=../shared/datasets
Result:    python benchmarks/quality_vs_torch.py dcgan_mnist_plus --frameworks gan_jax --data-dir ../shared/datasets
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="dcgan_mnist_plus",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=64, d_width=64, d_batch_norm=True, weight_init="normal"),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0016, lr_d=0.0016, b1=0.5, b2=0.999),
        train=TrainConfig(steps=3000, batch_size=64),
        log=LogConfig(every=50, sample_every=500, num_samples=64),
        checkpoint=CheckpointConfig(every=500, keep=3),
    )
