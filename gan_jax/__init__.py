"""gan_jax: generative adversarial networks in JAX/Flax.

The core (``gan_jax.engine``, ``gan_jax.recipes``, ``gan_jax.steps``, ``gan_jax.losses``,
``gan_jax.regularizers``, ``gan_jax.noise``, ``gan_jax.optimizers``, ``gan_jax.parallel``,
``gan_jax.models``) imports neither TensorFlow, grain nor the drivers; ``gan_jax.train``,
``gan_jax.cli``, ``gan_jax.config`` and ``gan_jax.families`` are the driver side.
"""

__version__ = "0.1.0"
