"""Plain PyTorch versions of every model family gan_jax ships, and their GAN train step.

The reference side of ``benchmarks/step_throughput.py``. Each network matches its
``gan_jax.models`` counterpart layer for layer, with the same parameter count (checked by the
benchmark and by ``tests/test_benchmarks.py``); the families are described once, in
``benchmarks/gan_families.py``.

* DCGAN (``arch="dcgan"``, the PyTorch DCGAN example): ``DCGANGenerator`` ConvT(z -> 8w, 4, 1, 0)
  BN ReLU, stride-2 ConvT(4, 2, 1) stages halving the channels with BN ReLU, ConvT(w -> 3, 4, 2,
  1) tanh; ``DCGANDiscriminator`` Conv(3 -> w, 4, 2, 1) LReLU(0.2), stride-2 Conv stages
  doubling the channels with BN LReLU(0.2), Conv(8w -> 1, 4, 1, 0) -> logits. ``bias=False``
  wherever a BatchNorm follows; the three layers not followed by one (G's last ConvT, D's first
  and last Conv) carry a bias, as in gan_jax (the example has none: 3 + w + 1 parameters).
* MLP (``arch="mlp"``, the cGAN of Mirza & Osindero as in ``experiments/cgan_mnist.py``): G
  [z, one-hot(y)] -> (Linear (no bias) BN ReLU) per hidden layer -> Linear -> tanh; D
  [flatten(x), one-hot(y)] -> (Linear LReLU(0.2)) per hidden layer -> Linear(1).
* SNGAN ResNet (``arch="sngan"``, ``gan_jax.models.sngan``, 32x32 layout of Miyato et al.
  2018): G Linear(z -> 4*4*ch) -> 3 up-blocks (BN ReLU up2x conv3x3 BN ReLU conv3x3, shortcut
  conv1x1 of the input then up2x) -> BN ReLU conv3x3 tanh; D: optimised block (conv3x3 ReLU
  conv3x3 pool, shortcut pool conv1x1), down-block, 2 plain blocks, ReLU, global sum pooling to
  phi(x), Linear(1). Spectral norm (``torch.nn.utils.parametrizations.spectral_norm``) on every
  D layer when ``d_spectral_norm``; with ``conditioning="projection"`` every BN inside G's blocks
  is a conditional BN (affine-free BatchNorm2d, per-class gain / bias from ``nn.Embedding``
  tables) and D adds ``<embed(y), phi(x)>`` (the embedding spectrally normalised too).

``TorchGAN.step`` is the computation of ``gan_jax.recipes.classic`` for these recipes:

* ``n_critic`` D updates, update ``i`` on real batch ``i`` (the step takes ``n_critic`` real
  batches, as ``recipe.batches_per_step``) and its labels: fake = G(z, y) in training mode
  under ``no_grad`` (BN statistics advance), real and fake through D separately, the loss
  (non-saturating BCE-with-logits, hinge or Wasserstein), plus ``gp_weight`` x the WGAN-GP
  penalty on random interpolates (``autograd.grad(..., create_graph=True)``, norm
  ``sqrt(|g|^2 + 1e-12)`` as gan_jax), Adam.
* One G update on fresh latents with the last real batch's labels; D's parameters frozen
  (``requires_grad_(False)``: no D weight gradients, as ``jax.grad`` w.r.t. G's parameters).
* G's EMA: ``ema <- ema + (1 - beta) (params - ema)`` (``torch._foreach_lerp_``) with
  gan_jax's ramp-up ``beta = min(decay, 0.5 ** (1 / (rampup t)))``, then, when G has
  BatchNorm, one training-mode forward of the EMA copy on the G update's inputs (gan_jax's
  EMA BatchNorm statistics; XLA drops that pass's last layer, whose output is unused).

Known differences from gan_jax, none of which changes the FLOP count by more than a few
hundred thousand operations per layer:

* Spectral norm (``torch.nn.utils.parametrizations.spectral_norm``): PyTorch's
  parametrization does one power iteration per forward in training mode, i.e. on D's real
  and fake pass of every D update and on the G update's D pass (2 per D update + 1 per G
  update); gan_jax advances ``u`` only on the real pass of a D update (1 per D update) and
  uses the stored ``u`` everywhere else. ``TorchGAN(sn_updates="real_pass")`` (the default)
  follows gan_jax's schedule by switching the parametrization modules (only them) to eval
  mode outside the real pass; ``sn_updates="every_forward"`` keeps PyTorch's. A power
  iteration is two matrix-vector products per layer, so the FLOP difference is negligible;
  but with the inductor backend PyTorch's schedule fails in the D update's backward (torch
  2.13: the fake pass's in-place update of ``v`` hits a tensor the real pass saved, "modified
  by an inplace operation"), which the gan_jax schedule avoids.
* BatchNorm in D (DCGAN) during the G update: gan_jax discards the running statistics of that
  pass (``keep_stats=False``), PyTorch updates them (an elementwise cost).
* ``compile=True`` wraps G, D and the EMA copy in ``torch.compile``; the optimizers, losses and
  EMA lerp stay eager. AOTAutograd has no double backward, so the WGAN-GP penalty's D pass
  runs the *eager* D (``gp_eager_under_compile``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

try:  # benchmarks/ is not a package: imported as a sibling module or via the benchmarks dir on sys.path
    from gan_families import Family
except ImportError:  # pragma: no cover
    from benchmarks.gan_families import Family

__all__ = [
    "DCGANGenerator",
    "DCGANDiscriminator",
    "MLPGenerator",
    "MLPDiscriminator",
    "SNGANGenerator",
    "SNGANDiscriminator",
    "build_models",
    "n_params",
    "forward_macs",
    "analytic_step_flops",
    "TorchGAN",
]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _bn2d(ch: int, affine: bool = True) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=1e-5, momentum=0.1, affine=affine)  # == flax momentum 0.9 in gan_jax


def _one_hot(y: torch.Tensor | None, n: int, like: torch.Tensor) -> torch.Tensor:
    if y is None:
        raise ValueError("a conditional model needs labels y")
    return F.one_hot(y, n).to(like.dtype)


# ----------------------------------------------------------------------------- DCGAN

#: spatial size -> number of stride-2 stages (the first feature map is 4x4; 7x7 for 28x28)
DCGAN_STAGES = {16: 2, 28: 2, 32: 3, 64: 4}


def _dcgan_stages(size: int) -> int:
    try:
        return DCGAN_STAGES[size]
    except KeyError:
        raise ValueError(f"DCGAN image sizes: {sorted(DCGAN_STAGES)}, got {size}") from None


def _dcgan_base(size: int) -> int:
    return size >> _dcgan_stages(size)


def dcgan_weights_init(m: nn.Module) -> None:
    """The PyTorch DCGAN example's ``weights_init``: conv weights N(0, 0.02), BatchNorm N(1, 0.02), bias 0
    (applied to every conv / linear layer here, as gan_jax's ``weight_init="normal"`` does)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        parametrized = getattr(getattr(m, "parametrizations", None), "weight", None)  # spectral norm: the raw weight
        nn.init.normal_(parametrized.original if parametrized is not None else m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d) and m.affine:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, size: int = 64, width: int = 64, z_dim: int = 100, channels: int = 3, num_classes: int = 0):
        super().__init__()
        n_up = _dcgan_stages(size)
        ch = width * 2 ** (n_up - 1)
        base = _dcgan_base(size)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim + num_classes, ch, base, 1, 0, bias=False), _bn2d(ch), nn.ReLU(True)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), _bn2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=True), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.z_dim, self.num_classes = z_dim, num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, _one_hot(y, self.num_classes, z)], dim=1)
        return self.main(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """``aux_classes > 0``: the ACGAN classifier head beside the real/fake output; forward then
    returns ``(logits, class_logits)``."""

    def __init__(self, size: int = 64, width: int = 64, channels: int = 3, batch_norm: bool = True, num_classes: int = 0,
                 spectral_norm: bool = False, aux_classes: int = 0):
        super().__init__()
        n_down = _dcgan_stages(size)
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = [sn(nn.Conv2d(channels + num_classes, width, 4, 2, 1, bias=True)), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(n_down - 1):
            layers += [sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not batch_norm))]
            layers += [_bn2d(ch * 2)] if batch_norm else []
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        # gan_jax: Dense on the flattened base x base map == Conv(base x base, valid) to 1x1
        layers += [sn(nn.Conv2d(ch, 1, _dcgan_base(size), 1, 0, bias=True))]
        self.main = nn.Sequential(*layers)
        self.num_classes, self.aux_classes = num_classes, aux_classes
        if aux_classes:
            self.classifier = sn(nn.Conv2d(ch, aux_classes, _dcgan_base(size), 1, 0, bias=True))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        if self.num_classes:
            maps = _one_hot(y, self.num_classes, x)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, maps], dim=1)
        if not self.aux_classes:
            return self.main(x).view(-1)
        h = self.main[:-1](x)
        return self.main[-1](h).view(-1), self.classifier(h).flatten(1)


