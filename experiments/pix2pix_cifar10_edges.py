"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks") on
CIFAR-10 (JPEG): edge maps -> photos, the paper's edges2* task at 32x32.

The paper's recipe (and junyanz/pytorch-CycleGAN-and-pix2pix's defaults): U-Net generator with
skips (ngf 64, down to 1x1: 5 levels at 32 px), PatchGAN D (ndf 64; see the deviations) on
concat(edges, photo), BatchNorm, N(0, 0.02) init, BCE GAN loss + 100 x L1, D's loss halved,
Adam 2e-4 (0.5, 0.999), constant lr then linear decay to 0 over the second half; at test
time G runs as in training (BatchNorm with the test batch's statistics, dropout on), as the paper.
Deviations: 32x32 images (the reference's dropout rule puts dropout in num_downs - 5 = 0 blocks at
this size, so G is deterministic); a 1-layer PatchGAN (16x16 patches, half the image) instead of
the 3-layer one, whose 70x70 receptive field is larger than a 32x32 image, i.e. the paper's
whole-image "ImageGAN" (the paper's 70x70 patch is 27% of its 256 px images; 1 layer is the
nearest the reference's n_layers allows; --set model.d_layers=3 for the reference's D); batch 8
(the paper: 1 to 10); edges from a Canny-like Sobel detector (gan_jax.data.translation) instead of
HED; 20,000 steps (3.2 epochs of 50k images; the paper trains 200 epochs of sets of 400 to 50k
images).

Data:      data.dir holding cifar10-{train,test}-jpeg.zip (e.g. ../shared/datasets).
Command:   gan-jax train pix2pix_cifar10_edges --set data.dir=../shared/datasets
           (the paper's L1-only ablation: --set recipe.gan_weight=0)
Runtime:   ~0.56 s per step on 2 CPU cores with the 3-layer D (about 3 h for the default schedule).
Result:    README "Image translation" (the L1 vs L1 + cGAN ablation at 3,000 steps, seeds 0 and 1:
           FD 4.1-4.5x lower with the cGAN term, L1 13-14% higher); evaluate with
           gan-jax eval --workdir WORKDIR.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.translation import ModelConfig, RecipeConfig

STEPS = 20_000


def get_config() -> Config:
    return Config(
        experiment="pix2pix_cifar10_edges",
        family="translation",
        data=DataConfig(name="cifar10_edges", image_size=32),
        model=ModelConfig(g_arch="unet", ngf=64, ndf=64, d_layers=1, norm="batch", dropout=0.5, test_dropout=True,
                          test_batch_stats=True),
        recipe=RecipeConfig(method="pix2pix", gan_loss="vanilla", l1_weight=100.0, gan_weight=1.0, lr=2e-4, b1=0.5, b2=0.999,
                            decay_steps=-1),
        train=TrainConfig(steps=STEPS, batch_size=8),
        log=LogConfig(every=100, sample_every=500, num_samples=64, eval_samples=2000),
        checkpoint=CheckpointConfig(every=500, keep=3),
    )
