"""SeqGAN on Chinese poetry couplets (``poems_zh_5``), CPU-sized.

Networks, losses and optimizers of ``seqgan_oracle`` (G: LSTM 32/32, Adam 0.01, clipping 5; D:
SeqGAN's CNN with the filter widths up to the couplet length 11, Adam 1e-4). Schedule: 80 MLE
epochs (1,800 steps), 300 D pre-training steps, 100 adversarial steps (16 rollouts from every
prefix, 5 D steps each). 160 couplets held out for BLEU / NLL_gen.

Command:   gan-jax train seqgan_poems_zh --set data.dir=../shared/datasets
           gan-jax sample --workdir runs/seqgan_poems_zh --num 20 --out couplets.txt
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.text import ModelConfig, RecipeConfig

PRETRAIN_G, PRETRAIN_D, ADVERSARIAL = 1800, 300, 100


def get_config() -> Config:
    return Config(
        experiment="seqgan_poems_zh",
        family="text",
        data=DataConfig(name="poems_zh_5"),
        model=ModelConfig(),
        recipe=RecipeConfig(method="seqgan", pretrain_g_steps=PRETRAIN_G, pretrain_d_steps=PRETRAIN_D, d_steps=5, rollouts=16),
        train=TrainConfig(steps=PRETRAIN_G + PRETRAIN_D + ADVERSARIAL, batch_size=64, seed=0),
        log=LogConfig(every=20, sample_every=500, num_samples=20, eval_samples=500),
        checkpoint=CheckpointConfig(every=500, keep=2),
    )
