"""The original GAN (Goodfellow et al., NeurIPS 2014) on MNIST: multilayer perceptrons for G and D.

Paper:     "Generative Adversarial Nets", arXiv:1406.2661. Minimax game, G trained with the
           non-saturating loss -log D(G(z)) the paper recommends in practice; one D step per G
           step (k = 1, as in the paper's experiments). Networks as in the PyTorch MLP GANs this
           recipe is compared with (PyTorch-GAN ``gan.py`` and the like): G z (100) ->
           256 -> 512 -> 1024 (BatchNorm, ReLU) -> 784 (tanh), D 784 -> 512 -> 256 (LeakyReLU
           0.2) -> 1, PyTorch's nn.Linear initialisation (``model.weight_init=torch``), Adam
           2e-4, betas (0.5, 0.999), batch 64. Deviations from the 2014 paper, as in those
           re-implementations: ReLU/LeakyReLU instead of maxout and dropout in D, Adam instead of
           SGD with momentum, BatchNorm in G, data in [-1, 1] with a tanh output.
Command:   gan-jax train gan_mnist --workdir runs/gan_mnist --set data.dir=../shared/datasets
Runtime:   3,000 steps: about 80 s on 2 CPU cores (benchmarks/quality_vs_torch.py's runs).
Result:    3,000 steps, seeds 0-2: fid_mnist 9.75 +- 1.6 (raw G), 6.94 +- 1.0 (EMA, the default
           samples); the same recipe in PyTorch 10.44 +- 0.33 (README "The GAN family",
           benchmarks/results/quality_gan_mnist.json). Grid: docs/quality_gan_mnist_gan_jax.png.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="gan_mnist",
        data=DataConfig(name="mnist", image_size=28),
        model=ModelConfig(arch="mlp", z_dim=100, g_hidden=(256, 512, 1024), d_hidden=(512, 256), g_batch_norm=True, weight_init="torch"),
        recipe=RecipeConfig(loss="nonsaturating", lr_g=0.0002, lr_d=0.0002, b1=0.5),
        train=TrainConfig(steps=20000, batch_size=64),
        log=LogConfig(every=100, sample_every=2000, num_samples=100),
    )
