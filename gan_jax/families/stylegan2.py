"""The StyleGAN2 family's config sections and builder: ``Config`` -> StyleGAN2(-ADA) networks and recipe.

``model.preset`` picks the reference's configuration (stylegan2-ada-pytorch ``train.py``
``cfg_specs``): ``auto`` (its resolution rules: fmaps 0.5, mbstd group min(batch, 4), lr 0.0025,
gamma 0.0002 res^2 / batch, EMA batch x 10 / 32 kimg with ramp-up 0.05, 2 mapping layers),
``stylegan2``, ``paper256`` or ``cifar`` (fmaps 1, mbstd 32, gamma 0.01, EMA 500 kimg, ramp-up
0.05, 2 mapping layers, no path length, no mixing, ``orig`` D). Fields left at their sentinel
(0, -1 or "auto") take the preset's value; anything set explicitly wins.
"""

from __future__ import annotations

import dataclasses

import jax

from gan_jax.config import Config, UserError
from gan_jax.engine import EMA, Recipe, TrainState
from gan_jax.models.stylegan2 import SUPPORTED_RESOLUTIONS, StyleGAN2Discriminator, StyleGAN2Generator, network_resolution, num_ws
from gan_jax.optimizers import adam
from gan_jax.recipes.stylegan2 import AUGMENTS, StyleGAN2Spec, stylegan2

#: the reference's cfg_specs (mbstd group, fmaps, lr, gamma, ema kimg, ramp-up, mapping layers) and
#: the cifar preset's changes (pl weight 0, no mixing, D architecture orig)
PRESETS = {
    "auto": None,  # resolution- and batch-dependent, below
    "stylegan2": dict(mbstd=4, fmaps=1.0, lr=0.002, gamma=10.0, ema=10.0, ramp=0.0, map=8),
    "paper256": dict(mbstd=8, fmaps=0.5, lr=0.0025, gamma=1.0, ema=20.0, ramp=0.0, map=8),
    "paper512": dict(mbstd=8, fmaps=1.0, lr=0.0025, gamma=0.5, ema=20.0, ramp=0.0, map=8),
    "cifar": dict(mbstd=32, fmaps=1.0, lr=0.0025, gamma=0.01, ema=500.0, ramp=0.05, map=2, pl=0.0, mixing=0.0, d_arch="orig"),
}


@dataclasses.dataclass
class ModelConfig:
    #: the reference configuration the sentinel fields below come from (see the module docstring)
    preset: str = "auto"
    z_dim: int = 512
    w_dim: int = 512
    #: mapping layers (0: the preset's)
    mapping_layers: int = 0
    #: widths min(channel_base // res, channel_max) (channel_base 0: the preset's fmaps x 32768)
    channel_base: int = 0
    channel_max: int = 512
    #: D architecture: "auto" (the preset's), "resnet" or "orig"
    d_architecture: str = "auto"
    #: minibatch-std group size (0: the preset's) and features
    mbstd_group: int = 0
    mbstd_channels: int = 1
    #: class-conditional G and D (needs a labelled dataset)
    conditional: bool = False


@dataclasses.dataclass
class RecipeConfig:
    #: Adam lr for G and D (0: the preset's); betas (0, 0.99) and eps 1e-8 as the reference
    lr: float = 0.0
    b1: float = 0.0
    b2: float = 0.99
    #: R1 gamma (-1: the preset's) and its lazy interval
    r1_gamma: float = -1.0
    d_reg_every: int = 16
    #: path length weight (-1: the preset's, 2 unless cifar), interval, batch shrink, decay
    pl_weight: float = -1.0
    g_reg_every: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    #: style mixing probability (-1: the preset's, 0.9 unless cifar)
    style_mixing: float = -1.0
    w_avg_beta: float = 0.995
    #: G's EMA half-life in thousands of images (-1: the preset's) and ramp-up (-1: the preset's; 0: none)
    ema_kimg: float = -1.0
    ema_rampup: float = -1.0
    #: "none", "ada" (adaptive p), "fixed" (p = augment_p) or "diffaugment"
    augment: str = "none"
    ada_pipeline: str = "bgc"
    augment_p: float = 0.0
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 500.0
    diffaugment: tuple[str, ...] = ("color", "translation", "cutout")


def steps_locked(config: Config) -> str:
    return ""


def _resolved(config: Config, resolution: int) -> dict:
    """The preset's values for this resolution and batch, overridden by the fields set explicitly."""
    m, r, batch = config.model, config.recipe, config.train.batch_size
    if m.preset not in PRESETS:
        raise UserError(f"unknown model.preset {m.preset!r}; choose one of {tuple(PRESETS)}")
    spec = PRESETS[m.preset]
    if spec is None:  # the reference's 'auto' for one GPU group of this batch
        spec = dict(mbstd=min(batch, 4), fmaps=1.0 if resolution >= 512 else 0.5, lr=0.002 if resolution >= 1024 else 0.0025,
                    gamma=0.0002 * resolution**2 / batch, ema=batch * 10 / 32, ramp=0.05, map=2)
    out = dict(
        mapping_layers=m.mapping_layers or spec["map"],
        channel_base=m.channel_base or int(spec["fmaps"] * 32768),
        mbstd_group=m.mbstd_group or spec["mbstd"],
        d_architecture=spec.get("d_arch", "resnet") if m.d_architecture == "auto" else m.d_architecture,
        lr=r.lr or spec["lr"],
        r1_gamma=spec["gamma"] if r.r1_gamma < 0 else r.r1_gamma,
        pl_weight=spec.get("pl", 2.0) if r.pl_weight < 0 else r.pl_weight,
        style_mixing=spec.get("mixing", 0.9) if r.style_mixing < 0 else r.style_mixing,
        ema_kimg=spec["ema"] if r.ema_kimg < 0 else r.ema_kimg,
        ema_rampup=spec["ramp"] if r.ema_rampup < 0 else r.ema_rampup,
    )
    return out


