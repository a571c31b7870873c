"""BigGAN generator and discriminator (Brock, Donahue & Simonyan, ICLR 2019), 32/64/128 px.

Layouts, blocks and layers follow the authors' BigGAN-PyTorch (``BigGAN.py``, ``layers.py``):

* G: a shared class embedding (``shared``, ``shared_dim``); with ``hierarchical`` z is split
  into ``len(blocks) + 1`` equal chunks, the first goes through an SN linear to a 4x4 map and
  block ``i`` is conditioned on ``concat(shared(y), chunk[i + 1])`` (without, the whole z goes to
  the linear and every block sees ``shared(y)``). GBlocks: cBN-ReLU-up(nearest)-conv3x3-cBN-ReLU-
  conv3x3 plus an upsampled 1x1 shortcut; self-attention after the blocks whose output resolution
  is in ``attention_resolutions``; output BN-ReLU-conv3x3-tanh. Conditional BatchNorm is the
  reference's ``ccbn``: ``BN(x) * (1 + W_g c) + W_b c`` with SN linears without bias.
* D: DBlocks (preactivation ReLU except the first; avgpool downsampling; 32 px: only the first
  two blocks downsample), ReLU, global sum pooling to ``phi``, ``SN-linear(phi) + <SN-embed(y), phi>``.

Channel multipliers of ``ch`` (the reference's ``G_arch`` / ``D_arch``):

===== ============================================ =================================
size  G: linear -> block outputs                   D block outputs (d = downsample)
===== ============================================ =================================
32    4ch -> 4ch, 4ch, 4ch                         4ch d, 4ch d, 4ch, 4ch
64    16ch -> 16ch, 8ch, 4ch, 2ch                  ch d, 2ch d, 4ch d, 8ch d, 16ch
128   16ch -> 16ch, 8ch, 4ch, 2ch, ch              ch d, 2ch d, 4ch d, 8ch d, 16ch d, 16ch
===== ============================================ =================================

Attention resolutions are the blocks' true output resolutions (BigGAN-PyTorch's 32 px D table
labels all four blocks 16); resolutions a network does not have are ignored, as in the reference
(the default 64 gives D no attention below 128 px).

Spectral norm: D's layers are ``gan_jax.models.spectral``'s (vectors in ``"spectral"``, one
power iteration per D update, in the real pass). G's layers keep their vectors in
``G_SN_COLLECTION`` instead: the classic recipe makes ``"spectral"`` mutable only in D's real
pass, so G's vectors would never move; in their own collection they advance in every training-
mode pass that keeps its statistics (each fake batch of a D step and the G step), which is what
the reference's ``SN.W_`` does in training mode. Inference passes use the stored vectors.

Initialisation (``weight_init``): "ortho" (orthogonal kernels and embeddings, zero biases; the reference's
default and StudioGAN's), "N02" (N(0, 0.02); BigGAN-PyTorch's CIFAR script) or "glorot".
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.models.spectral import SNConv, SNDense, SNEmbed, power_iteration

Array = jax.Array

#: G's spectral-norm vectors (advanced by every training-mode pass; see the module docstring)
G_SN_COLLECTION = "g_spectral"

#: size -> G's channel multipliers: the linear's output, then one per block (each doubles the resolution)
G_ARCH = {32: (4, 4, 4, 4), 64: (16, 16, 8, 4, 2), 128: (16, 16, 8, 4, 2, 1)}
#: size -> D blocks as (channel multiplier, downsample)
D_ARCH = {
    32: ((4, True), (4, True), (4, False), (4, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
}
SUPPORTED_SIZES = tuple(sorted(G_ARCH))
INITS = ("ortho", "N02", "glorot")
#: G's bottom map is 4x4
BOTTOM = 4


def _kernel_init(init: str):
    if init == "ortho":
        return nn.initializers.orthogonal()
    if init == "N02":
        return nn.initializers.normal(0.02)
    if init == "glorot":
        return nn.initializers.glorot_uniform()
    raise ValueError(f"unknown BigGAN init {init!r}; choose one of {INITS}")


def _check_size(size) -> int:
    if size not in G_ARCH:
        raise ValueError(f"BigGAN supports square images of sizes {list(SUPPORTED_SIZES)}, got {size}")
    return size


def num_z_chunks(size: int) -> int:
    """Chunks a hierarchical z is split into at ``size`` px: one per G block, plus the linear's."""
    return len(G_ARCH[_check_size(size)])


