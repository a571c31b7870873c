"""Plain PyTorch BigGAN networks: the reference side of the ``biggan-32`` / ``biggan-128`` rows of
``benchmarks/step_throughput.py`` (the train step is ``torch_models.TorchGAN``'s, the classic
recipe's: n_critic D updates, one G update, G's EMA and its BatchNorm statistics pass).

Written anew after ajbrock/BigGAN-PyTorch (``BigGAN.py``, ``layers.py``) with the layer sizes of
``gan_jax.models.biggan``, so both sides train the same parameter set (counts checked by the
benchmark, ``n_params_match``, and by ``tests/test_benchmarks.py``):

* G: a shared class embedding (``nn.Embedding(num_classes, shared_dim)``); hierarchical z split
  into ``len(G_ARCH[size])`` equal chunks, the first into an SN linear (with bias) to a 4x4 map of
  ``G_ARCH[size][0] ch`` channels, block ``i`` conditioned on ``cat(shared(y), chunk[i + 1])``.
  GBlock: ccbn - ReLU - nearest 2x up - SN conv3x3 - ccbn - ReLU - SN conv3x3, plus an SN 1x1
  shortcut. ccbn (the reference's): ``BatchNorm2d(affine=False)(x) * (1 + W_g c) + W_b c`` with
  SN linears without bias. Self-attention (SAGAN, the reference's ``Attention``: SN 1x1 convs
  without bias theta / phi / g with c/8, c/8, c/2 channels, phi and g max-pooled 2x2, softmax
  over the pooled positions, SN 1x1 conv o back to c, times ``gamma`` (init 0)) after the blocks
  whose output resolution is listed. Output: BatchNorm2d (affine) - ReLU - SN conv3x3 - tanh.
* D: DBlocks (SN conv3x3 - ReLU - SN conv3x3, ReLU first except in block 0; 2x2 average-pool
  downsampling; SN 1x1 shortcut where the block downsamples or changes width: block 0 pools
  first, the others convolve first), attention as in G, ReLU, global sum pooling to ``phi``,
  ``SN-linear(phi) + <SN-embed(y), phi>``.
* Spectral norm: ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per
  training-mode forward, eps 1e-12), not the reference's own ``layers.SN`` (the same one power
  iteration per training-mode forward; its ``num_svs > 1`` Gram-Schmidt option is unused at the
  default 1). For D, ``TorchGAN(sn_updates="real_pass")`` (the default) runs the iteration on the
  real pass of a D update only, as gan_jax; G's vectors advance in every training-mode pass (the
  D updates' fakes, the G update, the EMA copy's statistics pass), as gan_jax's ``g_spectral``.
* BatchNorm eps 1e-5, momentum 0.1 (= flax 0.9); initialisation orthogonal (``"ortho"``, the
  reference's and StudioGAN's), ``"N02"`` or ``"glorot"``, zero biases.

Differences from the reference / gan_jax (none changes the parameter set):

* The G shortcut's 1x1 convolution runs before the nearest upsampling (it commutes with it; 4x
  cheaper): gan_jax does the same, the reference upsamples first.
* D sees the real and the fake batch in two passes (gan_jax's classic recipe, and
  ``TorchGAN``); the reference concatenates them into one pass of 2B (``G_D`` without ``split_D``).
* The EMA starts at ``ema_start`` (the EMA copies G before it) in both; the decay is a scalar,
  the same work either way.
* Adam eps: PyTorch's 1e-8 (the reference's 128 px script sets 1e-6; no work difference).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["G_ARCH", "D_ARCH", "BigGANGenerator", "BigGANDiscriminator", "build_models", "analytic_step_flops"]

#: as gan_jax.models.biggan: size -> G's channel multipliers (the linear's output, then one per block)
G_ARCH = {32: (4, 4, 4, 4), 64: (16, 16, 8, 4, 2), 128: (16, 16, 8, 4, 2, 1)}
#: size -> D blocks as (channel multiplier, downsample)
D_ARCH = {
    32: ((4, True), (4, True), (4, False), (4, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
}
BOTTOM = 4


def _init(module: nn.Module, init: str) -> nn.Module:
    w = module.weight
    if init == "ortho":
        nn.init.orthogonal_(w)
    elif init == "N02":
        nn.init.normal_(w, 0.0, 0.02)
    elif init == "glorot":
        nn.init.xavier_uniform_(w)
    else:
        raise ValueError(f"unknown BigGAN init {init!r}")
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


#: False only inside ``build_models(spectral_norm=False)``
_SPECTRAL_NORM = [True]


def _sn(module: nn.Module, init: str) -> nn.Module:
    module = _init(module, init)
    return nn.utils.parametrizations.spectral_norm(module, eps=1e-12) if _SPECTRAL_NORM[0] else module


def _conv(cin: int, cout: int, k: int, init: str, bias: bool = True) -> nn.Module:
    return _sn(nn.Conv2d(cin, cout, k, 1, k // 2, bias=bias), init)


def _bn(ch: int, affine: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=1e-5, momentum=0.1, affine=affine)


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class CCBN(nn.Module):
    def __init__(self, ch: int, cond_dim: int, init: str):
        super().__init__()
        self.bn = _bn(ch, affine=False)
        self.gain = _sn(nn.Linear(cond_dim, ch, bias=False), init)
        self.bias = _sn(nn.Linear(cond_dim, ch, bias=False), init)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1.0 + self.gain(cond))[:, :, None, None] + self.bias(cond)[:, :, None, None]


class Attention(nn.Module):
    def __init__(self, ch: int, init: str):
        super().__init__()
        if ch < 8:
            raise ValueError(f"self-attention needs at least 8 channels, got {ch}")
        self.ch = ch
        self.theta = _conv(ch, ch // 8, 1, init, bias=False)
        self.phi = _conv(ch, ch // 8, 1, init, bias=False)
        self.g = _conv(ch, ch // 2, 1, init, bias=False)
        self.o = _conv(ch // 2, ch, 1, init, bias=False)
        self.gamma = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        theta = self.theta(x).view(b, c // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(b, c // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(b, c // 2, h * w // 4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)  # (b, hw, hw/4)
        o = self.o(torch.bmm(g, beta.transpose(1, 2)).view(b, c // 2, h, w))
        return self.gamma * o + x


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int, init: str):
        super().__init__()
        self.bn1, self.bn2 = CCBN(cin, cond_dim, init), CCBN(cout, cond_dim, init)
        self.conv1, self.conv2 = _conv(cin, cout, 3, init), _conv(cout, cout, 3, init)
        self.conv_sc = _conv(cin, cout, 1, init)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_up(F.relu(self.bn1(x, cond))))
        h = self.conv2(F.relu(self.bn2(h, cond)))
        return h + _up(self.conv_sc(x))  # 1x1 conv before the nearest upsampling (commutes; gan_jax too)


class BigGANGenerator(nn.Module):
    def __init__(self, size: int = 128, ch: int = 64, z_dim: int = 120, shared_dim: int = 128, num_classes: int = 1000,
                 attention: tuple[int, ...] = (64,), hierarchical: bool = True, init: str = "ortho", channels: int = 3):
        super().__init__()
        mults = G_ARCH[size]
        n = len(mults)
        if hierarchical and z_dim % n:
            raise ValueError(f"hierarchical BigGAN at {size} px splits z into {n} chunks: z_dim={z_dim} is not divisible")
        self.hierarchical, self.z_dim = hierarchical, z_dim
        self.chunk = z_dim // n if hierarchical else z_dim
        cond_dim = shared_dim + (self.chunk if hierarchical else 0)
        self.shared = _init(nn.Embedding(num_classes, shared_dim), init)
        self.c0 = ch * mults[0]
        self.linear = _sn(nn.Linear(self.chunk, BOTTOM * BOTTOM * self.c0), init)
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        res = BOTTOM
        for i, (a, b) in enumerate(zip(mults[:-1], mults[1:])):
            self.blocks.append(GBlock(ch * a, ch * b, cond_dim, init))
            res *= 2
            if res in attention:
                self.attn[str(i)] = Attention(ch * b, init)
        self.bn_out = _bn(ch * mults[-1], affine=True)
        self.conv_out = _conv(ch * mults[-1], channels, 3, init)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shared = self.shared(y)
        if self.hierarchical:
            zs = torch.split(z, self.chunk, dim=1)
            z0, conds = zs[0], [torch.cat([shared, zi], dim=1) for zi in zs[1:]]
        else:
            z0, conds = z, [shared] * len(self.blocks)
        h = self.linear(z0).view(z.shape[0], self.c0, BOTTOM, BOTTOM)
        for i, block in enumerate(self.blocks):
            h = block(h, conds[i])
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        return torch.tanh(self.conv_out(F.relu(self.bn_out(h))))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, downsample: bool, preactivation: bool, init: str):
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1, self.conv2 = _conv(cin, cout, 3, init), _conv(cout, cout, 3, init)
        self.conv_sc = _conv(cin, cout, 1, init) if (downsample or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        sc = x
        if self.conv_sc is not None:
            if self.preactivation:
                sc = self.conv_sc(sc)
                sc = F.avg_pool2d(sc, 2) if self.downsample else sc
            else:  # block 0 pools first
                sc = self.conv_sc(F.avg_pool2d(sc, 2) if self.downsample else sc)
        return h + sc


class BigGANDiscriminator(nn.Module):
    def __init__(self, size: int = 128, ch: int = 64, num_classes: int = 1000, attention: tuple[int, ...] = (64,), init: str = "ortho",
                 channels: int = 3):
        super().__init__()
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        cin, res = channels, size
        for i, (m, down) in enumerate(D_ARCH[size]):
            self.blocks.append(DBlock(cin, ch * m, down, i > 0, init))
            cin = ch * m
            res = res // 2 if down else res
            if res in attention:
                self.attn[str(i)] = Attention(cin, init)
        self.linear = _sn(nn.Linear(cin, 1), init)
        self.embed = _sn(nn.Embedding(num_classes, cin), init)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("a projection discriminator needs labels y")
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        phi = F.relu(h).sum(dim=(2, 3))
        return self.linear(phi)[:, 0] + (self.embed(y) * phi).sum(dim=1)


def build_models(spec: Any, *, spectral_norm: bool = True) -> tuple[nn.Module, nn.Module]:
    """(G, D) of ``spec`` (``image_size``, ``g_width``, ``d_width``, ``z_dim``, ``shared_dim``,
    ``num_classes``, ``attention``, ``hierarchical``, ``init``), in training mode.
    ``spectral_norm=False``: without the parametrizations (the same parameters and forward
    convolutions; for counting, e.g. on the meta device, where their set-up power iterations cost seconds)."""
    size, c = spec.image_size, spec.image_shape[2]
    att = tuple(spec.attention)
    _SPECTRAL_NORM[0] = spectral_norm
    try:
        g = BigGANGenerator(size, spec.g_width, spec.z_dim, spec.shared_dim, spec.num_classes, att, spec.hierarchical, spec.init, c)
        d = BigGANDiscriminator(size, spec.d_width, spec.num_classes, att, spec.init, c)
    finally:
        _SPECTRAL_NORM[0] = True
    return g.train(), d.train()


def analytic_step_flops(spec: Any, batch: int) -> dict[str, Any]:
    """The classic rows' hand count ``n_critic (F_G + 6 F_D) + 4 F_G + 2 F_D``
    (``torch_models.analytic_step_flops``), with F_G / F_D counted by ``torch.utils.flop_counter``
    on the meta device (convolutions, linears, the attention's two batched matmuls; nothing computed;
    built without the spectral-norm parametrizations, whose matrix-vector products the counter
    does not count anyway)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        g, d = build_models(spec, spectral_norm=False)
        z = torch.zeros(batch, spec.z_dim)
        y = torch.zeros(batch, dtype=torch.long)
        x = torch.zeros(batch, spec.image_shape[2], spec.image_size, spec.image_size)
        with FlopCounterMode(display=False) as counter:
            g(z, y)
        f_g = int(counter.get_total_flops())
        with FlopCounterMode(display=False) as counter:
            d(x, y)
        f_d = int(counter.get_total_flops())
    k = spec.n_critic
    return {"flops_per_step": k * (f_g + 6 * f_d) + 4 * f_g + 2 * f_d, "fwd_flops_g": f_g, "fwd_flops_d": f_d,
            "formula": f"n_critic (F_G + 6 F_D) + 4 F_G + 2 F_D, n_critic = {k}"}
