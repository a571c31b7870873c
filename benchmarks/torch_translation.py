"""Plain PyTorch pix2pix and CycleGAN train steps: the reference side of the image-translation rows
of ``benchmarks/step_throughput.py`` (``pix2pix64``, ``pix2pix256``, ``cyclegan64``, ``cyclegan256``).

The networks are those of junyanz/pytorch-CycleGAN-and-pix2pix (``models/networks.py``), written
anew here with the widths, kernels, paddings, norms and biases of ``gan_jax.models.translation``,
so both sides train the same parameter set (counts checked by the benchmark, ``n_params_match``,
and by ``tests/test_benchmarks.py``):

* ``UnetGenerator``: nested ``UnetSkipBlock``s, outermost first. Encoder 4x4 stride-2 convs
  (padding 1) ngf, 2ngf, 4ngf, then 8ngf down to 1x1 (``num_downs = log2(size)``); LeakyReLU(0.2)
  before every encoder conv but the first, BatchNorm after every one but the first and the
  innermost. Decoder ConvTranspose2d(4, 2, 1), ReLU before each, BatchNorm after each but the
  outermost (which has a bias and ends in tanh); every level but the outermost returns
  ``cat([input, decoder output])``; dropout 0.5 after the norm of the ``num_downs - 5`` levels next
  to the innermost. No conv feeding a BatchNorm has a bias (the reference's ``use_bias``), nor
  does the outermost encoder conv (as the reference and gan_jax).
* ``NLayerDiscriminator`` (PatchGAN): Conv(4, 2, 1) ndf (bias, no norm) LReLU, then ndf * min(2^n, 8)
  for n = 1..n_layers (stride 2, the last stride 1), norm, LReLU, then Conv(4, 1, 1) -> 1 logit map.
* ``ResnetGenerator``: ReflectionPad(3) Conv7 ngf, norm, ReLU; two Conv3 stride 2 (padding 1);
  ``n_blocks`` residual blocks (ReflectionPad(1) Conv3 norm ReLU ReflectionPad(1) Conv3 norm, plus
  the input); two ConvTranspose2d(3, 2, padding 1, output_padding 1); ReflectionPad(3) Conv7, tanh.
* Norms: ``"batch"`` = ``BatchNorm2d(eps 1e-5, momentum 0.1)`` (affine), ``"instance"`` =
  ``InstanceNorm2d(affine=False, track_running_stats=False)`` (no parameters, as gan_jax's).
  Initialisation N(0, 0.02) for conv weights, biases 0, BatchNorm weights N(1, 0.02) (the
  reference's ``init_type="normal"``).

Train steps, as the reference's ``optimize_parameters``:

* ``TorchPix2Pix.step(a, b)``: ``fake = G(a)`` once (training mode: BatchNorm statistics advance
  once, one dropout mask); D update on ``cat(a, fake.detach())`` and ``cat(a, b)``, loss
  ``0.5 (BCE(fake, 0) + BCE(real, 1))`` (BCE with logits); then the G update with D frozen
  (``requires_grad_(False)``): ``BCE(D(cat(a, fake)), 1) + l1_weight |fake - b|_1``. No image
  pool (pix2pix's ``pool_size`` is 0).
* ``TorchCycleGAN.step(a, b)``: both cycles (``fake_b = G_ab(a)``, ``rec_a = G_ba(fake_b)``,
  ``fake_a = G_ba(b)``, ``rec_b = G_ab(fake_a)``), then the G update with both D frozen: LSGAN
  losses ``D_b(fake_b)`` and ``D_a(fake_a)`` against 1, cycle losses ``cycle_weight |rec - real|_1``,
  identity losses ``identity_weight cycle_weight |G_ba(a) - a|_1`` and ``... |G_ab(b) - b|_1``; one
  Adam over both generators' parameters. Then both D updates on the fakes as returned by their
  ``ImagePool`` (50 images: while filling, every fake is stored and returned; once full, with
  probability 1/2 a random stored image is returned and replaced by the new one), loss
  ``0.5 (MSE(real, 1) + MSE(fake, 0))``; one Adam over both discriminators.

Networks are named as gan_jax's recipes name them: ``G`` / ``D`` (pix2pix) and ``G_ab`` (a -> b),
``G_ba``, ``D_a`` (real a vs ``G_ba(b)``; the reference's ``D_B``), ``D_b`` (CycleGAN).

Differences from gan_jax (none changes the parameter set, the layer shapes or the updates'
order; the FLOP consequences are in ``analytic_step_flops``):

* gan_jax's pix2pix runs G's forward twice per step (once in its ``Dmain`` phase under
  ``stop_gradient``, once in ``Gmain`` with the same dropout key, so both passes give the same
  fake, and only the second keeps its BatchNorm statistics); the reference, and this file, run it
  once and reuse it. XLA may or may not merge the two passes.
* The U-Net skips: the reference's encoder LeakyReLU is in place, so what its skip connections
  concatenate is ``LeakyReLU(encoder output)``; gan_jax and this file concatenate the encoder
  output (out of place). The result is the same: the next decoder level starts with a ReLU, and
  ``relu(leaky_relu(x)) = relu(x)``.
* D's BatchNorm during pix2pix's G update: gan_jax discards those running statistics
  (``keep_stats=False``), PyTorch updates them (elementwise work).
* The order of D's two passes in pix2pix's D update (the reference: fake, then real; gan_jax:
  real, then fake) only changes the order in which D's BatchNorm running statistics are updated.
* Image pools: gan_jax draws its pool decisions with ``jax.random`` on the device
  (``gan_jax.recipes.translation.pool_query``), this file with Python's ``random`` (seeded) on the
  host, as the reference; the same work per image.
* Adam: gan_jax keeps one optimizer state per network; the reference (and this file) one Adam
  over both generators and one over both discriminators: per-parameter, so the same update.
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_models import dcgan_weights_init

__all__ = [
    "UnetGenerator", "NLayerDiscriminator", "ResnetGenerator", "ImagePool", "build_networks", "n_params", "n_params_gd",
    "TorchPix2Pix", "TorchCycleGAN", "make_trainer", "analytic_step_flops",
]

NORMS = ("batch", "instance", "none")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch, eps=1e-5, momentum=0.1)  # == gan_jax's flax momentum 0.9
    if kind == "instance":
        return nn.InstanceNorm2d(ch, eps=1e-5, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


#: N(0, 0.02) conv weights, zero biases, BatchNorm weights N(1, 0.02): the reference's ``normal`` init,
#: which is the DCGAN example's
init_weights = dcgan_weights_init


# ----------------------------------------------------------------------------- networks


class UnetSkipBlock(nn.Module):
    """One U-Net level: ``[LReLU] down-conv [norm] -> inner -> ReLU up-conv [norm] [dropout]``;
    every level but the outermost returns ``cat([x, that])`` (channels: x's, then the decoder's)."""

    def __init__(self, outer: int, inner: int, in_ch: int | None = None, sub: nn.Module | None = None, *, outermost: bool = False,
                 innermost: bool = False, norm: str = "batch", dropout: float = 0.0):
        super().__init__()
        bias = norm != "batch"
        in_ch = outer if in_ch is None else in_ch
        self.outermost = outermost
        down = nn.Conv2d(in_ch, inner, 4, 2, 1, bias=bias)
        if outermost:
            layers = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=True), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), _norm(norm, outer)]
        else:
            layers = [nn.LeakyReLU(0.2), down, _norm(norm, inner), sub, nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias),
                      _norm(norm, outer)]
            if dropout:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, in_ch: int = 3, out_ch: int = 3, num_downs: int = 8, ngf: int = 64, norm: str = "batch", dropout: float = 0.5):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"the U-Net needs num_downs >= 5, got {num_downs}")
        block = UnetSkipBlock(8 * ngf, 8 * ngf, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(8 * ngf, 8 * ngf, sub=block, norm=norm, dropout=dropout)
        block = UnetSkipBlock(4 * ngf, 8 * ngf, sub=block, norm=norm)
        block = UnetSkipBlock(2 * ngf, 4 * ngf, sub=block, norm=norm)
        block = UnetSkipBlock(ngf, 2 * ngf, sub=block, norm=norm)
        self.model = UnetSkipBlock(out_ch, ngf, in_ch, sub=block, outermost=True, norm=norm)
        self.num_downs = num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 2**self.num_downs or x.shape[-2] != 2**self.num_downs:
            raise ValueError(f"a U-Net with num_downs={self.num_downs} takes {2**self.num_downs}x{2**self.num_downs} images, got {tuple(x.shape[-2:])}")
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, in_ch: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, 2, 1, bias=True), nn.LeakyReLU(0.2, True)]
        prev = ndf
        for n in range(1, n_layers + 1):
            ch = ndf * min(2**n, 8)
            layers += [nn.Conv2d(prev, ch, 4, 2 if n < n_layers else 1, 1, bias=bias), _norm(norm, ch), nn.LeakyReLU(0.2, True)]
            prev = ch
        layers.append(nn.Conv2d(prev, 1, 4, 1, 1, bias=True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, bias: bool, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), _norm(norm, dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), _norm(norm, dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, n_blocks: int = 9, norm: str = "instance", dropout: float = 0.0):
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=bias), _norm(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=bias), _norm(norm, 2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(4 * ngf, norm, bias, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias), _norm(norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7, bias=True), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"the ResNet generator downsamples twice: image sides must be multiples of 4, got {tuple(x.shape[-2:])}")
        return self.model(x)


def build_networks(spec: Any) -> dict[str, nn.Module]:
    """The networks of ``spec`` (``step_throughput.Translation``, or anything with its fields:
    ``method``, ``image_size``, ``channels_a``, ``channels_b``, ``ngf``, ``ndf``, ``d_layers``,
    ``norm``, ``unet_depth``, ``n_blocks``, ``dropout``), initialised, in training mode; on the
    current default device (``with torch.device("meta")``: shapes only)."""
    ca, cb = spec.channels_a, spec.channels_b
    if spec.method == "pix2pix":
        nets = {"G": UnetGenerator(ca, cb, spec.unet_depth, spec.ngf, spec.norm, spec.dropout),
                "D": NLayerDiscriminator(ca + cb, spec.ndf, spec.d_layers, spec.norm)}
    elif spec.method == "cyclegan":
        nets = {"G_ab": ResnetGenerator(ca, cb, spec.ngf, spec.n_blocks, spec.norm, spec.dropout),
                "G_ba": ResnetGenerator(cb, ca, spec.ngf, spec.n_blocks, spec.norm, spec.dropout),
                "D_a": NLayerDiscriminator(ca, spec.ndf, spec.d_layers, spec.norm),
                "D_b": NLayerDiscriminator(cb, spec.ndf, spec.d_layers, spec.norm)}
    else:
        raise ValueError(f"unknown method {spec.method!r}; choose pix2pix or cyclegan")
    for net in nets.values():
        net.apply(init_weights)
        net.train()
    return nets


def n_params_gd(nets: dict[str, nn.Module]) -> dict[str, int]:
    """Parameters of all generators (``g``) and all discriminators (``d``)."""
    return {"g": sum(n_params(m) for k, m in nets.items() if k.startswith("G")),
            "d": sum(n_params(m) for k, m in nets.items() if k.startswith("D"))}


class ImagePool:
    """The reference's ``ImagePool`` (``util/image_pool.py``): a buffer of ``size`` past fakes,
    queried image by image; storage preallocated on the fakes' device, decisions on the host."""

    def __init__(self, size: int, seed: int = 0):
        self.size, self.count, self.images = size, 0, None
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        images = images.detach()
        if self.size == 0:
            return images
        if self.images is None:
            self.images = torch.empty((self.size, *images.shape[1:]), dtype=images.dtype, device=images.device)
        out = []
        for image in images:
            if self.count < self.size:  # filling: store and return it
                self.images[self.count].copy_(image)
                self.count += 1
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:  # return a stored one, store this one in its place
                i = self.rng.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i].copy_(image)
            else:
                out.append(image)
        return torch.stack(out)