def _up(x):
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _down(x):
    return nn.avg_pool(x, (2, 2), strides=(2, 2))


# ----------------------------------------------------------------------------- G's spectral norm


def _train_sn(module: nn.Module, kernel: Array, update_stats: bool, eps: float = 1e-12) -> Array:
    """``kernel / sigma`` with ``u`` in ``G_SN_COLLECTION``: one power iteration per training-mode
    pass in which the collection is mutable (``spectral.spectral_normalize``'s maths)."""
    w = kernel.reshape((-1, kernel.shape[-1]))

    def init_u():
        u = jax.random.normal(module.make_rng("params"), (w.shape[1],), jnp.float32)
        return u / jnp.maximum(jnp.linalg.norm(u), eps)

    u_var = module.variable(G_SN_COLLECTION, "u", init_u)
    update = update_stats and module.is_mutable_collection(G_SN_COLLECTION) and not module.is_initializing()
    u, sigma = power_iteration(w, u_var.value, 1 if update else 0, eps)
    if update:
        u_var.value = u
    return kernel / sigma


class GSNDense(nn.Module):
    """Spectrally normalised dense layer of G (``SNDense``'s parameters; vectors in ``G_SN_COLLECTION``)."""

    features: int
    use_bias: bool = True
    kernel_init: Any = nn.initializers.orthogonal()

    @nn.compact
    def __call__(self, x, *, update_stats: bool = True):
        kernel = _train_sn(self, self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32), update_stats)
        y = x @ kernel
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return y


class GSNConv(nn.Module):
    """Spectrally normalised 'SAME' convolution of G (NHWC/HWIO; ``SNConv``'s parameters; vectors in ``G_SN_COLLECTION``)."""

    features: int
    kernel_size: Sequence[int] = (3, 3)
    use_bias: bool = True
    kernel_init: Any = nn.initializers.orthogonal()

    @nn.compact
    def __call__(self, x, *, update_stats: bool = True):
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = _train_sn(self, self.param("kernel", self.kernel_init, shape, jnp.float32), update_stats)
        y = lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return y


def _conv(x, features: int, k: int, *, generator: bool, train: bool, init: str, use_bias: bool = True, name: str):
    cls = GSNConv if generator else SNConv
    return cls(features, (k, k), use_bias=use_bias, kernel_init=_kernel_init(init), name=name)(x, update_stats=train)


# ----------------------------------------------------------------------------- layers


class LinearConditionalBatchNorm(nn.Module):
    """BigGAN's conditional BatchNorm (``ccbn``): ``BN(x) * (1 + W_g c) + W_b c`` per example.

    ``c`` is a condition vector per example (shared class embedding and z chunk); the gain and
    bias maps are SN linears without bias, so a zero condition is a plain BatchNorm. Statistics
    in ``batch_stats`` (momentum 0.9 = PyTorch's 0.1).
    """

    weight_init: str = "ortho"
    momentum: float = 0.9
    epsilon: float = 1e-5
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, cond, *, train: bool):
        c = x.shape[-1]
        h = nn.BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon, use_scale=False,
                         use_bias=False, axis_name=self.axis_name, name="bn")(x)
        gain = GSNDense(c, use_bias=False, kernel_init=_kernel_init(self.weight_init), name="gain")(cond, update_stats=train)
        bias = GSNDense(c, use_bias=False, kernel_init=_kernel_init(self.weight_init), name="bias")(cond, update_stats=train)
        shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
        return h * (1.0 + gain.reshape(shape)) + bias.reshape(shape)


