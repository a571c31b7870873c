"""PyTorch DCGAN (the architecture of the PyTorch DCGAN example) and its GAN train step.

Kept for old callers: the models and the step now live in ``benchmarks/torch_models.py``, which
has every model family gan_jax ships (``benchmarks/gan_families.py``); this module re-exports
the DCGAN pieces under their old names and signatures:

* ``Generator(size, width, z_dim, channels)`` / ``Discriminator(size, width, channels)``:
  ``torch_models.DCGANGenerator`` / ``DCGANDiscriminator`` (layer for layer
  ``gan_jax.models.dcgan``, same parameter count; see there);
* ``TorchGAN(size, width, z_dim, lr, betas, ema_decay, compile, autocast_bf16, channels_last,
  seed)`` with ``step(real)`` on one real batch ``(B, 3, H, W)``: ``torch_models.TorchGAN`` on
  the DCGAN family with those settings (non-saturating loss, n_critic 1, EMA without ramp-up),
  i.e. one D update on a real batch and a fake batch G(z), one G update on fresh latents, G's
  EMA and its BatchNorm statistics pass (the gan_jax step).
"""

from __future__ import annotations

import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from gan_families import FAMILIES  # noqa: E402
from torch_models import DCGAN_STAGES as STAGES  # noqa: E402,F401
from torch_models import DCGANDiscriminator, DCGANGenerator, n_params  # noqa: E402
from torch_models import TorchGAN as _TorchGAN  # noqa: E402

__all__ = ["Generator", "Discriminator", "TorchGAN", "n_params", "STAGES"]


class Generator(DCGANGenerator):
    def __init__(self, size: int = 64, width: int = 64, z_dim: int = 100, channels: int = 3):
        super().__init__(size, width, z_dim, channels)


class Discriminator(DCGANDiscriminator):
    def __init__(self, size: int = 64, width: int = 64, channels: int = 3):
        super().__init__(size, width, channels)


class TorchGAN(_TorchGAN):
    """The old constructor: ``TorchGAN(size, width, z_dim, lr, betas, ema_decay, compile, autocast_bf16, channels_last, seed)``."""

    def __init__(self, size: int = 64, width: int = 64, z_dim: int = 100, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 ema_decay: float = 0.999, compile: bool = False, autocast_bf16: bool = False, channels_last: bool = False, seed: int = 0):
        base = FAMILIES["dcgan64"]
        fam = dataclasses.replace(base, name=f"dcgan{size}", image_shape=(size, size, 3), z_dim=z_dim, g_width=width, d_width=width,
                                  lr_g=lr, lr_d=lr, betas=tuple(betas), ema_decay=ema_decay, ema_rampup=0.0, width_scale=width / 64)
        super().__init__(fam, compile=compile, autocast_bf16=autocast_bf16, channels_last=channels_last, seed=seed)

    def step(self, real: torch.Tensor, labels=None):
        return super().step(real, labels)
