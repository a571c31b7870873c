"""The model families the step benchmarks time: one description shared by the JAX and the PyTorch side.

Plain Python (no torch; jax only through ``get_family``, which fills in gan_jax's EMA default), so both ``benchmarks/step_throughput.py`` (JAX side, built
from ``gan_jax.models`` + ``gan_jax.steps.classic_gan``) and ``benchmarks/torch_models.py``
(PyTorch side) read the same numbers. Every family is the network and recipe of an
experiment we ship (``experiment``), at that experiment's widths (``width_scale = 1``);
``Family.scaled(width)`` shrinks every channel width / hidden size by ``width / 64`` (64 =
DCGAN's ngf, so ``--width 64`` means "the experiment's sizes" for every family and
``--width 8`` is the tiny smoke-test size: DCGAN ngf = ndf = 8, SNGAN G 32 / D 16 channels,
MLP hidden layers (32, 64, 128) / (64, 64, 64)).

Deviations from the experiments, all outside the timed computation's shape: learning-rate
schedules are constant (``sngan_proj_cifar10`` decays linearly: an elementwise scale), and
the data are a fixed random batch (uint8 -> float conversion is not timed either side:
the JAX side gets float32 in [-1, 1], as PyTorch does).
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["Family", "FAMILIES", "get_family", "with_default_ema"]


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    #: "dcgan", "mlp" or "sngan" (the SNGAN ResNet), as ``gan_jax.families.classic.ModelConfig.arch``
    arch: str
    #: one example, HWC (the JAX layout; PyTorch uses CHW)
    image_shape: tuple[int, int, int]
    z_dim: int
    #: DCGAN ngf / ndf; SNGAN G / D channel unit ``ch``
    g_width: int = 64
    d_width: int = 64
    #: MLP hidden layers
    g_hidden: tuple[int, ...] = ()
    d_hidden: tuple[int, ...] = ()
    #: BatchNorm in D (DCGAN only; the SNGAN D and the MLP D have none)
    d_batch_norm: bool = True
    d_spectral_norm: bool = False
    #: "none", "concat" (one-hot labels concatenated: mlp, dcgan), "acgan" (dcgan: concat in G, classifier head in D) or
    #: "projection" (sngan: conditional BN in G, projection D)
    conditioning: str = "none"
    num_classes: int = 0
    #: a name in gan_jax.losses.LOSSES: "nonsaturating", "least_squares", "hinge" or "wasserstein" here
    loss: str = "nonsaturating"
    n_critic: int = 1
    #: WGAN-GP weight (lambda), 0 = off
    gp_weight: float = 0.0
    #: DRAGAN penalty weight (lambda), 0 = off
    dragan_weight: float = 0.0
    #: WGAN weight clipping c: every D parameter clamped to [-c, c] after each D update (0 = off)
    weight_clip: float = 0.0
    #: ACGAN class cross-entropy weight (``conditioning="acgan"``)
    aux_weight: float = 0.0
    #: "adam" or "rmsprop" (the WGAN reference: PyTorch ``RMSprop(lr)``; betas unused)
    optimizer: str = "adam"
    #: "constant" or "linear" (to 0 over the run's G / D updates, as gan_jax's ``recipe.lr_schedule``)
    lr_schedule: str = "constant"
    #: "normal": the DCGAN paper's N(0, 0.02) init (gan_jax's ``model.weight_init``); "": PyTorch's defaults
    weight_init: str = ""
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    #: G's EMA decay and ramp-up; None: gan_jax.steps.ClassicSpec's default (the experiments'
    #: too), filled in by ``get_family`` (the ramp-up only changes a scalar, not the work)
    ema_decay: float | None = None
    ema_rampup: float | None = None
    #: the experiment whose networks and recipe these are
    experiment: str = ""
    #: width / 64 of ``scaled``; 1.0 = the experiment's sizes
    width_scale: float = 1.0

    @property
    def conditional(self) -> bool:
        return self.conditioning != "none"

    @property
    def image_size(self) -> int:
        return self.image_shape[0]

    def scaled(self, width: int | None) -> "Family":
        """Every channel width / hidden size times ``width / 64`` (None or 64: unchanged)."""
        if width is None or width == 64:
            return self
        f = width / 64

        def s(n: int) -> int:
            return max(1, int(round(n * f)))

        return dataclasses.replace(
            self,
            g_width=s(self.g_width),
            d_width=s(self.d_width),
            g_hidden=tuple(s(h) for h in self.g_hidden),
            d_hidden=tuple(s(h) for h in self.d_hidden),
            width_scale=f,
        )

    def sizes(self) -> dict:
        """The sizes that go into a JSON line."""
        out = {"arch": self.arch, "image_size": self.image_size, "z_dim": self.z_dim, "g_width": self.g_width, "d_width": self.d_width}
        if self.arch == "mlp":
            out.update(g_hidden=list(self.g_hidden), d_hidden=list(self.d_hidden))
        return out

    def recipe(self) -> dict:
        return {
            "loss": self.loss,
            "n_critic": self.n_critic,
            "gp_weight": self.gp_weight,
            "conditioning": self.conditioning,
            "num_classes": self.num_classes,
            "d_spectral_norm": self.d_spectral_norm,
            "d_batch_norm": self.d_batch_norm if self.arch == "dcgan" else False,
            "lr": [self.lr_g, self.lr_d],
            "betas": list(self.betas),
            "ema": [self.ema_decay, self.ema_rampup],
            "experiment": self.experiment,
        }

    def example_size(self) -> int:
        return math.prod(self.image_shape)


_SNGAN = dict(arch="sngan", image_shape=(32, 32, 3), z_dim=128, loss="hinge", n_critic=5, betas=(0.0, 0.9))

FAMILIES: dict[str, Family] = {
    # the PyTorch DCGAN example (64x64, ngf = ndf = 64, z 100, batch 128 there)
    "dcgan64": Family("dcgan64", "dcgan", (64, 64, 3), 100, experiment="(PyTorch DCGAN example; dcgan_cifar10 at 64x64)"),
    "dcgan32": Family("dcgan32", "dcgan", (32, 32, 3), 100, experiment="dcgan_cifar10"),
    # experiments/cgan_mnist.py: MLP G 256-512-1024 with BatchNorm, D 512-512-512, one-hot concatenation
    "mlp_cgan_mnist": Family(
        "mlp_cgan_mnist", "mlp", (28, 28, 1), 100, g_hidden=(256, 512, 1024), d_hidden=(512, 512, 512), d_batch_norm=False,
        conditioning="concat", num_classes=10, experiment="cgan_mnist",
    ),
    # experiments/sngan_cifar10.py: ResNet G 256 / D 128 channels, SN in D, hinge, n_critic 5, Adam 2e-4 (0, 0.9)
    "sngan32": Family("sngan32", g_width=256, d_width=128, d_batch_norm=False, d_spectral_norm=True, experiment="sngan_cifar10", **_SNGAN),
    # experiments/wgan_gp_cifar10.py: the same ResNet without SN, 128 / 128, Wasserstein + GP 10, Adam 2e-4 (0, 0.9)
    "wgan_gp32": Family(
        "wgan_gp32", g_width=128, d_width=128, d_batch_norm=False, gp_weight=10.0, experiment="wgan_gp_cifar10",
        **{**_SNGAN, "loss": "wasserstein"},
    ),
    # experiments/sngan_proj_cifar10.py: conditional BN in G + projection D (10 classes)
    "sngan_proj32": Family(
        "sngan_proj32", g_width=256, d_width=128, d_batch_norm=False, d_spectral_norm=True, conditioning="projection", num_classes=10,
        experiment="sngan_proj_cifar10", **_SNGAN,
    ),
}


def with_default_ema(fam: Family) -> Family:
    """``fam`` with its unset EMA settings taken from ``gan_jax.steps.ClassicSpec``'s default."""
    if fam.ema_decay is not None and fam.ema_rampup is not None:
        return fam
    from gan_jax.recipes.classic import ClassicSpec  # lazy: the only gan_jax (and jax) import here

    ema = ClassicSpec.__dataclass_fields__["ema"].default
    decay, rampup = (ema.decay, ema.rampup) if ema is not None else (0.0, 0.0)
    return dataclasses.replace(
        fam, ema_decay=decay if fam.ema_decay is None else fam.ema_decay, ema_rampup=rampup if fam.ema_rampup is None else fam.ema_rampup
    )


def get_family(name: str, width: int | None = None) -> Family:
    """The family ``name`` scaled to ``width`` (see ``Family.scaled``), EMA settings filled in."""
    try:
        fam = FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; choose from {sorted(FAMILIES)}") from None
    return with_default_ema(fam.scaled(width))
