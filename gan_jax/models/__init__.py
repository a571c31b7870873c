"""Generator/discriminator architectures (Flax Linen).

Every generator is called as ``G(z, y=None, *, train)`` and every discriminator as
``D(x, y=None, *, train) -> logits of shape (batch,)``; unconditional models ignore
``y``. Every model has a ``bn_axis_name`` field that ``gan_jax.parallel`` sets under
``pmap`` so BatchNorm statistics are computed over the global batch.
"""

from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator"]