# ----------------------------------------------------------------------------- MLP


class MLPGenerator(nn.Module):
    def __init__(self, output_shape=(1, 28, 28), hidden=(256, 256), z_dim: int = 100, batch_norm: bool = True, num_classes: int = 0):
        super().__init__()
        layers: list[nn.Module] = []
        fan_in = z_dim + num_classes
        for w in hidden:
            layers += [nn.Linear(fan_in, w, bias=not batch_norm)]
            layers += [nn.BatchNorm1d(w, eps=1e-5, momentum=0.1)] if batch_norm else []
            layers += [nn.ReLU(True)]
            fan_in = w
        layers += [nn.Linear(fan_in, math.prod(output_shape)), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.output_shape, self.num_classes = tuple(output_shape), num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, _one_hot(y, self.num_classes, z)], dim=1)
        return self.main(z).view(z.shape[0], *self.output_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, input_size: int = 784, hidden=(256, 256), num_classes: int = 0):
        super().__init__()
        layers: list[nn.Module] = []
        fan_in = input_size + num_classes
        for w in hidden:
            layers += [nn.Linear(fan_in, w), nn.LeakyReLU(0.2, inplace=True)]
            fan_in = w
        layers += [nn.Linear(fan_in, 1)]
        self.main = nn.Sequential(*layers)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        if self.num_classes:
            h = torch.cat([h, _one_hot(y, self.num_classes, h)], dim=1)
        return self.main(h).view(-1)


