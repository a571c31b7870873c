"""SNGAN ResNet generator and discriminator (Miyato et al. 2018), conditional BatchNorm and
the projection discriminator (Miyato & Koyama 2018).

Generator: z -> Dense to a ``base x base`` map -> residual up-blocks
(BN-ReLU-up2x-conv3x3-BN-ReLU-conv3x3, shortcut conv1x1 of the upsampled input) ->
BN-ReLU-conv3x3-tanh. With ``num_classes > 0`` every BatchNorm inside the blocks is a
``ConditionalBatchNorm`` (per-class gain and bias; Dumoulin et al. 2017, de Vries et al.
2017) as in Miyato & Koyama's conditional generator.

Discriminator: residual down-blocks (the first an "optimised" block: conv-ReLU-conv-pool
with a pool-conv1x1 shortcut), ReLU, global *sum* pooling to features ``phi(x)``, then
``psi(phi) = w . phi + b``. Spectral normalisation on every layer (``spectral_norm``).
With ``num_classes > 0`` the projection term ``<embed(y), phi(x)>`` is added to the logit
(the embedding table is spectrally normalised too); with ``aux_classes > 0`` (ACGAN) D
returns ``(logits, class_logits)`` from a second linear head on ``phi(x)``.

Layouts (``width`` is the channel unit ``ch``):

===== ======================================== ==========================================
size  generator (base map; block channels)     discriminator blocks (channels, downsample)
===== ======================================== ==========================================
32    4x4; ch, ch, ch   (paper: ch=256)        ch (d), ch (d), ch, ch   (paper: ch=128)
48    6x6; 8ch -> 4ch, 2ch, ch (paper: ch=64)  ch, 2ch, 4ch, 8ch (all d), 16ch (paper: ch=64)
64    4x4; 16ch -> 8ch, 4ch, 2ch, ch           ch, 2ch, 4ch, 8ch, 16ch (all d)
===== ======================================== ==========================================

32 and 48 follow Miyato et al. 2018, Appendix B (CIFAR-10 and STL-10 ResNets); 64 is the
same construction one stage deeper (the 64x64 layout of Miyato & Koyama's ImageNet models
is of this form). Initialisation as in the authors' Chainer code: Glorot-uniform with gain
sqrt(2) in the residual convolutions, gain 1 elsewhere.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models.spectral import SNConv, SNDense, SNEmbed

#: size -> (base map, G channel multipliers: the Dense output, then one per up-block)
G_LAYOUTS = {32: (4, (1, 1, 1, 1)), 48: (6, (8, 4, 2, 1)), 64: (4, (16, 8, 4, 2, 1))}
#: size -> D blocks as (channel multiplier, downsample)
D_LAYOUTS = {
    32: ((1, True), (1, True), (1, False), (1, False)),
    48: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, True)),
}
SUPPORTED_SIZES = tuple(sorted(G_LAYOUTS))

RES_INIT = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")  # Glorot uniform, gain sqrt(2)
SC_INIT = nn.initializers.glorot_uniform()


def _check_size(shape) -> int:
    if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in G_LAYOUTS:
        raise ValueError(f"SNGAN ResNet supports square images of sizes {list(SUPPORTED_SIZES)}, got {tuple(shape)}")
    return shape[0]


def _up(x):
    """Nearest-neighbour 2x upsampling (NHWC)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _down(x):
    return nn.avg_pool(x, (2, 2), strides=(2, 2))


def _conv(x, features: int, k: int, *, sn: bool, train: bool, init, name: str | None = None):
    if sn:
        return SNConv(features, (k, k), padding="SAME", kernel_init=init, name=name)(x, update_stats=train)
    return nn.Conv(features, (k, k), padding="SAME", kernel_init=init, name=name)(x)


