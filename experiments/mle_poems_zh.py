"""MLE baseline on Chinese poetry couplets (``poems_zh_5``: 1,600 five-character couplets, char level).

SeqGAN's generator (LSTM, embedding 32, hidden 32, Adam 0.01, clipping 5), batch 64, 80 epochs
of the 1,440 training couplets (1,800 steps); 160 couplets held out for BLEU. SeqGAN's poem
experiment used a larger quatrain corpus, so its BLEU figures are not comparable.

Command:   gan-jax train mle_poems_zh --set data.dir=../shared/datasets
           gan-jax eval --workdir runs/mle_poems_zh      (NLL_gen, BLEU-2..4, Self-BLEU-2..4)
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.text import ModelConfig, RecipeConfig


def get_config() -> Config:
    return Config(
        experiment="mle_poems_zh",
        family="text",
        data=DataConfig(name="poems_zh_5"),
        model=ModelConfig(),
        recipe=RecipeConfig(method="mle", lr_g_mle=0.01),
        train=TrainConfig(steps=1800, batch_size=64, seed=0),
        log=LogConfig(every=50, sample_every=450, num_samples=20, eval_samples=500),
        checkpoint=CheckpointConfig(every=450, keep=2),
    )
