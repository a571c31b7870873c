"""A Gumbel-softmax text GAN (RelGAN-style, Nie et al. 2019) on the SeqGAN oracle benchmark.

G: SeqGAN's LSTM (not RelGAN's relational memory), pre-trained by MLE (40 epochs here, RelGAN
150), then trained through D: its samples are relaxed with Gumbel-softmax at inverse
temperature beta, annealed exponentially from 1 to beta_max = 1000 over the adversarial steps
(RelGAN's "exp" schedule), with the relativistic standard loss (RSGAN). D: SeqGAN's CNN (not
RelGAN's multi-representation CNN). Adam 1e-4 for G and D in the adversarial stage, batch 64,
5 D steps per G step.

Command:   gan-jax train relgan_oracle --set data.dir=../shared/datasets
Result:    ``benchmarks/text_oracle.py`` (README "Text GANs" table).
Published: RelGAN NLL_oracle 6.68 (its own G and D).
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.text import ModelConfig, RecipeConfig

PRETRAIN_G = 40 * 156
ADVERSARIAL = 1000


def get_config() -> Config:
    return Config(
        experiment="relgan_oracle",
        family="text",
        data=DataConfig(name="seqgan_oracle"),
        model=ModelConfig(),
        recipe=RecipeConfig(method="gumbel", pretrain_g_steps=PRETRAIN_G, pretrain_d_steps=0, d_steps=5, lr_g_mle=0.01, lr_g_adv=1e-4,
                            lr_d=1e-4, gumbel_loss="rsgan", beta_max=1000.0, beta_anneal="exp", anneal_steps=ADVERSARIAL),
        train=TrainConfig(steps=PRETRAIN_G + ADVERSARIAL, batch_size=64, seed=88),
        log=LogConfig(every=50, sample_every=500, num_samples=32, eval_samples=10_000),
        checkpoint=CheckpointConfig(every=1000, keep=2),
    )
