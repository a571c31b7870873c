"""Generator/discriminator architectures (Flax Linen).

Every generator is called as ``G(z, y=None, *, train)`` and every discriminator as
``D(x, y=None, *, train) -> logits of shape (batch,)``; unconditional models ignore
``y``. Every model has a ``bn_axis_name`` field that ``gan_jax.parallel`` sets under
``pmap`` so BatchNorm statistics are computed over the global batch.

An ACGAN discriminator (``aux_classes > 0``) returns ``(logits, class_logits)``.
Spectrally normalised layers keep their power-iteration vectors in the ``"spectral"``
collection (``SN_COLLECTION``), updated by the train step's D update; BigGAN's generator keeps
its own in ``biggan.G_SN_COLLECTION``, advanced by its training-mode passes (``gan_jax.models.biggan``).

Translation models (``gan_jax.models.translation``: U-Net, PatchGAN, ResNet generator) map
images to images: ``G(x, *, train)``, ``D(x, *, train) -> (batch, h, w)`` patch logits.

Sequence models (``gan_jax.models.text``) take token ids instead: ``G(tokens)`` gives
teacher-forced logits and ``G.sample(keys)`` sequences; ``D(tokens or one-hots) -> logits``.
"""

from gan_jax.models.biggan import BigGANDiscriminator, BigGANGenerator, LinearConditionalBatchNorm
from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.models.sngan import ConditionalBatchNorm, SNGANDiscriminator, SNGANGenerator
from gan_jax.models.spectral import SN_COLLECTION, SNConv, SNDense, SNEmbed
from gan_jax.models.text import LSTMDiscriminator, LSTMGenerator, SeqGANDiscriminator
from gan_jax.models.translation import PatchGANDiscriminator, ResNetGenerator, UNetGenerator

__all__ = [
    "BigGANDiscriminator",
    "BigGANGenerator",
    "LinearConditionalBatchNorm",
    "ConditionalBatchNorm",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "SN_COLLECTION",
    "SNConv",
    "SNDense",
    "SNEmbed",
    "SNGANDiscriminator",
    "SNGANGenerator",
    "LSTMGenerator",
    "LSTMDiscriminator",
    "SeqGANDiscriminator",
    "UNetGenerator",
    "PatchGANDiscriminator",
    "ResNetGenerator",
]
