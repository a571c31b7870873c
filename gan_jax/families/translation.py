"""The translation family's config sections and builder: ``Config`` -> pix2pix or CycleGAN.

``recipe.method`` picks the recipe (``gan_jax.recipes.translation``); ``"auto"`` fields take the
paper's choice for it: pix2pix a U-Net with BatchNorm and the BCE loss, CycleGAN ResNet
generators (6 blocks below 256 px, 9 from 256 px, as the paper) with InstanceNorm and the
least-squares loss. The learning rate is constant, then decays linearly to 0 over the last
``recipe.decay_steps`` steps (the paper's 100 + 100 epochs, in steps).
"""

from __future__ import annotations

import dataclasses

import jax
import optax

from gan_jax.config import Config, UserError
from gan_jax.engine import Recipe, TrainState
from gan_jax.models.translation import NORMS, PatchGANDiscriminator, ResNetGenerator, UNetGenerator, unet_depth
from gan_jax.recipes.translation import CycleGANSpec, Pix2PixSpec, cyclegan, pix2pix

METHODS = ("pix2pix", "cyclegan")
G_ARCHS = ("auto", "unet", "resnet")


@dataclasses.dataclass
class ModelConfig:
    #: "auto" (pix2pix: unet, cyclegan: resnet), "unet" or "resnet"
    g_arch: str = "auto"
    ngf: int = 64
    ndf: int = 64
    #: PatchGAN depth: 3 = the 70x70 PatchGAN
    d_layers: int = 3
    #: "auto" (pix2pix: batch, cyclegan: instance), "batch", "instance" or "none"
    norm: str = "auto"
    #: U-Net levels (0 = down to 1x1: log2 of the image size)
    unet_depth: int = 0
    #: residual blocks of the ResNet generator (0 = the paper's: 6 below 256 px, 9 from 256 px)
    n_blocks: int = 0
    #: U-Net decoder dropout (pix2pix: 0.5) and whether it stays on in inference mode (the paper's test-time noise)
    dropout: float = 0.5
    test_dropout: bool = True
    #: U-Net: BatchNorm with the test batch's statistics at test time (the paper's protocol); false:
    #: the running averages of training
    test_batch_stats: bool = True


@dataclasses.dataclass
class RecipeConfig:
    #: "pix2pix" (paired data) or "cyclegan" (unpaired)
    method: str = "pix2pix"
    #: "auto" (pix2pix: vanilla, cyclegan: lsgan), "vanilla" or "lsgan"
    gan_loss: str = "auto"
    #: pix2pix: lambda_L1, the GAN term's weight (0 = the L1-only U-Net) and a conditional D
    l1_weight: float = 100.0
    gan_weight: float = 1.0
    conditional: bool = True
    #: CycleGAN: lambda_A (cycle a -> b -> a), lambda_B (b -> a -> b; -1: lambda_A, the paper's),
    #: lambda_identity, fake pool size
    cycle_weight: float = 10.0
    cycle_weight_b: float = -1.0
    identity_weight: float = 0.5
    pool_size: int = 50
    lr: float = 2e-4
    b1: float = 0.5
    b2: float = 0.999
    #: linear decay of the learning rate to 0 over the last N steps (0 = constant; -1 = the second
    #: half of train.steps, the paper's 100 constant + 100 decaying epochs)
    decay_steps: int = -1


def steps_locked(config: Config) -> str:
    if config.recipe.decay_steps:
        return f"recipe.decay_steps={config.recipe.decay_steps} decays the learning rate to 0 at the run's last step"
    return ""


def steps_free_until(config: Config) -> int:
    """Updates taken at the constant lr, before the schedule depends on ``train.steps``: a run
    resumed from a checkpoint no later than this may change ``train.steps`` exactly."""
    steps = config.train.steps
    return steps - _decay_steps(steps, config.recipe.decay_steps)


def _decay_steps(steps: int, decay: int) -> int:
    """The updates over which the lr decays: ``decay``, or half of ``steps`` for -1 (0: none)."""
    return steps // 2 if decay == -1 else decay


def _schedule(lr: float, steps: int, decay: int):
    """Constant ``lr``, then linear to 0 over the last ``decay`` of ``steps`` updates (-1: half)."""
    decay = _decay_steps(steps, decay)
    if not decay:
        return lr
    if not 0 < decay <= steps:
        raise UserError(f"recipe.decay_steps={decay} must be -1 (half of train.steps), 0 (constant) or in [1, train.steps={steps}]")
    return optax.join_schedules([optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, decay)], [steps - decay])


def _pick(value: str, method: str, auto: dict[str, str], allowed, field: str) -> str:
    out = auto[method] if value == "auto" else value
    if out not in allowed:
        raise UserError(f"unknown {field} {value!r}; choose one of {('auto', *allowed)}")
    return out


