"""GAN families as recipes of the one engine (``gan_jax.engine``): each module builds a ``Recipe``
(its phases) and a fresh ``TrainState`` from typed arguments.

* ``classic``: one G and one D (MLP GAN, DCGAN, cGAN, ACGAN, WGAN(-GP), LSGAN, SNGAN, DRAGAN, ...).
"""