# ----------------------------------------------------------------------------- SNGAN ResNet

#: as gan_jax.models.sngan: size -> (base map, G channel multipliers), D blocks (multiplier, downsample)
SNGAN_G_LAYOUTS = {32: (4, (1, 1, 1, 1)), 48: (6, (8, 4, 2, 1)), 64: (4, (16, 8, 4, 2, 1))}
SNGAN_D_LAYOUTS = {
    32: ((1, True), (1, True), (1, False), (1, False)),
    48: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, True)),
}


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


class ConditionalBatchNorm2d(nn.Module):
    """BN(x) * gamma[y] + beta[y] (gamma from 1, beta from 0); an ordinary BatchNorm2d when num_classes == 0."""

    def __init__(self, ch: int, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.bn = _bn2d(ch, affine=num_classes == 0)
        if num_classes:
            self.gamma = nn.Embedding(num_classes, ch)
            self.beta = nn.Embedding(num_classes, ch)
            nn.init.ones_(self.gamma.weight)
            nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.bn(x)
        if not self.num_classes:
            return h
        if y is None:
            raise ValueError("conditional BatchNorm needs labels y")
        return h * self.gamma(y)[:, :, None, None] + self.beta(y)[:, :, None, None]


def _init_res(conv: nn.Module, gain: float) -> nn.Module:
    nn.init.xavier_uniform_(conv.weight, gain)
    if getattr(conv, "bias", None) is not None:
        nn.init.zeros_(conv.bias)
    return conv


class GBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, num_classes: int = 0):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(in_ch, num_classes)
        self.conv1 = _init_res(nn.Conv2d(in_ch, out_ch, 3, 1, 1), math.sqrt(2))
        self.bn2 = ConditionalBatchNorm2d(out_ch, num_classes)
        self.conv2 = _init_res(nn.Conv2d(out_ch, out_ch, 3, 1, 1), math.sqrt(2))
        self.shortcut = _init_res(nn.Conv2d(in_ch, out_ch, 1, 1, 0), 1.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(_up(F.relu(self.bn1(x, y))))
        h = self.conv2(F.relu(self.bn2(h, y)))
        return h + _up(self.shortcut(x))  # conv1x1 commutes with nearest upsampling (gan_jax does the same)


class SNGANGenerator(nn.Module):
    def __init__(self, size: int = 32, width: int = 256, z_dim: int = 128, channels: int = 3, num_classes: int = 0):
        super().__init__()
        base, mults = SNGAN_G_LAYOUTS[size]
        self.base, self.ch0 = base, width * mults[0]
        self.linear = _init_res(nn.Linear(z_dim, base * base * self.ch0), 1.0)
        chans = [width * m for m in mults]
        self.blocks = nn.ModuleList(GBlock(a, b, num_classes) for a, b in zip(chans[:-1], chans[1:]))
        self.bn = _bn2d(chans[-1])
        self.conv = _init_res(nn.Conv2d(chans[-1], channels, 3, 1, 1), 1.0)
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = y if self.num_classes else None
        h = self.linear(z).view(z.shape[0], self.ch0, self.base, self.base)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.conv(F.relu(self.bn(h))))


class DBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, downsample: bool, optimized: bool, sn):
        super().__init__()
        self.downsample, self.optimized = downsample, optimized
        self.conv1 = sn(_init_res(nn.Conv2d(in_ch, out_ch, 3, 1, 1), math.sqrt(2)))
        self.conv2 = sn(_init_res(nn.Conv2d(out_ch, out_ch, 3, 1, 1), math.sqrt(2)))
        self.shortcut = sn(_init_res(nn.Conv2d(in_ch, out_ch, 1, 1, 0), 1.0)) if (optimized or downsample or in_ch != out_ch) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.optimized else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = _down(h)
        if self.optimized:
            sc = self.shortcut(_down(x))
        elif self.shortcut is not None:
            sc = self.shortcut(x)
            sc = _down(sc) if self.downsample else sc
        else:
            sc = x
        return h + sc


class SNGANDiscriminator(nn.Module):
    def __init__(self, size: int = 32, width: int = 128, channels: int = 3, spectral_norm: bool = True, num_classes: int = 0):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        blocks, in_ch = [], channels
        for i, (m, down) in enumerate(SNGAN_D_LAYOUTS[size]):
            blocks.append(DBlock(in_ch, width * m, down, i == 0, sn))
            in_ch = width * m
        self.blocks = nn.ModuleList(blocks)
        self.linear = sn(_init_res(nn.Linear(in_ch, 1), 1.0))
        self.num_classes = num_classes
        if num_classes:
            embed = nn.Embedding(num_classes, in_ch)
            nn.init.xavier_uniform_(embed.weight)
            self.embed = sn(embed)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        phi = F.relu(h).sum(dim=(2, 3))  # global sum pooling
        logits = self.linear(phi).view(-1)
        if self.num_classes:
            if y is None:
                raise ValueError("a projection discriminator needs labels y")
            logits = logits + (self.embed(y) * phi).sum(dim=1)
        return logits