def build(config: Config, dataset) -> tuple[Recipe, TrainState]:
    m, r, t = config.model, config.recipe, config.train
    info = dataset.translation
    if info is None:
        raise UserError(f"the translation family needs an image-translation dataset (cifar10_edges, cifar10_gray, digits_edges, "
                        f"mnist_mnistm, folders:A,B, folder_pairs:A,B); {dataset.name!r} is not one")
    if r.method not in METHODS:
        raise UserError(f"unknown recipe.method {r.method!r}; choose one of {METHODS}")
    if r.method == "pix2pix" and not info.paired:
        raise UserError(f"pix2pix learns from aligned pairs, and {dataset.name!r} is unpaired; use recipe.method=cyclegan")
    g_arch = _pick(m.g_arch, r.method, {"pix2pix": "unet", "cyclegan": "resnet"}, ("unet", "resnet"), "model.g_arch")
    norm = _pick(m.norm, r.method, {"pix2pix": "batch", "cyclegan": "instance"}, NORMS, "model.norm")
    loss = _pick(r.gan_loss, r.method, {"pix2pix": "vanilla", "cyclegan": "lsgan"}, ("vanilla", "lsgan"), "recipe.gan_loss")
    if min(m.ngf, m.ndf, m.d_layers) < 1 or not 0.0 <= m.dropout < 1.0 or m.unet_depth < 0 or m.n_blocks < 0:
        raise UserError(f"need model.ngf, ndf, d_layers >= 1, unet_depth, n_blocks >= 0 and 0 <= dropout < 1; got ngf={m.ngf}, "
                        f"ndf={m.ndf}, d_layers={m.d_layers}, unet_depth={m.unet_depth}, n_blocks={m.n_blocks}, dropout={m.dropout}")
    size = info.shape_a[0]
    if info.shape_a[:2] != info.shape_b[:2]:
        raise UserError(f"the two domains must have the same image size, got {info.shape_a[:2]} and {info.shape_b[:2]}")

    def generator(out_channels: int):
        if g_arch == "unet":
            try:
                depth = m.unet_depth or unet_depth(size)
            except ValueError as e:
                raise UserError(f"{e} (set data.image_size)") from None
            if 2**depth != size or depth < 5:
                raise UserError(f"model.unet_depth={depth} takes {2**depth}x{2**depth} images (and needs >= 5), the data is {size}x{size}")
            return UNetGenerator(out_channels=out_channels, num_downs=depth, ngf=m.ngf, norm=norm, dropout=m.dropout,
                                 test_dropout=m.test_dropout, test_batch_stats=m.test_batch_stats)
        if size % 4:
            raise UserError(f"the ResNet generator needs an image size divisible by 4, got {size} (set data.image_size)")
        return ResNetGenerator(out_channels=out_channels, ngf=m.ngf, n_blocks=m.n_blocks or (9 if size >= 256 else 6), norm=norm)

    def disc():
        return PatchGANDiscriminator(ndf=m.ndf, n_layers=m.d_layers, norm=norm)

    tx = optax.adam(_schedule(r.lr, t.steps, r.decay_steps), b1=r.b1, b2=r.b2)
    rng = jax.random.PRNGKey(t.seed)
    try:
        if r.method == "pix2pix":
            spec = Pix2PixSpec(gan_loss=loss, l1_weight=r.l1_weight, gan_weight=r.gan_weight, conditional=r.conditional)
            return pix2pix(generator=generator(info.shape_b[-1]), discriminator=disc(), g_tx=tx, d_tx=tx, spec=spec,
                           shape_a=info.shape_a, shape_b=info.shape_b, rng=rng, name=config.experiment)
        if r.cycle_weight_b < 0 and r.cycle_weight_b != -1:
            raise UserError(f"recipe.cycle_weight_b={r.cycle_weight_b} must be >= 0, or -1 (the same as recipe.cycle_weight)")
        spec = CycleGANSpec(gan_loss=loss, cycle_weight=r.cycle_weight, identity_weight=r.identity_weight, pool_size=r.pool_size,
                            cycle_weight_b=None if r.cycle_weight_b == -1 else r.cycle_weight_b)
        return cyclegan(generators=(generator(info.shape_b[-1]), generator(info.shape_a[-1])), discriminators=(disc(), disc()),
                        g_tx=tx, d_tx=tx, spec=spec, shape_a=info.shape_a, shape_b=info.shape_b, rng=rng, name=config.experiment)
    except ValueError as e:
        raise UserError(str(e).replace("the identity weight", "--set recipe.identity_weight=0")) from None
