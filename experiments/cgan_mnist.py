"""Conditional GAN (Mirza & Osindero 2014) on MNIST: one-hot labels concatenated to G's and D's inputs.

Paper:     "Conditional Generative Adversarial Nets", arXiv:1411.1784. Conditioning as in
           the paper (y concatenated to z in G and to x in D, MLPs). Deviations, as in
           most re-implementations: ReLU/LeakyReLU MLPs (G 256-512-1024 with BatchNorm,
           D 512-512-512) instead of maxout and dropout, the non-saturating loss, and
           Adam 2e-4 / beta1 0.5 instead of SGD with momentum and a decaying learning rate.
           Initialisation: PyTorch's nn.Linear defaults (model.weight_init=torch), those of the
           PyTorch cGANs this recipe is compared with (benchmarks/quality_vs_torch.py; Flax's
           defaults train worse at equal steps: docs/quality.md).
Command:   gan-jax train cgan_mnist --workdir runs/cgan_mnist --set data.dir=../shared/datasets
Runtime:   10,000 steps with --set train.steps=10000 --set recipe.ema_decay=0.99 took 8 min
           on 2 shared CPU cores (run as 5,000 steps, then resumed to 10,000).
Result:    3,000 steps, seeds 0-2: fid_mnist (EMA) 3.86 +- 0.20 and 69.9 % of samples classified as
           their label, PyTorch at equal steps 5.43 +- 0.23 / 64.8 % (benchmarks/quality_vs_torch.py).
           The 10,000-step run (Flax's default init, before model.weight_init=torch): 96.1 % of
           class-conditional samples (100 per class, EMA generator) classified as their label by the
           offline MNIST classifier (python benchmarks/conditional_accuracy.py WORKDIR); 87.8 % at
           5,000 steps; a separate 2,000-step run (EMA 0.999): 10 %, labels not yet followed.
           Grid: docs/cgan_mnist_samples.png.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="cgan_mnist",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(
            arch="mlp", z_dim=100, g_hidden=(256, 512, 1024), d_hidden=(512, 512, 512), g_batch_norm=True, conditioning="concat",
            weight_init="torch",
        ),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0002, lr_d=0.0002, b1=0.5),
        train=TrainConfig(steps=20000, batch_size=64),
        log=LogConfig(every=100, sample_every=2000, num_samples=100),
    )
