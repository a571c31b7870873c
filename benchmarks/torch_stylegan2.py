"""Plain PyTorch StyleGAN2 networks and train step: the reference side of the ``stylegan2-32`` /
``stylegan2-64`` rows of ``benchmarks/step_throughput.py``.

Written anew after NVlabs/stylegan2-ada-pytorch (``training/networks.py``, ``training/loss.py``,
``training/training_loop.py``, ``torch_utils/ops/conv2d_resample.py``), with the layer sizes of
``gan_jax.models.stylegan2`` so both sides train the same parameter set (counts checked by the
benchmark, ``n_params_match``, and by ``tests/test_benchmarks.py``). Unconditional networks only
(the benchmark rows are unconditional).

Networks (NCHW):

* Equalised learning rate everywhere: weights drawn N(0, 1) (``/ lr_mul`` for the mapping
  network) and scaled at run time by ``lr_mul / sqrt(fan_in)``; leaky ReLU 0.2 with gain sqrt(2).
* ``MappingNetwork``: z normalised by its second moment, ``mapping_layers`` FC layers (lr x 0.01)
  -> w; ``w_avg`` tracked in the trainer (``run_g``), as gan_jax's recipe does.
* ``SynthesisNetwork``: learned 4x4 constant, per resolution ``conv0`` (2x up; not at 4x4),
  ``conv1``, ``torgb``; the skip architecture (``img = upsample2d(img) + torgb(x)``). Each
  ``SynthesisLayer`` has an affine map w -> styles (bias init 1), a modulated 3x3 convolution
  with demodulation, a per-pixel noise input (one N(0, 1) image per example and layer, times a
  learned strength, init 0), a bias and the leaky ReLU. ``ToRGBLayer``: affine, modulated 1x1
  convolution without demodulation (styles / sqrt(fan_in)), bias.
* ``modulated_conv2d``: ``modconv="grouped"`` (the default here, as the issue asks) is the
  reference's *fused* path: per-example weights ``w_b = s_b w d_b`` (B x O x I x k x k), the
  batch folded into the channels (``x.reshape(1, B I, H, W)``) and one grouped convolution
  (``groups=B``); with ``up`` a grouped *transposed* convolution with stride 2 followed by the
  [1, 3, 3, 1] FIR filter (gain 4), as ``conv2d_resample``. ``modconv="scaled"`` is the
  reference's ``fused_modconv=False`` path: ``conv(x * s, w) * d`` with the shared weight (d
  from ``s^2 . sum_k w^2``, a matmul). NB: in *training* the reference itself runs the scaled
  path (``SynthesisBlock.forward``: ``fused_modconv = not self.training and ...``); the fused
  one is its inference path. gan_jax always runs the scaled form.
* FIR resampling with [1, 3, 3, 1] (outer product, normalised): ``upsample2d`` = a depthwise
  transposed convolution (stride 2, padding 1, gain 4: the reference's ``upfirdn2d`` with
  ``up=2``, padding [2, 1]); ``downsample2d`` = pad 1, depthwise 4x4 filter, stride 2; a
  downsampling 3x3 convolution pads 2 and filters, then convolves with stride 2 (as the
  reference's ``conv2d_resample``, and gan_jax).
* ``Discriminator``: ``fromrgb`` (1x1) at the top resolution, per resolution R..8 ``conv0``
  (3x3) and ``conv1`` (3x3, 2x down) plus, for ``resnet``, a 1x1 downsampling ``skip`` without
  bias (both branches x sqrt(0.5)); ``orig`` has no skip. Epilogue at 4x4: minibatch standard
  deviation (group ``min(mbstd_group, N)``, ``mbstd_channels`` features; example ``n`` in group
  ``n % (N / G)``, the reference's reshape), 3x3 conv, FC (16 C -> C, lrelu), FC -> 1 logit.

Train step (``TorchStyleGAN2.step(real, step_index)``), the reference's ``training_loop`` with
lazy regularisation: phases in the order Gmain, Greg, Dmain, Dreg; a lazy phase runs when
``step_index % every == 0`` and its loss is multiplied by ``every``; each phase zeroes its
optimizer's gradients, enables ``requires_grad`` on its network only, backpropagates and steps
the optimizer. Then G's EMA (``torch._foreach_lerp_``; beta ``0.5 ** (batch / ema_nimg)`` with
the ramp-up ``ema_nimg <= cur_nimg * ema_rampup``).

* ``run_g(z)``: w = mapping(z), ``w_avg`` lerped towards the batch mean (beta ``w_avg_beta``);
  style mixing with probability ``style_mixing`` (cutoff drawn in [1, num_ws), a second
  mapping of fresh latents from the cutoff on), then synthesis.
* Gmain: ``softplus(-D(G(z)))``. Greg: path length on ``B / pl_batch_shrink`` examples:
  ``g = autograd.grad((img * randn / sqrt(HW)).sum(), ws, create_graph=True)``, lengths
  ``sqrt(mean_layers(sum_w g^2))``, ``pl_mean`` lerped by ``pl_decay`` before the penalty
  ``pl_weight (lengths - pl_mean)^2``. Dmain: ``softplus(D(G(z)))`` (G without gradients), one
  backward, then ``softplus(-D(x))``, a second backward (the reference's two). Dreg: R1,
  ``gamma / 2 |grad_x D(x)|^2`` through ``autograd.grad(create_graph=True)``.
* Adam ``(lr, (0, 0.99), eps 1e-8)`` per network with the reference's lazy rescaling
  ``mb_ratio = every / (every + 1)``: lr x ratio, betas ** ratio (for G even when the path-length
  weight is 0, as the reference and gan_jax).

Differences from gan_jax (none changes the parameter set):

* Upsampling 3x3 convolutions: the same operator on both sides (a stride-2 transposed
  convolution on the small map, then the FIR; gan_jax computes it phase by phase, ``upconv_3x3``),
  with the same kernel orientation: with the same weights a stand-alone up-sampling modulated
  convolution of this file equals gan_jax's ``modulated_conv(up=True)`` at every pixel (max
  difference ~1e-6), and ``Discriminator`` equals ``StyleGAN2Discriminator`` (orig and resnet,
  32 px, width 4: 4e-7); checked by hand, not in the tests (gan_jax's own test checks the
  operator against the reference's formula).
* The grouped path materialises per-example weights (B O I k k elementwise work); gan_jax and
  ``modconv="scaled"`` do not.
* Style mixing: the cutoff stays a tensor (``torch.where`` over the layer index, as gan_jax);
  the reference slices ``ws[:, cutoff:]`` with it (a host sync on a GPU).
* Noise inputs are drawn with ``torch.randn`` per layer (gan_jax: per-example keys); the
  mapping network's ``w_avg`` is a buffer of the trainer, not of the network.
* No fp16 / conv clamping in either (gan_jax has none).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "MODCONV_IMPLS", "modulated_conv2d", "upsample2d", "downsample2d", "MappingNetwork", "SynthesisNetwork", "Generator",
    "Discriminator", "build_networks", "n_params", "TorchStyleGAN2", "analytic_step_flops",
]

MODCONV_IMPLS = ("grouped", "scaled")
LRELU_GAIN = math.sqrt(2.0)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def channels_at(res: int, channel_base: int, channel_max: int) -> int:
    return max(1, min(channel_base // res, channel_max))


def num_ws(resolution: int) -> int:
    return 2 * int(math.log2(resolution)) - 2


def _fir_filter() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    return f / f.sum()


def _lrelu(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * (LRELU_GAIN * gain)


def _depthwise(f: torch.Tensor, channels: int, gain: float = 1.0) -> torch.Tensor:
    return (f * gain).to(dtype=f.dtype)[None, None].expand(channels, 1, *f.shape)


def filter2d(x: torch.Tensor, f: torch.Tensor, pad: int, gain: float = 1.0) -> torch.Tensor:
    """Zero-pad by ``pad`` and apply the (symmetric) 4x4 FIR filter per channel: size n + 2 pad - 3."""
    c = x.shape[1]
    return F.conv2d(F.pad(x, [pad] * 4), _depthwise(f.to(x.dtype), c, gain), groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """The reference's ``upsample2d`` (up 2, padding [2, 1], gain 4) as a depthwise transposed convolution."""
    c = x.shape[1]
    return F.conv_transpose2d(x, _depthwise(f.to(x.dtype), c, 4.0), stride=2, padding=1, groups=c)


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """The reference's ``downsample2d`` (pad 1, FIR, keep every second sample)."""
    c = x.shape[1]
    return F.conv2d(F.pad(x, [1] * 4), _depthwise(f.to(x.dtype), c), stride=2, groups=c)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, f: torch.Tensor, *, demodulate: bool = True,
                     up: bool = False, impl: str = "grouped") -> torch.Tensor:
    """StyleGAN2's modulated convolution of ``x`` (B, I, H, W) with ``weight`` (O, I, k, k) and ``styles`` (B, I).

    ``impl="grouped"``: per-example weights, one grouped convolution (the reference's fused path);
    ``"scaled"``: scale the input, convolve with the shared weight, scale the output. ``up``: 2x
    (stride-2 transposed convolution, then the FIR filter with gain 4)."""
    b, i = styles.shape
    o, _, k, _ = weight.shape
    if impl == "grouped":
        w = weight[None] * styles[:, None, :, None, None]  # (B, O, I, k, k)
        if demodulate:
            w = w * (w.square().sum(dim=(2, 3, 4)) + 1e-8).rsqrt()[:, :, None, None, None]
        x = x.reshape(1, b * i, *x.shape[2:])
        if up:
            w = w.transpose(1, 2).reshape(b * i, o, k, k)
            x = filter2d(F.conv_transpose2d(x, w, stride=2, groups=b), f, 1, gain=4.0)
        else:
            x = F.conv2d(x, w.reshape(b * o, i, k, k), padding=k // 2, groups=b)
        return x.reshape(b, o, *x.shape[2:])
    if impl != "scaled":
        raise ValueError(f"unknown modulated-convolution impl {impl!r}; choose one of {MODCONV_IMPLS}")
    x = x * styles[:, :, None, None]
    if up:
        x = filter2d(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2), f, 1, gain=4.0)
    else:
        x = F.conv2d(x, weight, padding=k // 2)
    if demodulate:
        d = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()  # (B, O)
        x = x * d[:, :, None, None]
    return x


# ----------------------------------------------------------------------------- equalised layers


class FullyConnected(nn.Module):
    def __init__(self, in_features: int, out_features: int, *, lr_mul: float = 1.0, bias_init: float = 0.0, activation: str = "linear"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain, self.bias_gain = lr_mul / math.sqrt(in_features), lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.addmm(self.bias * self.bias_gain, x, (self.weight * self.weight_gain).t())
        return _lrelu(y) if self.activation == "lrelu" else y


class Conv2dLayer(nn.Module):
    """Equalised convolution; ``down``: FIR then stride 2 (1x1: FIR-downsample, then convolve)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, bias: bool = True, activation: str = "lrelu", down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.activation, self.down, self.kernel = activation, down, kernel
        self.register_buffer("f", _fir_filter(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.down and self.kernel > 1:
            x = F.conv2d(filter2d(x, self.f, (self.kernel + 1) // 2), w, stride=2)
        elif self.down:
            x = F.conv2d(downsample2d(x, self.f), w)
        else:
            x = F.conv2d(x, w, padding=self.kernel // 2)
        if self.bias is not None:
            x = x + self.bias[None, :, None, None]
        return _lrelu(x, gain) if self.activation == "lrelu" else x * gain


# ----------------------------------------------------------------------------- generator


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int = 512, w_dim: int = 512, num_layers: int = 8, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.fcs = nn.ModuleList(FullyConnected(a, b, lr_mul=lr_mul, activation="lrelu") for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        for fc in self.fcs:
            x = fc(x)
        return x


class SynthesisLayer(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, *, up: bool = False, impl: str = "grouped"):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.resolution, self.up, self.impl = resolution, up, impl
        self.register_buffer("f", _fir_filter(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, self.f, up=self.up, impl=self.impl)
        noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
        x = x + noise * self.noise_strength
        return _lrelu(x + self.bias[None, :, None, None])


class ToRGBLayer(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, w_dim: int, impl: str = "grouped"):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.weight_gain, self.impl = 1.0 / math.sqrt(in_ch), impl
        self.register_buffer("f", _fir_filter(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, self.f, demodulate=False, impl=self.impl)
        return x + self.bias[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) -> images (B, C, R, R)."""

    def __init__(self, resolution: int, channels: int = 3, w_dim: int = 512, channel_base: int = 16384, channel_max: int = 512,
                 impl: str = "grouped"):
        super().__init__()
        log2 = int(math.log2(resolution))
        if 2**log2 != resolution or resolution < 4:
            raise ValueError(f"StyleGAN2 needs a power-of-two resolution >= 4, got {resolution}")
        ch = lambda r: channels_at(r, channel_base, channel_max)  # noqa: E731
        self.resolution, self.num_ws = resolution, num_ws(resolution)
        self.const = nn.Parameter(torch.randn(ch(4), 4, 4))
        self.b4_conv1 = SynthesisLayer(ch(4), ch(4), w_dim, 4, impl=impl)
        self.b4_torgb = ToRGBLayer(ch(4), channels, w_dim, impl)
        self.blocks = nn.ModuleList()
        for i in range(3, log2 + 1):
            r = 2**i
            self.blocks.append(nn.ModuleDict({
                "conv0": SynthesisLayer(ch(r // 2), ch(r), w_dim, r, up=True, impl=impl),
                "conv1": SynthesisLayer(ch(r), ch(r), w_dim, r, impl=impl),
                "torgb": ToRGBLayer(ch(r), channels, w_dim, impl),
            }))
        self.register_buffer("f", _fir_filter(), persistent=False)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        x = self.b4_conv1(x, ws[:, 0])
        img = self.b4_torgb(x, ws[:, 1])
        idx = 1
        for block in self.blocks:
            x = block["conv0"](x, ws[:, idx])
            x = block["conv1"](x, ws[:, idx + 1])
            img = upsample2d(img, self.f) + block["torgb"](x, ws[:, idx + 2])
            idx += 2
        return img


class Generator(nn.Module):
    """``mapping`` + ``synthesis``; ``forward(z)`` broadcasts w to every layer (no mixing, no truncation)."""

    def __init__(self, resolution: int, channels: int = 3, z_dim: int = 512, w_dim: int = 512, mapping_layers: int = 8,
                 channel_base: int = 16384, channel_max: int = 512, impl: str = "grouped"):
        super().__init__()
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(resolution, channels, w_dim, channel_base, channel_max, impl)
        self.num_ws = self.synthesis.num_ws

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = self.mapping(z)
        return self.synthesis(w[:, None].expand(-1, self.num_ws, -1))


# ----------------------------------------------------------------------------- discriminator


def minibatch_std(x: torch.Tensor, group_size: int, num_channels: int = 1) -> torch.Tensor:
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g:
        raise ValueError(f"minibatch std: batch {n} is not divisible by the group size {g}")
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + 1e-8).sqrt()
    y = y.mean(dim=(2, 3, 4)).reshape(-1, f, 1, 1)
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, resolution: int, channels: int = 3, channel_base: int = 16384, channel_max: int = 512, architecture: str = "resnet",
                 mbstd_group: int = 4, mbstd_channels: int = 1):
        super().__init__()
        if architecture not in ("resnet", "orig"):
            raise ValueError(f"unknown discriminator architecture {architecture!r}; choose 'resnet' or 'orig'")
        ch = lambda r: channels_at(r, channel_base, channel_max)  # noqa: E731
        log2 = int(math.log2(resolution))
        self.resolution, self.architecture = resolution, architecture
        self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
        self.fromrgb = Conv2dLayer(channels, ch(resolution), 1)
        self.blocks = nn.ModuleList()
        for i in range(log2, 2, -1):
            r = 2**i
            block = nn.ModuleDict({"conv0": Conv2dLayer(ch(r), ch(r), 3), "conv1": Conv2dLayer(ch(r), ch(r // 2), 3, down=True)})
            if architecture == "resnet":
                block["skip"] = Conv2dLayer(ch(r), ch(r // 2), 1, bias=False, activation="linear", down=True)
            self.blocks.append(block)
        self.b4_conv = Conv2dLayer(ch(4) + mbstd_channels, ch(4), 3)
        self.b4_fc = FullyConnected(ch(4) * 16, ch(4), activation="lrelu")
        self.b4_out = FullyConnected(ch(4), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fromrgb(x)
        for block in self.blocks:
            if self.architecture == "resnet":
                skip = block["skip"](h, gain=math.sqrt(0.5))
                h = skip + block["conv1"](block["conv0"](h), gain=math.sqrt(0.5))
            else:
                h = block["conv1"](block["conv0"](h))
        if self.mbstd_channels:
            h = minibatch_std(h, self.mbstd_group, self.mbstd_channels)
        h = self.b4_conv(h)
        h = self.b4_fc(h.flatten(1))
        return self.b4_out(h)[:, 0]


# ----------------------------------------------------------------------------- building


def _get(spec: Any, name: str, default=None):
    return spec.get(name, default) if isinstance(spec, dict) else getattr(spec, name, default)


def build_networks(spec: Any, impl: str = "grouped") -> dict[str, nn.Module]:
    """``{"G": Generator, "D": Discriminator}`` of ``spec`` (``resolution``, ``channels``, ``z_dim``,
    ``w_dim``, ``mapping_layers``, ``channel_base``, ``channel_max``, ``d_architecture``,
    ``mbstd_group``, ``mbstd_channels``), in training mode, on the current default device."""
    if _get(spec, "num_classes", 0):
        raise ValueError("torch_stylegan2: unconditional networks only")
    res, c = _get(spec, "resolution"), _get(spec, "channels", 3)
    g = Generator(res, c, _get(spec, "z_dim"), _get(spec, "w_dim"), _get(spec, "mapping_layers"), _get(spec, "channel_base"),
                  _get(spec, "channel_max"), impl)
    d = Discriminator(res, c, _get(spec, "channel_base"), _get(spec, "channel_max"), _get(spec, "d_architecture"), _get(spec, "mbstd_group"),
                      _get(spec, "mbstd_channels", 1))
    return {"G": g.train(), "D": d.train()}


# ----------------------------------------------------------------------------- the train step


def _lazy_adam(params, lr: float, betas: tuple[float, float], every: int) -> torch.optim.Adam:
    ratio = every / (every + 1)
    return torch.optim.Adam(params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=1e-8)


class TorchStyleGAN2:
    """G, D, G's EMA copy, two Adams; ``step(real, step_index)`` = the phases due at that step.

    ``spec``: the ``build_networks`` fields plus ``lr``, ``betas``, ``r1_gamma``, ``d_reg_every``,
    ``pl_weight``, ``g_reg_every``, ``pl_batch_shrink``, ``pl_decay``, ``style_mixing``,
    ``w_avg_beta``, ``ema_kimg``, ``ema_rampup``. ``compile``: G's mapping and synthesis and D in
    ``torch.compile`` for Gmain / Dmain; the regularisation phases (double backward, which
    AOTAutograd lacks) run the eager modules."""

    def __init__(self, spec: Any, *, device: str = "cpu", modconv: str = "grouped", compile: bool = False, compile_backend: str = "inductor",
                 seed: int = 0):
        torch.manual_seed(seed)
        self.spec, self.device = spec, torch.device(device)
        nets = build_networks(spec, modconv)
        self.G, self.D = nets["G"].to(self.device), nets["D"].to(self.device)
        self.nets = {"G": self.G, "D": self.D}
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.G.requires_grad_(False)
        self.D.requires_grad_(False)
        betas = tuple(_get(spec, "betas", (0.0, 0.99)))
        self.g_reg_every, self.d_reg_every = int(_get(spec, "g_reg_every", 4)), int(_get(spec, "d_reg_every", 16))
        self.opt_g = _lazy_adam(self.G.parameters(), _get(spec, "lr"), betas, self.g_reg_every)
        self.opt_d = _lazy_adam(self.D.parameters(), _get(spec, "lr"), betas, self.d_reg_every)
        self.pl_weight, self.r1_gamma = float(_get(spec, "pl_weight", 2.0)), float(_get(spec, "r1_gamma", 10.0))
        self.pl_shrink, self.pl_decay = int(_get(spec, "pl_batch_shrink", 2)), float(_get(spec, "pl_decay", 0.01))
        self.style_mixing, self.w_avg_beta = float(_get(spec, "style_mixing", 0.9)), float(_get(spec, "w_avg_beta", 0.995))
        self.ema_kimg, self.ema_rampup = float(_get(spec, "ema_kimg", 10.0)), float(_get(spec, "ema_rampup", 0.0) or 0.0)
        self.num_ws, self.z_dim = self.G.num_ws, self.G.z_dim
        self.w_avg = torch.zeros(self.G.w_dim, device=self.device)
        self.pl_mean = torch.zeros([], device=self.device)
        self.layer_idx = torch.arange(self.num_ws, device=self.device)[None, :, None]
        self.modconv, self.compiled = modconv, compile
        if compile:
            import torch._dynamo as dynamo

            # the phases call G and D with and without requires_grad on their parameters: room for those recompilations
            for name in ("cache_size_limit", "recompile_limit"):
                if hasattr(dynamo.config, name):
                    setattr(dynamo.config, name, max(getattr(dynamo.config, name), 64))
            self.mapping_fn = torch.compile(self.G.mapping, backend=compile_backend)
            self.synthesis_fn = torch.compile(self.G.synthesis, backend=compile_backend)
            self.d_fn = torch.compile(self.D, backend=compile_backend)
        else:
            self.mapping_fn, self.synthesis_fn, self.d_fn = self.G.mapping, self.G.synthesis, self.D
        self._g_params, self._ema_params = list(self.G.parameters()), list(self.G_ema.parameters())
        self.t, self.nimg = 0, 0

    @property
    def n_params(self) -> dict[str, int]:
        return {"g": n_params(self.G), "d": n_params(self.D)}

    def phases_at(self, step_index: int) -> tuple[str, ...]:
        out = ["Gmain"]
        if self.pl_weight and step_index % self.g_reg_every == 0:
            out.append("Greg")
        out.append("Dmain")
        if self.r1_gamma and step_index % self.d_reg_every == 0:
            out.append("Dreg")
        return tuple(out)

    def run_g(self, z: torch.Tensor, *, eager: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        mapping, synthesis = (self.G.mapping, self.G.synthesis) if eager else (self.mapping_fn, self.synthesis_fn)
        w = mapping(z)
        with torch.no_grad():
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.style_mixing > 0:
            cutoff = torch.randint(1, self.num_ws, (), device=self.device)
            cutoff = torch.where(torch.rand((), device=self.device) < self.style_mixing, cutoff, torch.full_like(cutoff, self.num_ws))
            w2 = mapping(torch.randn_like(z))
            ws = torch.where(self.layer_idx < cutoff, w[:, None], w2[:, None])
        else:
            ws = w[:, None].expand(-1, self.num_ws, -1)
        return synthesis(ws), ws

    def step(self, real: torch.Tensor, step_index: int | None = None) -> dict[str, torch.Tensor]:
        i = self.t if step_index is None else step_index
        b = real.shape[0]
        phases = self.phases_at(i)
        out: dict[str, torch.Tensor] = {}
        # --- Gmain
        self.opt_g.zero_grad(set_to_none=True)
        self.G.requires_grad_(True)
        img, _ = self.run_g(torch.randn(b, self.z_dim, device=self.device))
        loss = F.softplus(-self.d_fn(img)).mean()
        loss.backward()
        self.G.requires_grad_(False)
        self.opt_g.step()
        out["loss/g"] = loss.detach()
        # --- Greg: path length on a shrunk batch (eager modules: double backward)
        if "Greg" in phases:
            n = b // self.pl_shrink
            self.opt_g.zero_grad(set_to_none=True)
            self.G.requires_grad_(True)
            img, ws = self.run_g(torch.randn(n, self.z_dim, device=self.device), eager=True)
            pl_noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
            (grads,) = torch.autograd.grad((img * pl_noise).sum(), ws, create_graph=True)
            lengths = grads.square().sum(2).mean(1).sqrt()
            pl_mean = self.pl_mean.lerp(lengths.mean(), self.pl_decay)
            self.pl_mean.copy_(pl_mean.detach())
            penalty = (lengths - pl_mean).square() * self.pl_weight
            loss = (img[:, 0, 0, 0] * 0 + penalty).mean() * self.g_reg_every
            loss.backward()
            self.G.requires_grad_(False)
            self.opt_g.step()
            out["loss/g_pl"] = loss.detach()
        # --- Dmain: fakes (G without gradients), then reals; one backward each, as the reference
        self.opt_d.zero_grad(set_to_none=True)
        self.D.requires_grad_(True)
        with torch.no_grad():
            img, _ = self.run_g(torch.randn(b, self.z_dim, device=self.device))
        loss_fake = F.softplus(self.d_fn(img)).mean()
        loss_fake.backward()
        loss_real = F.softplus(-self.d_fn(real)).mean()
        loss_real.backward()
        self.D.requires_grad_(False)
        self.opt_d.step()
        out["loss/d"] = (loss_fake + loss_real).detach()
        # --- Dreg: R1 (eager D: double backward)
        if "Dreg" in phases:
            self.opt_d.zero_grad(set_to_none=True)
            self.D.requires_grad_(True)
            x = real.detach().requires_grad_(True)
            logits = self.D(x)
            (grads,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
            penalty = grads.square().sum(dim=(1, 2, 3)) * (self.r1_gamma / 2)
            loss = (logits * 0 + penalty).mean() * self.d_reg_every
            loss.backward()
            self.D.requires_grad_(False)
            self.opt_d.step()
            out["loss/d_r1"] = loss.detach()
        # --- G's EMA
        self.nimg += b
        ema_nimg = self.ema_kimg * 1000
        if self.ema_rampup:
            ema_nimg = min(ema_nimg, self.nimg * self.ema_rampup)
        beta = 0.5 ** (b / max(ema_nimg, 1e-8))
        with torch.no_grad():
            torch._foreach_lerp_(self._ema_params, self._g_params, 1.0 - beta)
        self.t += 1
        return out

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


# ----------------------------------------------------------------------------- FLOPs


def _fwd_flops(fn, *args) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:  # (not under no_grad: its module tracker needs autograd on)
        fn(*args)
    return int(counter.get_total_flops())


def analytic_step_flops(spec: Any, batch: int, impl: str = "grouped") -> dict[str, Any]:
    """A hand count of the reference step's convolution / matmul FLOPs (this file's networks; forward
    passes counted by ``torch.utils.flop_counter`` on the meta device: nothing computed; backward =
    2 x forward, input gradients only = 1 x forward, a double-backward penalty 4 x forward as for
    WGAN-GP in ``torch_models.analytic_step_flops``):

    * main step (Gmain + Dmain): ``4 F_G + 8 F_D`` with ``F_G = m F_map + F_syn`` (m = 2 with style
      mixing: a second mapping), as ``n_critic (F_G + 6 F_D) + 3 F_G + 2 F_D`` of the classic rows
      with n_critic 1 and no EMA statistics pass;
    * lazy step (+ Greg + Dreg): ``+ 4 F_G(B / pl_batch_shrink) + 4 F_D`` (each penalty present).

    Elementwise work (modulation / demodulation, FIR filters are counted: they are depthwise
    convolutions; noise, activations, Adam) is otherwise not counted."""
    res, c = _get(spec, "resolution"), _get(spec, "channels", 3)
    mixing = float(_get(spec, "style_mixing", 0.0)) > 0
    shrink = int(_get(spec, "pl_batch_shrink", 2))
    with torch.device("meta"):
        nets = build_networks(spec, impl)
        g, d = nets["G"], nets["D"]

        def f_g(n: int) -> int:
            z = torch.zeros(n, g.z_dim)
            f_map = _fwd_flops(g.mapping, z)
            f_syn = _fwd_flops(g.synthesis, torch.zeros(n, g.num_ws, g.w_dim))
            return (2 if mixing else 1) * f_map + f_syn

        fg, fd = f_g(batch), _fwd_flops(d, torch.zeros(batch, c, res, res))
        main = 4 * fg + 8 * fd
        lazy = main
        terms = []
        if float(_get(spec, "pl_weight", 0.0)):
            lazy += 4 * f_g(batch // shrink)
            terms.append(f"4 F_G(B/{shrink})")
        if float(_get(spec, "r1_gamma", 0.0)):
            lazy += 4 * fd
            terms.append("4 F_D")
    return {"flops_per_step": main, "flops_per_step_lazy": lazy, "fwd_flops_g": fg, "fwd_flops_d": fd,
            "formula": "4 F_G + 8 F_D (Gmain + Dmain)", "formula_lazy": " + ".join(["4 F_G + 8 F_D"] + terms)}