def build(config: Config, dataset) -> tuple[Recipe, TrainState]:
    m, r, t = config.model, config.recipe, config.train
    if not dataset.is_image or len(dataset.data_shape) != 3:
        raise UserError(f"StyleGAN2 generates images; dataset {dataset.name!r} has examples of shape {dataset.data_shape}")
    h, w, c = dataset.data_shape
    if h != w or not 8 <= h <= SUPPORTED_RESOLUTIONS[-1]:
        raise UserError(f"StyleGAN2 supports square images of 8 to {SUPPORTED_RESOLUTIONS[-1]} px (run at the next power of two: "
                        f"{', '.join(map(str, SUPPORTED_RESOLUTIONS))}), got {h}x{w} (set data.image_size)")
    res = network_resolution(h)
    if m.conditional and dataset.num_classes < 1:
        raise UserError(f"model.conditional=true needs a labelled dataset; {dataset.name!r} has no classes")
    v = _resolved(config, res)
    if v["d_architecture"] not in ("resnet", "orig"):
        raise UserError(f"unknown model.d_architecture {m.d_architecture!r}; choose 'auto', 'resnet' or 'orig'")
    if r.augment not in AUGMENTS:
        raise UserError(f"unknown recipe.augment {r.augment!r}; choose one of {AUGMENTS}")
    if min(m.z_dim, m.w_dim, m.channel_max, v["mapping_layers"], v["channel_base"], v["mbstd_group"]) < 1 or m.mbstd_channels < 0:
        raise UserError("model.z_dim, w_dim, channel_max, mapping_layers, channel_base, mbstd_group must be >= 1 and mbstd_channels >= 0")
    group = min(v["mbstd_group"], t.batch_size)
    if m.mbstd_channels and t.batch_size % group:
        raise UserError(f"train.batch_size={t.batch_size} must be divisible by the minibatch-std group {group} (model.mbstd_group)")
    if v["lr"] <= 0 or v["ema_kimg"] < 0 or v["ema_rampup"] < 0:
        raise UserError(f"need recipe.lr > 0, ema_kimg >= 0 and ema_rampup >= 0, got {v['lr']}, {v['ema_kimg']}, {v['ema_rampup']}")
    num_classes = dataset.num_classes if m.conditional else 0
    generator = StyleGAN2Generator(image_shape=(h, w, c), z_dim=m.z_dim, w_dim=m.w_dim, mapping_layers=v["mapping_layers"], num_classes=num_classes,
                                   channel_base=v["channel_base"], channel_max=m.channel_max)
    discriminator = StyleGAN2Discriminator(resolution=res, channel_base=v["channel_base"], channel_max=m.channel_max,
                                           architecture=v["d_architecture"], mbstd_group=v["mbstd_group"], mbstd_channels=m.mbstd_channels,
                                           num_classes=num_classes)
    # EMA half-life ema_kimg thousand images: beta = 0.5 ** (batch / (ema_kimg * 1000)); the ramp-up caps
    # the half-life at ema_rampup x the images seen (engine.EMA's rampup in steps is the same ratio).
    ema = EMA(0.5 ** (t.batch_size / max(v["ema_kimg"] * 1000, 1e-8)), rampup=v["ema_rampup"]) if v["ema_kimg"] > 0 else None
    try:
        spec = StyleGAN2Spec(z_dim=m.z_dim, num_ws=num_ws(res), batch_size=t.batch_size, num_classes=num_classes, r1_gamma=v["r1_gamma"],
                             d_reg_every=r.d_reg_every, pl_weight=v["pl_weight"], pl_batch_shrink=r.pl_batch_shrink, pl_decay=r.pl_decay,
                             g_reg_every=r.g_reg_every, style_mixing=v["style_mixing"], w_avg_beta=r.w_avg_beta, ema=ema, augment=r.augment,
                             ada_pipeline=r.ada_pipeline, augment_p=r.augment_p, ada_target=r.ada_target, ada_interval=r.ada_interval,
                             ada_kimg=r.ada_kimg, diffaugment=tuple(r.diffaugment))
        if not 0.0 <= r.augment_p <= 1.0:
            raise ValueError(f"recipe.augment_p must be in [0, 1], got {r.augment_p}")
        # the reference rescales each network's Adam for its lazy interval even when that regulariser is off
        g_tx = adam(v["lr"], r.b1, r.b2, lazy_every=r.g_reg_every)
        d_tx = adam(v["lr"], r.b1, r.b2, lazy_every=r.d_reg_every)
        return stylegan2(generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx, spec=spec, image_shape=(h, w, c),
                         rng=jax.random.PRNGKey(t.seed), name=config.experiment)
    except ValueError as e:
        raise UserError(str(e)) from None