def _dense(x, features: int, *, sn: bool, train: bool, name: str | None = None):
    if sn:
        return SNDense(features, kernel_init=SC_INIT, name=name)(x, update_stats=train)
    return nn.Dense(features, kernel_init=SC_INIT, name=name)(x)


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose gain and bias are looked up per class: ``BN(x) * gamma[y] + beta[y]``.

    Normalisation statistics are shared by all classes (running averages in
    ``batch_stats``); ``gamma`` starts at 1 and ``beta`` at 0 for every class. With
    ``num_classes == 0`` (or ``y is None``) it is an ordinary BatchNorm with one gain/bias.
    """

    num_classes: int = 0
    axis_name: str | None = None
    momentum: float = 0.9
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x, y=None, *, train: bool):
        conditional = self.num_classes > 0
        h = nn.BatchNorm(
            use_running_average=not train,
            momentum=self.momentum,
            epsilon=self.epsilon,
            use_scale=not conditional,
            use_bias=not conditional,
            axis_name=self.axis_name,
        )(x)
        if not conditional:
            return h
        if y is None:
            raise ValueError("ConditionalBatchNorm with num_classes > 0 needs labels y")
        c = x.shape[-1]
        gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.ones, name="gamma")(y)
        beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros, name="beta")(y)
        shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
        return h * gamma.reshape(shape) + beta.reshape(shape)


class GBlock(nn.Module):
    features: int
    num_classes: int = 0
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, y, *, train: bool):
        h = nn.relu(ConditionalBatchNorm(self.num_classes, self.bn_axis_name)(x, y, train=train))
        h = nn.Conv(self.features, (3, 3), padding="SAME", kernel_init=RES_INIT)(_up(h))
        h = nn.relu(ConditionalBatchNorm(self.num_classes, self.bn_axis_name)(h, y, train=train))
        h = nn.Conv(self.features, (3, 3), padding="SAME", kernel_init=RES_INIT)(h)
        # conv1x1 commutes with nearest upsampling: convolve the small map (4x cheaper), then upsample
        sc = _up(nn.Conv(self.features, (1, 1), padding="VALID", kernel_init=SC_INIT, name="shortcut")(x))
        return h + sc


class SNGANGenerator(nn.Module):
    image_shape: tuple[int, int, int] = (32, 32, 3)
    width: int = 256
    #: > 0: class-conditional (conditional BatchNorm in the residual blocks)
    num_classes: int = 0
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, z, y=None, *, train: bool = True):
        size = _check_size(self.image_shape)
        base, mults = G_LAYOUTS[size]
        y = y if self.num_classes > 0 else None
        ch = self.width * mults[0]
        h = nn.Dense(base * base * ch, kernel_init=SC_INIT)(z).reshape((z.shape[0], base, base, ch))
        for m in mults[1:]:
            h = GBlock(self.width * m, self.num_classes, self.bn_axis_name)(h, y, train=train)
        h = nn.relu(ConditionalBatchNorm(0, self.bn_axis_name)(h, train=train))
        h = nn.Conv(self.image_shape[2], (3, 3), padding="SAME", kernel_init=SC_INIT)(h)
        return jnp.tanh(h)


class DBlock(nn.Module):
    features: int
    downsample: bool = True
    #: the first block (Miyato et al.'s OptimizedBlock): no leading ReLU, pool-then-conv shortcut
    optimized: bool = False
    spectral_norm: bool = True

    @nn.compact
    def __call__(self, x, *, train: bool):
        sn, f = self.spectral_norm, self.features
        h = x if self.optimized else nn.relu(x)
        h = _conv(h, f, 3, sn=sn, train=train, init=RES_INIT)
        h = _conv(nn.relu(h), f, 3, sn=sn, train=train, init=RES_INIT)
        if self.downsample:
            h = _down(h)
        if self.optimized:
            sc = _conv(_down(x), f, 1, sn=sn, train=train, init=SC_INIT, name="shortcut")
        elif self.downsample or x.shape[-1] != f:
            sc = _conv(x, f, 1, sn=sn, train=train, init=SC_INIT, name="shortcut")
            sc = _down(sc) if self.downsample else sc
        else:
            sc = x
        return h + sc


class SNGANDiscriminator(nn.Module):
    width: int = 128
    spectral_norm: bool = True
    #: > 0: projection discriminator (Miyato & Koyama 2018) over this many classes
    num_classes: int = 0
    #: > 0: ACGAN auxiliary classifier head; D then returns (logits, class_logits)
    aux_classes: int = 0
    #: unused (no BatchNorm in D); present so ``gan_jax.parallel`` treats all models alike
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, y=None, *, train: bool = True):
        size = _check_size(x.shape[1:])
        h = x
        for i, (m, down) in enumerate(D_LAYOUTS[size]):
            h = DBlock(self.width * m, down, optimized=i == 0, spectral_norm=self.spectral_norm)(h, train=train)
        phi = jnp.sum(nn.relu(h), axis=(1, 2))  # global sum pooling
        self.sow("intermediates", "features", phi)
        logits = _dense(phi, 1, sn=self.spectral_norm, train=train, name="linear")[:, 0]
        if self.num_classes > 0:
            if y is None:
                raise ValueError("a projection discriminator needs labels y")
            if self.spectral_norm:
                embed = SNEmbed(self.num_classes, phi.shape[-1], name="embed")(y, update_stats=train)
            else:
                embed = nn.Embed(self.num_classes, phi.shape[-1], embedding_init=SC_INIT, name="embed")(y)
            logits = logits + jnp.sum(embed * phi, axis=-1)  # <embed(y), phi(x)>
        if self.aux_classes > 0:
            return logits, _dense(phi, self.aux_classes, sn=self.spectral_norm, train=train, name="classifier")
        return logits
