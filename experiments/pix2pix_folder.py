"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks") on
two folders of aligned image pairs (e.g. facades: label maps -> photos), at 256x256: the paper's
facades recipe as in junyanz/pytorch-CycleGAN-and-pix2pix (train_pix2pix.sh).

U-Net 256 generator (ngf 64, 8 levels down to 1x1, dropout 0.5 in the 3 blocks next to the
innermost), 70x70 PatchGAN D (ndf 64, 3 layers) on concat(a, b), BatchNorm, N(0, 0.02) init, BCE
GAN loss + 100 x L1, D's loss halved, Adam 2e-4 (0.5, 0.999), batch 1; at test time G runs as in
training (BatchNorm with the test batch's statistics, dropout on), as the paper. Augmentation as
the reference's default: both images of a pair resized to 286x286 (data.load_size), one random
256x256 crop and one random left-right flip (data.flip) per pair, applied to a and b alike, at
every step. Schedule: the reference's 200 epochs (100 at constant lr, 100 decaying linearly to
0) of facades' 400 training pairs = 80,000 steps at batch 1 (recipe.decay_steps=-1: the second
half); for another set use train.steps = 200 x its training pairs.
Deviations: pairs come from two folders matched by file name (folder_pairs:, see
gan_jax.data.translation), not the reference's side-by-side A|B images; split those into two
folders first (put the input domain, e.g. facades' label maps, the reference's --direction BtoA
source, in DIR_A). A fixed 10% of the pairs is held out for tests, so a 400-pair folder trains on
360 (80,000 steps are then about 222 epochs). Images are center-cropped to a square before the
resize (the reference stretches them) and resized bilinearly (the reference: bicubic); the
held-out test pairs are resized to 256x256 without crop or flip, so metrics do not depend on
random draws (the reference's test script random-crops them too).

Data:      --set data.name=folder_pairs:DIR_A,DIR_B (files paired by relative path without extension).
Command:   gan-jax train pix2pix_folder --set data.name=folder_pairs:facades/labels,facades/photos
Runtime:   not measured (a GPU run at 256 px; see benchmarks/step_throughput.py for step times).
Result:    not measured; translations of the held-out pairs in WORKDIR/samples, L1/PSNR/SSIM with
           gan-jax eval --workdir WORKDIR; gan-jax translate --workdir WORKDIR --input IMG_OR_DIR
           --out OUT translates your own.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.translation import ModelConfig, RecipeConfig

#: the reference's 100 + 100 epochs of 400 pairs at batch 1
STEPS = 200 * 400


def get_config() -> Config:
    return Config(
        experiment="pix2pix_folder",
        family="translation",
        data=DataConfig(name="folder_pairs:trainA,trainB", image_size=256, load_size=286, flip=True),
        model=ModelConfig(g_arch="unet", ngf=64, ndf=64, d_layers=3, norm="batch", dropout=0.5, test_dropout=True,
                          test_batch_stats=True),
        recipe=RecipeConfig(method="pix2pix", gan_loss="vanilla", l1_weight=100.0, gan_weight=1.0, lr=2e-4, b1=0.5, b2=0.999,
                            decay_steps=-1),
        train=TrainConfig(steps=STEPS, batch_size=1),
        log=LogConfig(every=100, sample_every=2000, num_samples=32, eval_samples=200),
        checkpoint=CheckpointConfig(every=2000, keep=3),
    )
