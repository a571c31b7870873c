"""A Gumbel-softmax text GAN (RelGAN-style, Nie et al. 2019) on the SeqGAN oracle benchmark.

RelGAN's own oracle script with its LSTM generator (weilinie/RelGAN
``oracle/experiments/oracle_relgan.py``, ``lstm_vanilla``): G is SeqGAN's LSTM (embedding 32,
hidden 32), pre-trained by MLE for 150 epochs (Adam 1e-2, gradients clipped at 5), then trained
through D for 3,000 adversarial steps of 1 G step and 5 D steps, batch 64, Adam 1e-4 (0.9,
0.999) for both, gradients clipped at 5, relativistic standard loss (RSGAN). G's samples are
relaxed with Gumbel-softmax at inverse temperature ``beta = 100 ** (i / 5000)`` after ``i``
adversarial steps (RelGAN's "exp" schedule runs over a fixed 5,000 steps, so 3,000 steps end at
beta 15.8; RelGAN's sweep: beta_max 2, 5, 10, 100).
Deviation: D is SeqGAN's CNN (filter widths 1-20, highway, dropout; no L2 here, as in RelGAN),
not RelGAN's 64-representation CNN, whose 1,200-wide highway per representation costs ~10x
SeqGAN's D per sentence.

Command:   gan-jax train relgan_oracle --set data.dir=../shared/datasets
Runtime:   on 2 CPU cores ~25 min of MLE (scaled from 137 s for 15 epochs), then ~1.5 s per
           adversarial step (~75 min).
Result:    README "Text GANs": from a 15-epoch MLE G (seed 0, NLL_oracle 9.082) 9.013 after 3,000
           adversarial steps, best 8.944 (``benchmarks/results/relgan_oracle_seed0.json``).
Published: RelGAN NLL_oracle 6.68 (its relational-memory G and multi-representation D).
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.text import ModelConfig, RecipeConfig

PRETRAIN_G = 150 * 156
ADVERSARIAL = 3000
#: RelGAN's get_fixed_temperature anneals over this many steps whatever the run's length
ANNEAL = 5000


def get_config() -> Config:
    return Config(
        experiment="relgan_oracle",
        family="text",
        data=DataConfig(name="seqgan_oracle"),
        model=ModelConfig(),
        recipe=RecipeConfig(method="gumbel", pretrain_g_steps=PRETRAIN_G, pretrain_d_steps=0, d_steps=5, lr_g_mle=0.01, lr_g_adv=1e-4,
                            lr_d=1e-4, g_grad_clip=5.0, d_grad_clip=5.0, d_l2=0.0, gumbel_loss="rsgan", beta_max=100.0,
                            beta_anneal="exp", anneal_steps=ANNEAL),
        train=TrainConfig(steps=PRETRAIN_G + ADVERSARIAL, batch_size=64, seed=88),
        log=LogConfig(every=50, sample_every=500, num_samples=32, eval_samples=10_000),
        checkpoint=CheckpointConfig(every=1000, keep=2),
    )
