"""SeqGAN on the synthetic oracle benchmark, sized for a 2-core CPU (the paper's recipe: ``seqgan_oracle``).

The same networks, losses and optimizers as ``seqgan_oracle``; shorter schedule: 15 MLE epochs
(2,340 steps; the authors' log: NLL_oracle 9.12 at epoch 15, 9.07 at 115), 2,000 D pre-training
steps (the paper: 23,400 such steps), then 50 adversarial steps of one policy-gradient step (16
rollouts from every prefix) and 8 D steps each (the paper: 200 steps of 2,340 D steps). 8 is
the most D steps the engine unrolls (``CRITIC_UNROLL_MAX``); why this schedule, measured:
docs/text_gans.md.

Command:   gan-jax train seqgan_oracle_cpu --set data.dir=../shared/datasets
Result:    ``benchmarks/text_oracle.py`` (README "Text GANs" table).
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.text import ModelConfig, RecipeConfig

PRETRAIN_G = 15 * 156
PRETRAIN_D = 2000
ADVERSARIAL = 50


def get_config() -> Config:
    return Config(
        experiment="seqgan_oracle_cpu",
        family="text",
        data=DataConfig(name="seqgan_oracle"),
        model=ModelConfig(),
        recipe=RecipeConfig(method="seqgan", pretrain_g_steps=PRETRAIN_G, pretrain_d_steps=PRETRAIN_D, d_steps=8, lr_g_mle=0.01,
                            lr_g_adv=0.01, lr_d=1e-4, rollouts=16, rollout_update_rate=0.8),
        train=TrainConfig(steps=PRETRAIN_G + PRETRAIN_D + ADVERSARIAL, batch_size=64, seed=88),
        log=LogConfig(every=20, sample_every=1000, num_samples=32, eval_samples=10_000),
        checkpoint=CheckpointConfig(every=1000, keep=2),
    )
