"""The text family's config sections and builder: ``Config`` -> LSTM G, CNN/LSTM D, ``TextSpec``.

``train.steps`` counts every stage: ``recipe.pretrain_g_steps`` MLE steps, then
``recipe.pretrain_d_steps`` D steps, then adversarial steps up to ``train.steps`` (so a resumed
run with a larger ``train.steps`` trains adversarially for longer). ``recipe.init_from`` starts
G from another run's trained generator (e.g. a shared MLE pre-training) instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import optax

from gan_jax.config import Config, UserError
from gan_jax.engine import Recipe, TrainState
from gan_jax.models.text import SEQGAN_FILTERS, LSTMDiscriminator, LSTMGenerator, SeqGANDiscriminator
from gan_jax.recipes.text import TextSpec, switch_at, text_gan


@dataclasses.dataclass
class ModelConfig:
    #: SeqGAN's generator: embedding 32, LSTM hidden 32
    emb_dim: int = 32
    hidden_dim: int = 32
    #: "cnn" (SeqGAN's CNN) or "lstm"
    d_arch: str = "cnn"
    d_emb_dim: int = 64
    #: CNN filters as (width, count) pairs; widths longer than the sequence are dropped
    d_filters: tuple[tuple[int, int], ...] = SEQGAN_FILTERS
    d_hidden_dim: int = 64
    d_dropout: float = 0.25


@dataclasses.dataclass
class RecipeConfig:
    #: "mle", "seqgan" or "gumbel"
    method: str = "seqgan"
    pretrain_g_steps: int = 0
    pretrain_d_steps: int = 0
    #: G's Adam learning rates for MLE pre-training and adversarial training (separate Adam states)
    lr_g_mle: float = 0.01
    lr_g_adv: float = 0.01
    b1_g: float = 0.9
    b2_g: float = 0.999
    #: clip G's gradient to this global norm (SeqGAN: 5; 0 = off)
    g_grad_clip: float = 5.0
    lr_d: float = 1e-4
    b1_d: float = 0.9
    b2_d: float = 0.999
    #: clip D's gradient to this global norm (RelGAN: 5; SeqGAN: 0 = off)
    d_grad_clip: float = 0.0
    #: SeqGAN's L2 weight on D's output layer (RelGAN: 0)
    d_l2: float = 0.2
    d_steps: int = 1
    rollouts: int = 16
    rollout_update_rate: float = 0.8
    #: Gumbel GAN: "rsgan", "standard" or "mmd"; beta annealed from 1 to beta_max over anneal_steps
    gumbel_loss: str = "rsgan"
    beta_max: float = 100.0
    beta_anneal: str = "exp"
    anneal_steps: int = 1000
    straight_through: bool = False
    #: a workdir whose trained G starts this run (its pre-training is then skipped: set pretrain_g_steps=0)
    init_from: str = ""


def steps_locked(config: Config) -> str:
    return ""


def _optimizer(lr: float, b1: float, b2: float, clip: float) -> optax.GradientTransformation:
    adam = optax.adam(lr, b1=b1, b2=b2)
    return optax.chain(optax.clip_by_global_norm(clip), adam) if clip else adam


def _pretrained_g(workdir: str):
    from gan_jax import checkpoint
    from gan_jax.config import CONFIG_FILE, read_config
    from gan_jax.experiment import build_state

    path = Path(workdir)
    if not (path / CONFIG_FILE).is_file():
        raise UserError(f"recipe.init_from={workdir!r} holds no gan-jax run (no {CONFIG_FILE})")
    other = read_config(path / CONFIG_FILE)
    if other.family != "text":
        raise UserError(f"recipe.init_from={workdir!r} is a {other.family} run, not a text GAN")
    _, _, target = build_state(other)
    return other, checkpoint.restore_state(path, target).nets["G"].params


def build(config: Config, dataset) -> tuple[Recipe, TrainState]:
    m, r, t = config.model, config.recipe, config.train
    info = dataset.text
    if info is None:
        raise UserError(f"the text family needs a text dataset (seqgan_oracle, seqgan_random, poems_zh_5, poems_zh_7, text:PATH); "
                        f"{dataset.name!r} is not one")
    try:
        spec = TextSpec(method=r.method, pretrain_g_steps=r.pretrain_g_steps, pretrain_d_steps=r.pretrain_d_steps, batch_size=t.batch_size,
                        d_steps=r.d_steps, d_l2=r.d_l2, rollouts=r.rollouts, rollout_update_rate=r.rollout_update_rate,
                        gumbel_loss=r.gumbel_loss, beta_max=r.beta_max, beta_anneal=r.beta_anneal, anneal_steps=r.anneal_steps,
                        straight_through=r.straight_through)
    except ValueError as e:
        raise UserError(str(e)) from None
    if min(r.g_grad_clip, r.d_grad_clip) < 0:
        raise UserError(f"recipe.g_grad_clip and recipe.d_grad_clip must be >= 0 (0 = no clipping), got {r.g_grad_clip} and {r.d_grad_clip}")
    if spec.method != "mle" and t.steps <= spec.adv_start:
        raise UserError(f"train.steps={t.steps} leaves no adversarial steps after recipe.pretrain_g_steps={r.pretrain_g_steps} + "
                        f"recipe.pretrain_d_steps={r.pretrain_d_steps}; raise train.steps or use recipe.method=mle")
    g = LSTMGenerator(vocab_size=info.vocab_size, emb_dim=m.emb_dim, hidden_dim=m.hidden_dim, seq_len=info.seq_len)
    g_params = None
    if r.init_from:
        other, g_params = _pretrained_g(r.init_from)
        if (other.model.emb_dim, other.model.hidden_dim, other.data.name) != (m.emb_dim, m.hidden_dim, config.data.name):
            raise UserError(f"recipe.init_from={r.init_from!r} trained another generator or dataset ({other.data.name}, "
                            f"emb {other.model.emb_dim}, hidden {other.model.hidden_dim})")
    d = None
    if spec.method != "mle":
        if m.d_arch == "cnn":
            filters = tuple((w, n) for w, n in m.d_filters if w <= info.seq_len)
            d = SeqGANDiscriminator(vocab_size=info.vocab_size, emb_dim=m.d_emb_dim, filters=filters, dropout=m.d_dropout)
        elif m.d_arch == "lstm":
            d = LSTMDiscriminator(vocab_size=info.vocab_size, emb_dim=m.d_emb_dim, hidden_dim=m.d_hidden_dim, dropout=m.d_dropout)
        else:
            raise UserError(f"unknown model.d_arch {m.d_arch!r}; choose 'cnn' or 'lstm'")
    mle = _optimizer(r.lr_g_mle, r.b1_g, r.b2_g, r.g_grad_clip)
    adv = _optimizer(r.lr_g_adv, r.b1_g, r.b2_g, r.g_grad_clip)
    g_tx = mle if spec.method == "mle" else switch_at(spec.pretrain_g_steps, mle, adv)
    d_tx = _optimizer(r.lr_d, r.b1_d, r.b2_d, r.d_grad_clip)
    return text_gan(generator=g, discriminator=d, g_tx=g_tx, d_tx=d_tx, spec=spec, rng=jax.random.PRNGKey(t.seed), name=config.experiment,
                    g_params=g_params)
