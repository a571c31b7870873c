"""CycleGAN (Zhu et al. 2017) between two folders of your own images (e.g. horses and zebras,
photos and paintings), unpaired, at 256x256: the paper's recipe as in
junyanz/pytorch-CycleGAN-and-pix2pix (ResNet generators with 9 blocks, ngf 64, InstanceNorm,
reflect padding; 70x70 PatchGAN discriminators; least-squares loss; cycle weight 10, identity
0.5 x 10; pools of 50 fakes; Adam 2e-4 (0.5, 0.999); batch 1; lr constant for the first half,
then linearly to 0), with the reference's default augmentation: training images resized to
286x286 (data.load_size), a random 256x256 crop and a random left-right flip (data.flip) per
image at every step, drawn independently for the two domains (the reference trains every
CycleGAN result with it; each epoch shows a small folder's images at new offsets).
Deviations: images are center-cropped to a square before the resize (the reference stretches
them) and resized bilinearly (the reference: bicubic); the held-out test images are resized to
256x256 without crop or flip, so metrics do not depend on random draws (the reference's test
script random-crops them too); 200,000 steps (about 200 epochs of a 1,000-image domain; set
train.steps and recipe.decay_steps for yours).

Data:      --set data.name=folders:DIR_A,DIR_B (a fixed 10% of each folder is held out for tests).
Command:   gan-jax train cyclegan_folder --set data.name=folders:photos,paintings
Runtime:   a GPU run (not measured on CPU at 256 px; see benchmarks/step_throughput.py).
Result:    translations of the held-out images in WORKDIR/samples; gan-jax translate --workdir WORKDIR
           --input IMG_OR_DIR --out OUT translates your own.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.translation import ModelConfig, RecipeConfig

STEPS = 200_000


def get_config() -> Config:
    return Config(
        experiment="cyclegan_folder",
        family="translation",
        data=DataConfig(name="folders:trainA,trainB", image_size=256, load_size=286, flip=True),
        model=ModelConfig(g_arch="resnet", ngf=64, ndf=64, d_layers=3, norm="instance", n_blocks=9),
        recipe=RecipeConfig(method="cyclegan", gan_loss="lsgan", cycle_weight=10.0, identity_weight=0.5, pool_size=50, lr=2e-4,
                            b1=0.5, b2=0.999, decay_steps=-1),
        train=TrainConfig(steps=STEPS, batch_size=1),
        log=LogConfig(every=100, sample_every=2000, num_samples=32, eval_samples=200),
        checkpoint=CheckpointConfig(every=2000, keep=3),
    )