class Attention(nn.Module):
    """SAGAN self-attention as in BigGAN-PyTorch: 1x1 SN convs (no bias) theta, phi, g (c/8, c/8,
    c/2 channels), phi and g max-pooled 2x2, softmax over the pooled positions, 1x1 conv back to
    c channels, scaled by ``gamma`` (initialised to 0, so the block starts as the identity)."""

    generator: bool = True
    weight_init: str = "ortho"

    @nn.compact
    def __call__(self, x, *, train: bool):
        b, hgt, wid, c = x.shape
        if c < 8:
            raise ValueError(f"self-attention needs at least 8 channels, got {c} (raise the width or drop the attention resolution)")
        kw = {"generator": self.generator, "train": train, "init": self.weight_init, "use_bias": False}
        pool = lambda t: nn.max_pool(t, (2, 2), strides=(2, 2))  # noqa: E731
        theta = _conv(x, c // 8, 1, name="theta", **kw).reshape(b, hgt * wid, c // 8)
        phi = pool(_conv(x, c // 8, 1, name="phi", **kw)).reshape(b, hgt * wid // 4, c // 8)
        g = pool(_conv(x, c // 2, 1, name="g", **kw)).reshape(b, hgt * wid // 4, c // 2)
        beta = jax.nn.softmax(jnp.einsum("bqc,bkc->bqk", theta, phi), axis=-1)
        o = jnp.einsum("bqk,bkc->bqc", beta, g).reshape(b, hgt, wid, c // 2)
        o = _conv(o, c, 1, name="o", **kw)
        gamma = self.param("gamma", nn.initializers.zeros, (), jnp.float32)
        return gamma * o + x


class GBlock(nn.Module):
    features: int
    weight_init: str = "ortho"
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, cond, *, train: bool):
        kw = {"generator": True, "train": train, "init": self.weight_init}
        bn = lambda name: LinearConditionalBatchNorm(self.weight_init, axis_name=self.bn_axis_name, name=name)  # noqa: E731
        h = _up(nn.relu(bn("bn1")(x, cond, train=train)))
        h = _conv(h, self.features, 3, name="conv1", **kw)
        h = _conv(nn.relu(bn("bn2")(h, cond, train=train)), self.features, 3, name="conv2", **kw)
        # a 1x1 convolution commutes with nearest upsampling: convolve the small map (4x cheaper)
        return h + _up(_conv(x, self.features, 1, name="conv_sc", **kw))


class BigGANGenerator(nn.Module):
    """BigGAN's G: ``G(z, y, train=...)`` -> images in [-1, 1] of ``image_shape`` (class-conditional)."""

    image_shape: tuple[int, int, int] = (128, 128, 3)
    ch: int = 64
    z_dim: int = 120
    shared_dim: int = 128
    num_classes: int = 0
    attention_resolutions: tuple[int, ...] = (64,)
    hierarchical: bool = True
    weight_init: str = "ortho"
    bn_axis_name: str | None = None

    def z_chunks(self) -> tuple[int, ...]:
        """Sizes of the pieces z is split into: the linear's, then one per block."""
        mults = G_ARCH[_check_size(self.image_shape[0])]
        if not self.hierarchical:
            return (self.z_dim,)
        n = len(mults)
        if self.z_dim % n:
            raise ValueError(f"hierarchical BigGAN at {self.image_shape[0]} px splits z into {n} equal chunks: z_dim={self.z_dim} is not divisible by {n}")
        return (self.z_dim // n,) * n

    @nn.compact
    def __call__(self, z, y=None, *, train: bool = True):
        if self.num_classes < 1 or y is None:
            raise ValueError("BigGAN's generator is class-conditional: it needs num_classes > 0 and labels y")
        if len(self.image_shape) != 3 or self.image_shape[0] != self.image_shape[1]:
            raise ValueError(f"BigGAN needs square images, got {tuple(self.image_shape)}")
        size = _check_size(self.image_shape[0])
        if z.shape[-1] != self.z_dim:
            raise ValueError(f"BigGAN generator built for z_dim={self.z_dim}, got z of shape {z.shape}")
        mults = G_ARCH[size]
        chunks = self.z_chunks()
        shared = nn.Embed(self.num_classes, self.shared_dim, embedding_init=_kernel_init(self.weight_init), name="shared")(y)
        if self.hierarchical:
            zs = jnp.split(z, len(chunks), axis=-1)
            z0, conds = zs[0], [jnp.concatenate([shared, zi], axis=-1) for zi in zs[1:]]
        else:
            z0, conds = z, [shared] * (len(mults) - 1)
        c0 = self.ch * mults[0]
        h = GSNDense(BOTTOM * BOTTOM * c0, kernel_init=_kernel_init(self.weight_init), name="linear")(z0, update_stats=train)
        h = h.reshape((z.shape[0], BOTTOM, BOTTOM, c0))
        for i, m in enumerate(mults[1:]):
            h = GBlock(self.ch * m, self.weight_init, self.bn_axis_name, name=f"block{i}")(h, conds[i], train=train)
            if h.shape[1] in self.attention_resolutions:
                h = Attention(generator=True, weight_init=self.weight_init, name=f"attention{i}")(h, train=train)
        h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=self.bn_axis_name, name="bn_out")(h))
        h = _conv(h, self.image_shape[2], 3, generator=True, train=train, init=self.weight_init, name="conv_out")
        return jnp.tanh(h)


class DBlock(nn.Module):
    features: int
    downsample: bool = True
    preactivation: bool = True
    weight_init: str = "ortho"

    @nn.compact
    def __call__(self, x, *, train: bool):
        kw = {"generator": False, "train": train, "init": self.weight_init}
        h = nn.relu(x) if self.preactivation else x
        h = _conv(h, self.features, 3, name="conv1", **kw)
        h = _conv(nn.relu(h), self.features, 3, name="conv2", **kw)
        if self.downsample:
            h = _down(h)
        sc = x
        if self.downsample or x.shape[-1] != self.features:
            if self.preactivation:
                sc = _conv(sc, self.features, 1, name="conv_sc", **kw)
                sc = _down(sc) if self.downsample else sc
            else:  # the first block pools first (cheaper on the input resolution)
                sc = _conv(_down(sc) if self.downsample else sc, self.features, 1, name="conv_sc", **kw)
        return h + sc


class BigGANDiscriminator(nn.Module):
    """BigGAN's projection D: ``D(x, y, train=...)`` -> logits ``(B,)``."""

    ch: int = 64
    num_classes: int = 0
    attention_resolutions: tuple[int, ...] = (64,)
    weight_init: str = "ortho"
    #: unused (no BatchNorm in D); present so ``gan_jax.parallel`` treats all models alike
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, y=None, *, train: bool = True):
        if self.num_classes < 1 or y is None:
            raise ValueError("BigGAN's discriminator is a projection discriminator: it needs num_classes > 0 and labels y")
        if x.shape[1] != x.shape[2]:
            raise ValueError(f"BigGAN needs square images, got {x.shape[1:]}")
        h = x
        for i, (m, down) in enumerate(D_ARCH[_check_size(x.shape[1])]):
            h = DBlock(self.ch * m, down, preactivation=i > 0, weight_init=self.weight_init, name=f"block{i}")(h, train=train)
            if h.shape[1] in self.attention_resolutions:
                h = Attention(generator=False, weight_init=self.weight_init, name=f"attention{i}")(h, train=train)
        phi = jnp.sum(nn.relu(h), axis=(1, 2))  # global sum pooling
        self.sow("intermediates", "features", phi)
        init = _kernel_init(self.weight_init)
        out = SNDense(1, kernel_init=init, name="linear")(phi, update_stats=train)[:, 0]
        embed = SNEmbed(self.num_classes, phi.shape[-1], embedding_init=init, name="embed")(y, update_stats=train)
        return out + jnp.sum(embed * phi, axis=-1)
