"""PyTorch DCGAN (the architecture of the PyTorch DCGAN example) and its GAN train step.

Used by ``benchmarks/step_throughput.py`` as the reference side of the JAX-vs-PyTorch
step-throughput comparison. The models match ``gan_jax.models.dcgan`` layer for layer
(same parameter count, checked by the benchmark):

* ``Generator``: ConvT(z -> 8w, 4, 1, 0) BN ReLU, then stride-2 ConvT(4, 2, 1) stages
  halving the channels, each followed by BN ReLU, then ConvT(w -> 3, 4, 2, 1) tanh. At
  64x64 with w = 64 that is z -> 512 -> 256 -> 128 -> 64 -> 3, exactly the example; at
  32x32 one stride-2 stage fewer (z -> 256 -> 128 -> 64 -> 3).
* ``Discriminator``: Conv(3 -> w, 4, 2, 1) LReLU(0.2), stride-2 Conv(4, 2, 1) stages
  doubling the channels with BN LReLU(0.2), then Conv(8w -> 1, 4, 1, 0) -> logits (no
  sigmoid: the loss is BCE-with-logits).

``bias=False`` wherever a BatchNorm follows, as in the example. The three layers that
are *not* followed by BatchNorm (G's last ConvT, D's first and last Conv) carry a bias
here, as they do in ``gan_jax`` (the example has ``bias=False`` on all layers): 3 + 64 + 1
extra parameters at width 64, so both frameworks train identical parameter sets.

``TorchGAN.step`` is the same computation as ``gan_jax.steps.train_step`` with
``n_critic=1``, non-saturating loss and an EMA generator: one D update on a real batch
and a fake batch G(z) (G in training mode, no gradient through G), then one G update on
fresh latents, both with Adam(lr, betas=(0.5, 0.999)), then
``ema <- ema + (1 - decay) * (params - ema)`` with ``torch._foreach_lerp_``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

#: spatial size -> number of stride-2 stages (the first feature map is 4x4)
STAGES = {16: 2, 32: 3, 64: 4}


def _stages(size: int) -> int:
    try:
        return STAGES[size]
    except KeyError:
        raise ValueError(f"supported image sizes: {sorted(STAGES)}, got {size}") from None


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=1e-5, momentum=0.1)  # == flax momentum 0.9 in gan_jax


class Generator(nn.Module):
    def __init__(self, size: int = 64, width: int = 64, z_dim: int = 100, channels: int = 3):
        super().__init__()
        n_up = _stages(size)
        ch = width * 2 ** (n_up - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False), _bn(ch), nn.ReLU(True)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), _bn(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=True), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.z_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, size: int = 64, width: int = 64, channels: int = 3):
        super().__init__()
        n_down = _stages(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=True), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), _bn(ch * 2), nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=True)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class TorchGAN:
    """G, D, their Adam optimizers and the EMA copy of G's parameters; ``step`` = one train step.

    ``compile=True`` wraps G and D in ``torch.compile`` (the optimizers, the loss and the
    EMA stay eager). ``autocast_bf16=True`` runs the forward passes under
    ``torch.autocast("cpu", torch.bfloat16)`` (parameters, optimizer and EMA in float32).
    ``channels_last`` stores the models and the real batch in NHWC memory format.
    """

    def __init__(
        self,
        size: int = 64,
        width: int = 64,
        z_dim: int = 100,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        ema_decay: float = 0.999,
        compile: bool = False,
        autocast_bf16: bool = False,
        channels_last: bool = False,
        seed: int = 0,
    ):
        torch.manual_seed(seed)
        self.G = Generator(size, width, z_dim).train()
        self.D = Discriminator(size, width).train()
        if channels_last:
            self.G = self.G.to(memory_format=torch.channels_last)
            self.D = self.D.to(memory_format=torch.channels_last)
        self.channels_last = channels_last
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        self.ema = [p.detach().clone() for p in self.G.parameters()]
        self.ema_weight = 1.0 - ema_decay
        self.z_dim = z_dim
        self.autocast_bf16 = autocast_bf16
        self.g_fn = torch.compile(self.G) if compile else self.G
        self.d_fn = torch.compile(self.D) if compile else self.D

    def _autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast_bf16)

    def prepare(self, real: torch.Tensor) -> torch.Tensor:
        return real.contiguous(memory_format=torch.channels_last) if self.channels_last else real

    def step(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = real.shape[0]
        # --- D update: real batch + fake batch from G (G in train mode, no graph through G)
        with torch.no_grad(), self._autocast():
            fake = self.g_fn(torch.randn(b, self.z_dim))
        self.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            real_logits = self.d_fn(real).float()
            fake_logits = self.d_fn(fake).float()
        loss_d = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + F.binary_cross_entropy_with_logits(
            fake_logits, torch.zeros_like(fake_logits)
        )
        loss_d.backward()
        self.opt_d.step()
        # --- G update on fresh latents (non-saturating loss)
        # D's parameters are frozen for this phase, so the backward pass computes no D weight
        # gradients (jax.grad w.r.t. G's parameters does not either; the PyTorch example does).
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        with self._autocast():
            fake_logits = self.d_fn(self.g_fn(torch.randn(b, self.z_dim))).float()
        loss_g = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        loss_g.backward()
        self.D.requires_grad_(True)
        self.opt_g.step()
        # --- EMA generator
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, [p.detach() for p in self.G.parameters()], self.ema_weight)
        return loss_d.detach(), loss_g.detach()
