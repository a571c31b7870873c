"""DCGAN (Radford et al. 2015) on MNIST (28x28x1), the reference recipe.

The paper's architecture and training, as in the PyTorch DCGAN example (pytorch/examples
``dcgan/main.py``) at MNIST's size: G projects z (100) to 7x7x128, then two stride-2 4x4
transposed convolutions (128 -> 64 -> 1 channels), BatchNorm + ReLU, tanh output; D mirrors
it with stride-2 4x4 convolutions (1 -> 64 -> 128), BatchNorm on all but the first,
LeakyReLU 0.2, a linear output; ngf = ndf = 64; weights from N(0, 0.02), BatchNorm scales from
N(1, 0.02); non-saturating loss; Adam 2e-4, beta1 0.5; batch 64 (the example's; the paper used
128). Deviations: 28x28 instead of 64x64 (one stride-2 stage fewer, a 7x7 base), and samples come
from an EMA of G (decay 0.999 with ramp-up, the library default; ``--no-ema`` for the raw G).

Data:      MNIST. Offline: point data.dir (or GAN_JAX_DATA_DIR) at a folder holding mnist.npz.
Command:   gan-jax train dcgan_mnist --workdir runs/dcgan_mnist --set data.dir=../shared/datasets
Runtime:   not measured yet with these widths (the width-32 variant is ``dcgan_mnist_tiny``).
Result:    ``benchmarks/quality_vs_torch.py dcgan_mnist`` compares it with PyTorch at equal steps.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="dcgan_mnist",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(arch="dcgan", z_dim=100, g_width=64, d_width=64, d_batch_norm=True, weight_init="normal"),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0002, lr_d=0.0002, b1=0.5, b2=0.999),
        train=TrainConfig(steps=3000, batch_size=64),
        log=LogConfig(every=50, sample_every=500, num_samples=64),
        checkpoint=CheckpointConfig(every=500, keep=3),
    )
