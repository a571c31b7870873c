"""The MLE baseline of the SeqGAN oracle benchmark: SeqGAN's generator trained by maximum likelihood.

G as in ``seqgan_oracle`` (LSTM, embedding 32, hidden 32, Adam 0.01, gradient clipping 5),
batch 64, 120 epochs of the 10,000 oracle sequences (18,720 steps), as SeqGAN's pre-training.

Command:   gan-jax train mle_oracle --set data.dir=../shared/datasets
           (CPU: --set train.steps=6240 is 40 epochs, what ``benchmarks/text_oracle.py`` runs)
Published: NLL_oracle 9.038 (SeqGAN paper, table 1).
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.text import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="mle_oracle",
        family="text",
        data=DataConfig(name="seqgan_oracle"),
        model=ModelConfig(),
        recipe=RecipeConfig(method="mle", lr_g_mle=0.01),
        train=TrainConfig(steps=120 * 156, batch_size=64, seed=88),
        log=LogConfig(every=100, sample_every=780, num_samples=32, eval_samples=10_000),
        checkpoint=CheckpointConfig(every=2000, keep=2),
    )
