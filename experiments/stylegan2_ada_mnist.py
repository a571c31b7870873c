"""StyleGAN2-ADA on 1,000 MNIST images: the limited-data setting of Karras et al. 2020b, sized for 2 CPU cores.

``stylegan2_mnist`` (the reference's ``cifar`` configuration at small widths) at half its widths
(min(512 / res, 32): a quarter of the FLOPs, so both arms of the comparison fit a CPU session)
and R1 gamma 1 instead of its 30, trained on 1,000 MNIST training images only (``data.limit``: a
fixed random subset), with adaptive discriminator augmentation. Why gamma 1: ADA is the remedy for
a discriminator that overfits its few images (E[sign D(real)] above the target), and gamma 30
keeps that statistic near 0.2 even on 60,000 images; of the gammas measured on these 1,000
images (1, 0.1 and the reference's ``auto`` rule 0.0002 res^2 / batch = 0.0032) gamma 1 scored
best with and without ADA. ADA: the ``bgc`` pipeline on every image D sees, p adjusted every 4
steps towards E[sign D(real)] = 0.6 (stylegan2-ada-pytorch ``--aug=ada --target=0.6``; p starts
at 0) at 100 kimg per unit of p instead of the reference's 500: this run sees 192 kimg in all,
and at 500 the controller could not raise p above 0.38 however much D overfit. The baseline
without augmentation: ``--set recipe.augment=none``. Metrics are against the full 60,000-image
training set, as the paper does.

Data:      MNIST. Offline: data.dir (or GAN_JAX_DATA_DIR) holding mnist.npz.
Command:   gan-jax train stylegan2_ada_mnist --workdir runs/stylegan2_ada_mnist --set data.dir=../shared/datasets
Runtime:   ~33 min for 3,000 steps on 2026-12-07 (2-core AMD EPYC, a second run on the other core).
Result:    README "StyleGAN2 and BigGAN": fid_mnist with and without ADA, and p over training.
"""

import dataclasses

from gan_jax.experiments.stylegan2_mnist import get_config as base


def get_config():
    config = base()
    return dataclasses.replace(config, experiment="stylegan2_ada_mnist", data=dataclasses.replace(config.data, limit=1000),
                               model=dataclasses.replace(config.model, channel_base=512, channel_max=32),
                               recipe=dataclasses.replace(config.recipe, r1_gamma=1.0, augment="ada", ada_pipeline="bgc", ada_kimg=100.0))
