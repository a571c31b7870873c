"""StyleGAN2-ADA on 1,000 MNIST images: the limited-data setting of Karras et al. 2020b, sized for 2 CPU cores.

``stylegan2_mnist`` (the reference's ``cifar`` configuration at small widths) at half its widths
(min(512 / res, 32): a quarter of the FLOPs, so both arms of the comparison fit a CPU session)
and R1 gamma 1 instead of its 30, trained on 1,000 MNIST training images only
(``data.limit``: a fixed random subset), with adaptive discriminator augmentation. Why gamma 1: ADA is the remedy for a
discriminator that overfits its few images (E[sign D(real)] above the target); gamma 10 kept
that statistic at 0.39 on the full 60,000 images already (gamma 30: about 0.2), so a weaker R1 is what this
comparison needs (the reference's own rule would give 0.0032). ADA: the
``bgc`` pipeline on every image D sees, p adjusted every 4 steps towards E[sign D(real)] = 0.6 at
500 kimg per unit (stylegan2-ada-pytorch ``--aug=ada --target=0.6``; p starts at 0). The
baseline without augmentation: ``--set recipe.augment=none``. Metrics are against the full
60,000-image training set, as the paper does.

Data:      MNIST. Offline: data.dir (or GAN_JAX_DATA_DIR) holding mnist.npz.
Command:   gan-jax train stylegan2_ada_mnist --workdir runs/stylegan2_ada_mnist --set data.dir=../shared/datasets
Runtime:   see README "StyleGAN2 and BigGAN".
Result:    README "StyleGAN2 and BigGAN": fid_mnist with and without ADA, and p over training.
"""

import dataclasses

from gan_jax.experiments.stylegan2_mnist import get_config as base


def get_config():
    config = base()
    return dataclasses.replace(config, experiment="stylegan2_ada_mnist", data=dataclasses.replace(config.data, limit=1000),
                               model=dataclasses.replace(config.model, channel_base=512, channel_max=32),
                               recipe=dataclasses.replace(config.recipe, r1_gamma=1.0, augment="ada", ada_pipeline="bgc"))
