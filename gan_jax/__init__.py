"""gan_jax: generative adversarial networks in JAX/Flax.

The core (``gan_jax.losses``, ``gan_jax.state``, ``gan_jax.steps``,
``gan_jax.regularizers``, ``gan_jax.parallel``, ``gan_jax.models``) imports neither
TensorFlow nor the drivers; ``gan_jax.train`` and ``gan_jax.cli`` are the drivers.
"""

__version__ = "0.1.0"