# ----------------------------------------------------------------------------- building


def build_models(fam: Family) -> tuple[nn.Module, nn.Module]:
    """(G, D) of ``fam`` in training mode (NCHW images of shape (C, H, W))."""
    h, w, c = fam.image_shape
    ncls = fam.num_classes if fam.conditional else 0
    if fam.arch == "dcgan":
        if fam.conditioning not in ("none", "concat", "acgan"):
            raise ValueError(f"DCGAN conditioning: none, concat or acgan, got {fam.conditioning!r}")
        acgan = fam.conditioning == "acgan"
        g = DCGANGenerator(h, fam.g_width, fam.z_dim, c, num_classes=ncls)
        d = DCGANDiscriminator(h, fam.d_width, c, batch_norm=fam.d_batch_norm, num_classes=0 if acgan else ncls,
                               spectral_norm=fam.d_spectral_norm, aux_classes=ncls if acgan else 0)
        if fam.weight_init == "normal":  # the DCGAN paper's N(0, 0.02) (gan_jax's model.weight_init="normal")
            g.apply(dcgan_weights_init)
            d.apply(dcgan_weights_init)
    elif fam.arch == "mlp":
        g = MLPGenerator((c, h, w), fam.g_hidden, fam.z_dim, batch_norm=True, num_classes=ncls)
        d = MLPDiscriminator(h * w * c, fam.d_hidden, num_classes=ncls)
    elif fam.arch == "sngan":
        if fam.conditioning not in ("none", "projection"):
            raise ValueError(f"SNGAN conditioning: none or projection, got {fam.conditioning!r}")
        g = SNGANGenerator(h, fam.g_width, fam.z_dim, c, num_classes=ncls)
        d = SNGANDiscriminator(h, fam.d_width, c, spectral_norm=fam.d_spectral_norm, num_classes=ncls)
    else:
        raise ValueError(f"unknown arch {fam.arch!r}")
    return g.train(), d.train()


# ----------------------------------------------------------------------------- FLOPs


