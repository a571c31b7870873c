"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks") between MNIST and MNIST-M (Ganin & Lempitsky 2015), unpaired, at 32x32.

The paper's recipe (junyanz/pytorch-CycleGAN-and-pix2pix defaults): two ResNet generators (ngf 64,
6 residual blocks: the paper's choice below 256 px; reflect padding, InstanceNorm), two 70x70-style
PatchGAN discriminators (ndf 64, 3 layers, InstanceNorm), least-squares GAN loss, cycle weight 10
per direction, pools of 50 past fakes, Adam 2e-4 (0.5, 0.999), batch 1, N(0, 0.02) init, constant
lr then linear decay to 0 over the second half.
Deviations: no identity loss (weight 0; the paper uses 0.5 x 10 for photo <-> painting, and the
reference requires equal channel counts for it; gan_jax converts gray <-> RGB, but on CPU the
identity loss made MNIST-M -> MNIST worse at 1,000 steps: README "Image translation"); MNIST-M
patches come from CIFAR-10 instead of BSDS500 (gan_jax.data.translation); 20,000 steps (the
paper: 200 epochs). The cycle weights stay the paper's (10 and 10); the CPU variant weighs the
cycle MNIST-M -> MNIST -> MNIST-M 2.5 (--set recipe.cycle_weight_b=2.5), which preserved more
labels there.

Data:      data.dir holding mnist.npz and cifar10-{train,test}-jpeg.zip (e.g. ../shared/datasets).
Command:   gan-jax train cyclegan_mnist_mnistm --set data.dir=../shared/datasets
Runtime:   ~0.25 s per step on 2 CPU cores.
Result:    README "Image translation" (label preservation of MNIST-M -> MNIST; the CPU-sized
           variant is cyclegan_mnist_mnistm_cpu); evaluate with gan-jax eval --workdir WORKDIR.
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.translation import ModelConfig, RecipeConfig

STEPS = 20_000


def get_config() -> Config:
    return Config(
        experiment="cyclegan_mnist_mnistm",
        family="translation",
        data=DataConfig(name="mnist_mnistm", image_size=32),
        model=ModelConfig(g_arch="resnet", ngf=64, ndf=64, d_layers=3, norm="instance", n_blocks=6),
        recipe=RecipeConfig(method="cyclegan", gan_loss="lsgan", cycle_weight=10.0, identity_weight=0.0, pool_size=50, lr=2e-4,
                            b1=0.5, b2=0.999, decay_steps=-1),
        train=TrainConfig(steps=STEPS, batch_size=1),
        log=LogConfig(every=100, sample_every=1000, num_samples=64, eval_samples=500),
        checkpoint=CheckpointConfig(every=1000, keep=3),
    )
