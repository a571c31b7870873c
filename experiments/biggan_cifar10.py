"""BigGAN (Brock, Donahue & Simonyan, ICLR 2019) on CIFAR-10, StudioGAN's CIFAR-10 recipe.

Paper:     "Large Scale GAN Training for High Fidelity Natural Image Synthesis", arXiv:1809.11096.
           Shared class embedding and hierarchical z into conditional BatchNorm, SN in G and D,
           self-attention, projection D, hinge loss, EMA generator (gan_jax.models.biggan).
Recipe:    PyTorch-StudioGAN, src/configs/CIFAR10/BigGAN.yaml with StudioGAN's defaults
           (src/config.py): z 80 (4 chunks of 20), shared embedding 128, G 96 channel unit (4 x 96 =
           384 channels), D 192 channels (StudioGAN's 2 x 96; here d_width 48 x the reference's
           32 px multiplier 4), self-attention after the 16x16 block of G and of D, orthogonal
           init, hinge loss, Adam 2e-4 for both, betas (0.5, 0.999), 5 D steps per G step, batch
           64, 100,000 G steps, EMA 0.9999 starting at step 1,000, no orthogonal regularisation.
           (BigGAN-PyTorch's scripts/launch_cifar_ema.sh differs: batch 50, 4 D steps, betas
           (0, 0.999), N02 init, no shared embedding, no hierarchical z, no attention.)
Deviations: no random horizontal flips (StudioGAN flips CIFAR-10); our CIFAR-10 is the JPEG copy
           of the dataset; BatchNorm epsilon 1e-5 (BigGAN-PyTorch's; StudioGAN uses 1e-4); D's
           spectral-norm vectors take one power iteration per D update (PyTorch's spectral_norm:
           every training-mode D pass); the EMA generator keeps BatchNorm statistics of its own
           averaged weights (StudioGAN averages the buffers too); G's labels in a G step are the
           step's last real batch's, not uniform draws; no standing statistics yet at evaluation.
Command:   gan-jax train biggan_cifar10 --workdir runs/biggan_cifar10 --set data.dir=../shared/datasets
Runtime:   not measured yet (a GPU run).
Result:    StudioGAN reports its BigGAN CIFAR-10 numbers in its README table; not reproduced here yet.
"""

from gan_jax.config import Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.classic import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="biggan_cifar10",
        data=DataConfig(name="cifar10", image_size=32),
        model=ModelConfig(arch="biggan", z_dim=80, g_width=96, d_width=48, conditioning="projection", biggan_shared_dim=128,
                          biggan_attention=(16,), biggan_hierarchical=True, biggan_init="ortho"),
        recipe=RecipeConfig(loss="hinge", n_critic=5, lr_g=0.0002, lr_d=0.0002, b1=0.5, b2=0.999, ema_decay=0.9999, ema_rampup=0.0,
                            ema_start=1000),
        train=TrainConfig(steps=100000, batch_size=64),
        log=LogConfig(every=100, sample_every=5000, num_samples=100),
    )