def forward_macs(module: nn.Module, *inputs) -> int:
    """Multiply-accumulates of the convolutions and linear layers in one forward pass
    (transposed convolutions counted as PyTorch/fvcore do: every input pixel times the kernel)."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.ConvTranspose2d):
            x = inp[0]
            total[0] += x.numel() * mod.out_channels * math.prod(mod.kernel_size) // mod.groups
        elif isinstance(mod, nn.Conv2d):
            total[0] += out.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
        elif isinstance(mod, nn.Linear):
            total[0] += (inp[0].numel() // mod.in_features) * mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(*inputs)
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return total[0]


def analytic_step_flops(fam: Family, batch: int) -> dict[str, Any]:
    """An analytic count of one train step's convolution / matmul FLOPs (2 per MAC).

    With F_G, F_D the forward FLOPs of G and D on one batch and backward = 2 x forward:

    * D update: G forward (no grad) + D forward on real and fake + their backward
      = F_G + 6 F_D; WGAN-GP adds D on the interpolates (F_D), the input gradient (F_D)
      and the backward of that backward pass (weight and cotangent terms, 2 F_D; with
      ReLU-type activations nothing flows back through the forward pass): 4 F_D;
    * G update: G forward + D forward + D's input gradient + G's backward = 3 F_G + 2 F_D;
    * EMA BatchNorm statistics: one more G forward, F_G (gan_jax and this step both run it).

    so a step is ``n_critic (F_G + 6 F_D [+ 4 F_D]) + 4 F_G + 2 F_D``. Elementwise work
    (BatchNorm, activations, Adam, the loss) is not counted.
    """
    with torch.device("meta"):  # shapes only: nothing is computed or allocated
        g, d = build_models(fam)
        h, w, c = fam.image_shape
        z = torch.zeros(batch, fam.z_dim)
        y = torch.zeros(batch, dtype=torch.long) if fam.conditional else None
        x = torch.zeros(batch, c, h, w)
        f_g, f_d = 2 * forward_macs(g, z, y), 2 * forward_macs(d, x, y)
    per_d = f_g + 6 * f_d + (4 * f_d if fam.gp_weight else 0)
    total = fam.n_critic * per_d + 4 * f_g + 2 * f_d
    return {"flops_per_step": total, "fwd_flops_g": f_g, "fwd_flops_d": f_d}


# ----------------------------------------------------------------------------- the step


def _d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if loss == "nonsaturating":  # == minimax for D: BCE-with-logits, softplus(-real) + softplus(fake)
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "least_squares":  # a=0, b=c=1 (Mao et al.): 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2]
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if loss == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if loss == "wasserstein":
        return fake.mean() - real.mean()
    raise ValueError(f"unsupported loss {loss!r}")


def _g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    if loss == "nonsaturating":
        return F.softplus(-fake).mean()  # -log sigmoid(D(G(z)))
    if loss == "least_squares":
        return 0.5 * ((fake - 1) ** 2).mean()
    if loss in ("hinge", "wasserstein"):
        return -fake.mean()
    raise ValueError(f"unsupported loss {loss!r}")


def ema_beta(t: int, decay: float, rampup: float | None) -> float:
    """gan_jax.engine.EMA.beta: min(decay, 0.5 ** (1 / (rampup t)))."""
    if rampup:
        return min(decay, 0.5 ** (1.0 / max(rampup * t, 1e-8)))
    return decay


def _optimizer(fam: Family, params, lr: float) -> torch.optim.Optimizer:
    name = getattr(fam, "optimizer", "adam")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=fam.betas)
    if name == "rmsprop":  # the WGAN reference's RMSprop(lr): alpha 0.99, eps 1e-8 outside the square root
        return torch.optim.RMSprop(params, lr=lr)
    raise ValueError(f"unsupported optimizer {name!r}")


def _split(out, aux: bool):
    """(logits, class_logits or None) of a D output (an ACGAN D returns both)."""
    return out if aux else (out, None)


class TorchGAN:
    """G, D, their Adam optimizers and G's EMA copy; ``step(reals, labels)`` = one train step.

    ``reals``: ``(n_critic, B, C, H, W)`` (or ``(B, C, H, W)`` when ``n_critic == 1``) floats
    in [-1, 1] on ``device``; ``labels``: ``(n_critic, B)`` / ``(B,)`` int64 (conditional
    families). ``autocast_bf16`` runs every network pass under ``torch.autocast(device_type,
    torch.bfloat16)`` (parameters, optimizer, EMA and losses in float32). ``compile`` wraps G,
    D and the EMA copy in ``torch.compile(backend=compile_backend)``. ``build(fam) -> (G, D)``
    replaces ``build_models`` (``torch_biggan.build_models``; ``fam`` then needs the ``Family``
    fields the step reads: ``name``, ``image_shape``, ``z_dim``, ``n_critic``, ``loss``,
    ``gp_weight``, ``lr_g``, ``lr_d``, ``betas``, ``ema_decay``, ``ema_rampup``, ``arch``, and
    optionally ``ema_start``).
    """

    def __init__(
        self,
        fam: Family,
        *,
        device: str = "cpu",
        compile: bool = False,
        compile_backend: str = "inductor",
        autocast_bf16: bool = False,
        channels_last: bool = False,
        sn_updates: str = "real_pass",
        seed: int = 0,
        build: Any = None,
        total_steps: int = 0,
    ):
        torch.manual_seed(seed)
        if fam.ema_decay is None or fam.ema_rampup is None:
            from gan_families import with_default_ema

            fam = with_default_ema(fam)
        self.fam = fam
        self.device = torch.device(device)
        g, d = (build or build_models)(fam)
        self.G, self.D = g.to(self.device), d.to(self.device)
        self.channels_last = channels_last and fam.arch != "mlp"
        if self.channels_last:
            self.G = self.G.to(memory_format=torch.channels_last)
            self.D = self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = _optimizer(fam, self.G.parameters(), fam.lr_g)
        self.opt_d = _optimizer(fam, self.D.parameters(), fam.lr_d)
        self.schedulers = []
        if getattr(fam, "lr_schedule", "constant") == "linear":
            # optax.linear_schedule(lr, 0, N): lr * (1 - count / N) at the update's count (0-based)
            if total_steps < 1:
                raise ValueError(f"{fam.name}: lr_schedule='linear' needs total_steps")
            # (G's, D's), each stepped right after its optimizer
            self.schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lambda c, n=n: max(0.0, 1.0 - c / n))
                               for opt, n in ((self.opt_g, total_steps), (self.opt_d, total_steps * fam.n_critic))]
        self._g_params = list(self.G.parameters())
        self._ema_params = list(self.G_ema.parameters())
        self.ema_has_stats = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.G.modules())
        self.autocast_bf16 = autocast_bf16
        self.compiled = compile
        if compile:
            import torch._dynamo as dynamo  # (``import torch._dynamo`` would make ``torch`` a local name here)

            # G's forward alone is compiled for no_grad / grad / EMA x float32 / bfloat16 (one code
            # object, shared by the variants in a process): room for all of them, no silent eager fallback
            for name in ("cache_size_limit", "recompile_limit"):
                if hasattr(dynamo.config, name):
                    setattr(dynamo.config, name, max(getattr(dynamo.config, name), 64))
        if sn_updates not in ("real_pass", "every_forward"):
            raise ValueError(f"sn_updates: 'real_pass' or 'every_forward', got {sn_updates!r}")
        sn_type = getattr(nn.utils.parametrizations, "_SpectralNorm", None)
        self.sn_modules = [m for m in self.D.modules() if sn_type is not None and isinstance(m, sn_type)]
        self.sn_updates = sn_updates
        self.g_fn = torch.compile(self.G, backend=compile_backend) if compile else self.G
        self.d_fn = torch.compile(self.D, backend=compile_backend) if compile else self.D
        self.g_ema_fn = torch.compile(self.G_ema, backend=compile_backend) if compile else self.G_ema
        # double backward through a compiled module is not supported by AOTAutograd
        self.gp_d_fn = self.D if compile else self.d_fn
        self.t = 0

    @property
    def n_params(self) -> dict[str, int]:
        return {"g": n_params(self.G), "d": n_params(self.D)}

    def _sn_iterate(self, on: bool) -> None:
        """With ``sn_updates="real_pass"``: let D's spectral-norm parametrizations run their power
        iteration (training mode) only on the real pass of a D update, as gan_jax does."""
        if self.sn_updates == "real_pass":
            for m in self.sn_modules:
                m.training = on

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast_bf16)

    def prepare(self, real: torch.Tensor) -> torch.Tensor:
        real = real.to(self.device)
        if self.channels_last and real.dim() == 4:
            return real.contiguous(memory_format=torch.channels_last)
        return real

    @property
    def aux(self) -> bool:
        return self.fam.conditioning == "acgan"

    def _logits(self, d_fn, x, y) -> torch.Tensor:
        with self._autocast():
            return _split(d_fn(x, y), self.aux)[0].float()

    def _input_grad_norm(self, x_hat: torch.Tensor, y) -> torch.Tensor:
        out = self._logits(self.gp_d_fn, x_hat.requires_grad_(True), y)
        (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
        return torch.sqrt(grad.float().flatten(1).pow(2).sum(1) + 1e-12)  # gan_jax's epsilon

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, y) -> torch.Tensor:
        eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        return ((self._input_grad_norm(eps * real + (1.0 - eps) * fake, y) - 1.0) ** 2).mean()

    def _dragan_penalty(self, real: torch.Tensor, y) -> torch.Tensor:
        # gan_jax.regularizers.dragan_penalty: x_p = x + 0.5 std(x) U[0, 1) (std of the whole batch,
        # a constant), x_hat = x + alpha (x_p - x) with alpha ~ U[0, 1) per example
        x_p = real + 0.5 * real.std(unbiased=False) * torch.rand_like(real)
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        return ((self._input_grad_norm(real + alpha * (x_p - real), y) - 1.0) ** 2).mean()

    def step(self, reals: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        fam = self.fam
        k = fam.n_critic
        aux_weight = getattr(fam, "aux_weight", 0.0) if self.aux else 0.0
        clip = getattr(fam, "weight_clip", 0.0)
        dragan = getattr(fam, "dragan_weight", 0.0)
        if k == 1 and reals.dim() == len(fam.image_shape) + 1:
            reals = reals[None]
            labels = labels[None] if labels is not None else None
        if reals.shape[0] != k:
            raise ValueError(f"{fam.name}: the step takes {k} real batches (leading axis), got {tuple(reals.shape)}")
        b = reals.shape[1]
        dev = self.device
        # --- n_critic D updates, each on its own real batch and fresh latents
        for i in range(k):
            real = reals[i]
            y = labels[i] if labels is not None else None
            with torch.no_grad(), self._autocast():
                # float32 like the real batch (autocast casts again inside D): D's real and fake
                # passes are then one compiled graph under torch.compile
                fake = self.g_fn(torch.randn(b, fam.z_dim, device=dev), y).float()
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                self._sn_iterate(True)
                real_logits, real_cls = _split(self.d_fn(real, y), self.aux)
                self._sn_iterate(False)
                fake_logits, fake_cls = _split(self.d_fn(fake, y), self.aux)
            loss_d = _d_loss(fam.loss, real_logits.float(), fake_logits.float())
            if aux_weight:  # ACGAN: D minimises the class cross-entropy on real and generated data
                loss_d = loss_d + aux_weight * (F.cross_entropy(real_cls.float(), y) + F.cross_entropy(fake_cls.float(), y))
            if fam.gp_weight:
                loss_d = loss_d + fam.gp_weight * self._gradient_penalty(real, fake, y)
            if dragan:
                loss_d = loss_d + dragan * self._dragan_penalty(real, y)
            loss_d.backward()
            self.opt_d.step()
            if self.schedulers:
                self.schedulers[1].step()
            if clip:  # WGAN: clamp every critic parameter after its update
                with torch.no_grad():
                    for p in self.D.parameters():
                        p.clamp_(-clip, clip)
        # --- one G update on fresh latents, labels of the last real batch
        y = labels[-1] if labels is not None else None
        z = torch.randn(b, fam.z_dim, device=dev)
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        with self._autocast():
            fake_logits, fake_cls = _split(self.d_fn(self.g_fn(z, y).float(), y), self.aux)
        loss_g = _g_loss(fam.loss, fake_logits.float())
        if aux_weight:
            loss_g = loss_g + aux_weight * F.cross_entropy(fake_cls.float(), y)
        loss_g.backward()
        self.D.requires_grad_(True)
        self.opt_g.step()
        if self.schedulers:
            self.schedulers[0].step()
        # --- G's EMA (parameters), then its BatchNorm statistics on the G update's inputs
        if fam.ema_decay:  # (decay 0: no EMA copy, as gan_jax's ClassicSpec(ema=None))
            with torch.no_grad():
                beta = ema_beta(self.t, fam.ema_decay, fam.ema_rampup)
                if self.t < getattr(fam, "ema_start", 0):  # BigGAN's ema_start: the EMA copies G before it (engine.EMA)
                    beta = 0.0
                torch._foreach_lerp_(self._ema_params, self._g_params, 1.0 - beta)
                if self.ema_has_stats:
                    with self._autocast():
                        self.g_ema_fn(z, y)
        self.t += 1
        return loss_d.detach(), loss_g.detach()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
