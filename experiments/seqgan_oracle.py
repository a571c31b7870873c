"""SeqGAN (Yu et al. 2017) on its synthetic benchmark: the published oracle LSTM, the paper's recipe.

Data: 10,000 sequences of 20 tokens (vocabulary 5,000) sampled from SeqGAN's oracle LSTM
(``seqgan_oracle.npz`` or the authors' ``save/target_params_py3.pkl`` in data.dir); 10,000 more
held out. G: LSTM, embedding 32, hidden 32, N(0, 0.1) init, Adam 0.01 with gradient clipping at
norm 5 (separate Adam states for MLE and policy gradient, as the paper's two optimizers). D:
the CNN (embedding 64, filter widths 1-10, 15, 20 with 100-200 filters, highway, dropout 0.25,
L2 0.2 on the output layer), Adam 1e-4. Schedule (LantaoYu/SeqGAN ``sequence_gan.py``), batch 64:
120 MLE epochs (18,720 steps); D pre-training 50 x 3 epochs over 10k real + 10k generated
(3M examples = 23,400 steps of 64 real + 64 generated); 200 adversarial steps, each one
policy-gradient step (16 rollouts from every prefix, rollout network updated with rate 0.8)
then 5 x 3 D epochs on fresh negatives (2,340 D steps).

Deviations: D steps see 64 real and 64 fresh generated sequences (the paper draws mixed
batches of 64 from a pool of 10k + 10k regenerated every 3 epochs); the rollout network is a
real delayed copy (in the authors' code ``tf.identity`` makes it follow G exactly; set
``recipe.rollout_update_rate=0`` for that).

Command:   gan-jax train seqgan_oracle --set data.dir=../shared/datasets
Runtime:   ~1M D steps: a GPU recipe; ``seqgan_oracle_cpu`` is the CPU-sized variant.
Published: NLL_oracle MLE 9.038, SeqGAN 8.736 (paper, table 1).
"""

from gan_jax.config import CheckpointConfig, Config, DataConfig, LogConfig, TrainConfig
from gan_jax.families.text import ModelConfig, RecipeConfig

PRETRAIN_G = 120 * 156  # epochs x batches of 64 in 10,000 sequences
PRETRAIN_D = 50 * 3 * 20_000 // 128
ADVERSARIAL = 200


def get_config() -> Config:
    return Config(
        experiment="seqgan_oracle",
        family="text",
        data=DataConfig(name="seqgan_oracle"),
        model=ModelConfig(),
        recipe=RecipeConfig(method="seqgan", pretrain_g_steps=PRETRAIN_G, pretrain_d_steps=PRETRAIN_D, d_steps=5 * 3 * 20_000 // 128,
                            lr_g_mle=0.01, lr_g_adv=0.01, lr_d=1e-4, rollouts=16, rollout_update_rate=0.8),
        train=TrainConfig(steps=PRETRAIN_G + PRETRAIN_D + ADVERSARIAL, batch_size=64, seed=88),
        log=LogConfig(every=100, sample_every=780, num_samples=32, eval_samples=10_000),
        checkpoint=CheckpointConfig(every=2000, keep=3),
    )