def gan_loss(pred: torch.Tensor, target_real: bool, kind: str) -> torch.Tensor:
    """The reference's ``GANLoss``: BCE with logits (``vanilla``) or MSE (``lsgan``) against a map of 1s / 0s."""
    target = torch.ones_like(pred) if target_real else torch.zeros_like(pred)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(pred, target)
    if kind == "lsgan":
        return F.mse_loss(pred, target)
    raise ValueError(f"unknown GAN loss {kind!r}")


# ----------------------------------------------------------------------------- train steps


class _Trainer:
    def __init__(self, spec: Any, *, device: str = "cpu", compile: bool = False, compile_backend: str = "inductor", seed: int = 0):
        torch.manual_seed(seed)
        self.spec = spec
        self.device = torch.device(device)
        self.nets = {k: m.to(self.device) for k, m in build_networks(spec).items()}
        if compile:
            import torch._dynamo as dynamo

            # D is called with its parameters frozen and not (a recompilation each): room for those, no silent eager fallback
            for name in ("cache_size_limit", "recompile_limit"):
                if hasattr(dynamo.config, name):
                    setattr(dynamo.config, name, max(getattr(dynamo.config, name), 64))
        self.fn = {k: torch.compile(m, backend=compile_backend) if compile else m for k, m in self.nets.items()}
        gens = [p for k, m in self.nets.items() if k.startswith("G") for p in m.parameters()]
        discs = [p for k, m in self.nets.items() if k.startswith("D") for p in m.parameters()]
        self.opt_g = torch.optim.Adam(gens, lr=spec.lr, betas=tuple(spec.betas))
        self.opt_d = torch.optim.Adam(discs, lr=spec.lr, betas=tuple(spec.betas))
        self.compiled = compile
        self.t = 0

    @property
    def n_params(self) -> dict[str, int]:
        return n_params_gd(self.nets)

    def _freeze_d(self, frozen: bool) -> None:
        for k, m in self.nets.items():
            if k.startswith("D"):
                m.requires_grad_(not frozen)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class TorchPix2Pix(_Trainer):
    """``step(a, b)``: one D update and one G update on a batch of pairs (NCHW floats in [-1, 1])."""

    def step(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        spec, g, d = self.spec, self.fn["G"], self.fn["D"]
        fake = g(a)  # once: the D update sees it detached, the G update backpropagates through it
        # --- D
        self._freeze_d(False)
        self.opt_d.zero_grad(set_to_none=True)
        loss_fake = gan_loss(d(torch.cat([a, fake.detach()], 1)), False, spec.gan_loss)
        loss_real = gan_loss(d(torch.cat([a, b], 1)), True, spec.gan_loss)
        loss_d = 0.5 * (loss_fake + loss_real)
        loss_d.backward()
        self.opt_d.step()
        # --- G, D frozen
        self._freeze_d(True)
        self.opt_g.zero_grad(set_to_none=True)
        adv = gan_loss(d(torch.cat([a, fake], 1)), True, spec.gan_loss)
        rec = F.l1_loss(fake, b)
        loss_g = adv + spec.l1_weight * rec
        loss_g.backward()
        self.opt_g.step()
        self.t += 1
        return {"loss/d": loss_d.detach(), "loss/g": loss_g.detach(), "loss/g_l1": rec.detach()}


class TorchCycleGAN(_Trainer):
    """``step(a, b)``: one update of both generators, then of both discriminators (pooled fakes)."""

    def __init__(self, spec: Any, **kw):
        super().__init__(spec, **kw)
        if spec.identity_weight and spec.channels_a != spec.channels_b:
            raise ValueError("the identity loss needs the same channel count in both domains")
        self.pool_a, self.pool_b = ImagePool(spec.pool_size, seed=1), ImagePool(spec.pool_size, seed=2)

    def step(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        spec, fn = self.spec, self.fn
        g_ab, g_ba, d_a, d_b = fn["G_ab"], fn["G_ba"], fn["D_a"], fn["D_b"]
        fake_b = g_ab(a)
        rec_a = g_ba(fake_b)
        fake_a = g_ba(b)
        rec_b = g_ab(fake_a)
        # --- both G, both D frozen
        self._freeze_d(True)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g = gan_loss(d_b(fake_b), True, spec.gan_loss) + gan_loss(d_a(fake_a), True, spec.gan_loss)
        loss_g = loss_g + spec.cycle_weight * (F.l1_loss(rec_a, a) + F.l1_loss(rec_b, b))
        if spec.identity_weight:
            w = spec.identity_weight * spec.cycle_weight
            loss_g = loss_g + w * (F.l1_loss(g_ba(a), a) + F.l1_loss(g_ab(b), b))
        loss_g.backward()
        self.opt_g.step()
        # --- both D, on pooled fakes
        self._freeze_d(False)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = 0.0
        for d, real, fake in ((d_b, b, self.pool_b.query(fake_b)), (d_a, a, self.pool_a.query(fake_a))):
            loss = 0.5 * (gan_loss(d(real), True, spec.gan_loss) + gan_loss(d(fake), False, spec.gan_loss))
            loss.backward()  # the two D's parameters are disjoint: one backward each, as the reference
            loss_d = loss_d + loss.detach()
        self.opt_d.step()
        self.t += 1
        return {"loss/d": loss_d, "loss/g": loss_g.detach()}


def make_trainer(spec: Any, **kw) -> _Trainer:
    """``TorchPix2Pix`` or ``TorchCycleGAN`` for ``spec.method`` (``device``, ``compile``, ``compile_backend``, ``seed``)."""
    return {"pix2pix": TorchPix2Pix, "cyclegan": TorchCycleGAN}[spec.method](spec, **kw)


# ----------------------------------------------------------------------------- FLOPs


def analytic_step_flops(spec: Any, batch: int) -> dict[str, Any]:
    """A hand count of one step's convolution FLOPs (2 per multiply-add; forward passes counted
    by ``torch_models.forward_macs`` on the meta device; backward = 2 x forward, input gradients
    only = 1 x forward), of the reference's step (this file's):

    * pix2pix: G forward once (F_G); D update: D on real and fake pairs + their backward (6 F_D);
      G update: D forward + D's input gradient (2 F_D) + G's backward (2 F_G):
      ``3 F_G + 8 F_D`` (gan_jax's step too: its G phase trains through the forward pass its D
      phase kept);
    * CycleGAN: 4 cycle passes + 2 identity passes of the generators, forward and backward
      (3 x (2 + 2) passes, one per G and domain: ``9 (F_Gab + F_Gba)`` with identity,
      ``6 (...)`` without); the D passes in the G update, forward + input gradient
      (``2 (F_Da + F_Db)``); the D updates (``6 (F_Da + F_Db)``).

    Elementwise work (norms, activations, padding, Adam, losses) is not counted.
    """
    try:
        from torch_models import forward_macs
    except ImportError:  # pragma: no cover
        from benchmarks.torch_models import forward_macs

    s, ca, cb = spec.image_size, spec.channels_a, spec.channels_b
    with torch.device("meta"):
        nets = build_networks(spec)
        a, b = torch.zeros(batch, ca, s, s), torch.zeros(batch, cb, s, s)
        if spec.method == "pix2pix":
            f_g = 2 * forward_macs(nets["G"], a)
            f_d = 2 * forward_macs(nets["D"], torch.zeros(batch, ca + cb, s, s))
            return {"flops_per_step": 3 * f_g + 8 * f_d, "fwd_flops_g": f_g, "fwd_flops_d": f_d,
                    "formula": "3 F_G + 8 F_D (G forward once, in both frameworks)"}
        f_gab, f_gba = 2 * forward_macs(nets["G_ab"], a), 2 * forward_macs(nets["G_ba"], b)
        f_da, f_db = 2 * forward_macs(nets["D_a"], a), 2 * forward_macs(nets["D_b"], b)
    g_mult = 9 if spec.identity_weight else 6
    total = g_mult * (f_gab + f_gba) + 8 * (f_da + f_db)
    return {"flops_per_step": total, "fwd_flops_g": f_gab + f_gba, "fwd_flops_d": f_da + f_db,
            "formula": f"{g_mult} (F_Gab + F_Gba) + 8 (F_Da + F_Db)"}


def _check() -> None:  # pragma: no cover -- a by-hand look: python benchmarks/torch_translation.py
    import types

    for method, size in (("pix2pix", 256), ("cyclegan", 256)):
        spec = types.SimpleNamespace(method=method, image_size=size, channels_a=3, channels_b=3, ngf=64, ndf=64, d_layers=3,
                                     norm="batch" if method == "pix2pix" else "instance", unet_depth=int(math.log2(size)),
                                     n_blocks=9, dropout=0.5 if method == "pix2pix" else 0.0, identity_weight=0.5)
        with torch.device("meta"):
            print(method, size, n_params_gd(build_networks(spec)), analytic_step_flops(spec, 1)["flops_per_step"])


if __name__ == "__main__":  # pragma: no cover
    _check()
