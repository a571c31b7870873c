"""BigGAN (Brock, Donahue & Simonyan, ICLR 2019) on 32 px MNIST: a small CPU variant.

Paper:     "Large Scale GAN Training for High Fidelity Natural Image Synthesis", arXiv:1809.11096.
           The BigGAN architecture of gan_jax.models.biggan (shared class embedding, hierarchical
           z, conditional BatchNorm, SN in G and D, self-attention, projection D, hinge loss, EMA
           generator with a start step) and its 32 px layouts.
Recipe:    StudioGAN's CIFAR-10 BigGAN (experiments/biggan_cifar10.py) scaled down to run on two CPU
           cores. Deviations from it: MNIST zero-padded to 32 px (BigGAN's blocks double from 4x4,
           28 px is not reachable); channel unit 8 (G and D 32 channels instead of 384 / 192);
           z 64 (4 chunks of 16); 2 D steps per G step instead of 5; batch 32; betas (0, 0.999)
           (BigGAN-PyTorch's); 3,000 G steps; EMA 0.999 from step 500 (0.9999 from 1,000 averages
           too slowly for so short a run); plus the deviations listed in biggan_cifar10.
Command:   gan-jax train biggan_mnist --workdir runs/biggan_mnist --set data.dir=../shared/datasets
           python benchmarks/conditional_accuracy.py runs/biggan_mnist [--no-ema]
Runtime:   44 min wall on 2 CPU cores shared with other training jobs (load 4-13), 21 CPU-min
           (user 16.9 + sys 4.2), jax 0.10.2, 2026-12-02.
Result:    that run, 100 samples per class labelled by the shipped MNIST classifier
           (benchmarks/conditional_accuracy.py): EMA 96.1 %, raw generator 98.9 %; 54.7 % (EMA) at
           step 2,000. benchmarks/results/biggan_mnist_accuracy.json.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="biggan_mnist",
        data=DataConfig(name="mnist", image_size=32),
        model=ModelConfig(arch="biggan", z_dim=64, g_width=8, d_width=8, conditioning="projection", biggan_shared_dim=128,
                          biggan_attention=(16,), biggan_hierarchical=True, biggan_init="ortho"),
        recipe=RecipeConfig(loss="hinge", n_critic=2, lr_g=0.0002, lr_d=0.0002, b1=0.0, b2=0.999, ema_decay=0.999, ema_rampup=0.0,
                            ema_start=500),
        train=TrainConfig(steps=3000, batch_size=32),
        log=LogConfig(every=100, sample_every=500, num_samples=100),
    )
