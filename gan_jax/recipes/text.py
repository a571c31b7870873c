"""Text GANs as phases of the engine: MLE, SeqGAN and a Gumbel-softmax GAN (RelGAN-style).

Networks: ``G`` (``LSTMGenerator``) and ``D`` (``SeqGANDiscriminator`` or ``LSTMDiscriminator``,
returning one logit, ``sigmoid(logit)`` = probability of real). Stages are phase windows:

* ``Gmle`` (steps ``[0, pretrain_g)``): maximum likelihood, teacher forced;
* ``Dpre`` (``[pretrain_g, pretrain_g + pretrain_d)``): D on real vs fresh G samples;
* adversarial (to the end), by ``method``:

  - ``seqgan`` (Yu et al. 2017): ``Gpg`` samples a batch, completes every prefix 1..L-1 with
    ``rollouts`` Monte-Carlo rollouts of the *rollout network* (``extra["rollout"]``, a delayed
    copy of G: ``beta <- r beta + (1 - r) theta`` after each G step), rewards each token with the
    mean ``D(real)`` probability of its completions (the last token: of the whole sequence),
    and takes one REINFORCE step on ``-sum_t log G(x_t | x_<t) Q_t``; then ``Dadv`` takes
    ``d_steps`` D steps on fresh real batches and fresh negatives;
  - ``gumbel`` (RelGAN, Nie et al. 2019): G's samples are relaxed with Gumbel-softmax at inverse
    temperature ``beta`` (annealed to ``beta_max``), D sees the relaxed one-hots, and G trains
    by back-propagation through D with the relativistic standard loss (``rsgan``), the standard
    non-saturating loss, or TextGAN's feature matching (``mmd``: the MMD between D's features
    of real and generated sentences, Zhang et al. 2017);
  - ``mle``: no adversarial stage (``Gmle`` runs to the end): the baseline.

Every draw uses per-example keys (``ctx.example_keys``), so a data-parallel step equals the
single-device step on the same global batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax.engine import Phase, PhaseContext, Recipe, TrainState, init_network, init_state

Array = jax.Array

METHODS = ("mle", "seqgan", "gumbel")
GUMBEL_LOSSES = ("rsgan", "standard", "mmd")
ANNEALS = ("exp", "linear", "constant")


@dataclasses.dataclass(frozen=True)
class TextSpec:
    method: str = "seqgan"
    pretrain_g_steps: int = 0
    pretrain_d_steps: int = 0
    #: the global batch size (SeqGAN's policy-gradient loss is a sum over the batch)
    batch_size: int = 64
    #: D updates per adversarial step (each on a fresh real batch and fresh negatives)
    d_steps: int = 1
    #: SeqGAN's L2 weight on D's output layer
    d_l2: float = 0.2
    rollouts: int = 16
    #: rollout network: beta <- r beta + (1 - r) theta after each G step (0: beta = theta)
    rollout_update_rate: float = 0.8
    gumbel_loss: str = "rsgan"
    beta_max: float = 100.0
    beta_anneal: str = "exp"
    #: adversarial steps over which beta goes from 1 to beta_max
    anneal_steps: int = 1000
    straight_through: bool = False
    temperature: float = 1.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown text GAN method {self.method!r}; choose one of {METHODS}")
        if self.gumbel_loss not in GUMBEL_LOSSES:
            raise ValueError(f"unknown gumbel_loss {self.gumbel_loss!r}; choose one of {GUMBEL_LOSSES}")
        if self.beta_anneal not in ANNEALS:
            raise ValueError(f"unknown beta_anneal {self.beta_anneal!r}; choose one of {ANNEALS}")
        if min(self.pretrain_g_steps, self.pretrain_d_steps) < 0 or self.d_steps < 1 or self.rollouts < 1:
            raise ValueError("pretrain steps must be >= 0, d_steps and rollouts >= 1")
        if not 0.0 <= self.rollout_update_rate < 1.0:
            raise ValueError(f"rollout_update_rate must be in [0, 1), got {self.rollout_update_rate}")
        if self.beta_max < 1.0:
            raise ValueError(f"beta_max must be >= 1, got {self.beta_max}")

    @property
    def adv_start(self) -> int:
        return self.pretrain_g_steps + self.pretrain_d_steps


def beta_schedule(i: Array, beta_max: float, n: int, kind: str) -> Array:
    """RelGAN's inverse temperature after ``i`` of ``n`` adversarial steps: ``exp``:
    ``beta_max ** (i / n)``, ``linear``: ``1 + (i / n) (beta_max - 1)``, ``constant``: beta_max."""
    frac = jnp.clip(jnp.asarray(i, jnp.float32) / max(n, 1), 0.0, 1.0)
    if kind == "exp":
        return beta_max**frac
    if kind == "linear":
        return 1.0 + frac * (beta_max - 1.0)
    return jnp.asarray(beta_max, jnp.float32)


def d_loss_from_logits(real: Array, fake: Array) -> Array:
    """SeqGAN's 2-way cross-entropy: ``softplus(-real) + softplus(fake)``  # -log D(x) - log(1 - D(G(z)))"""
    return jnp.concatenate([jax.nn.softplus(-real), jax.nn.softplus(fake)])


def mmd2(x: Array, y: Array) -> Array:
    """Squared MMD with a sum of Gaussian kernels at 0.5/1/2/4 x the median pairwise distance
    (biased estimate; the bandwidth is not differentiated)."""
    xy = jnp.concatenate([x, y])
    d2 = jnp.sum((xy[:, None] - xy[None]) ** 2, -1)
    med = jax.lax.stop_gradient(jnp.median(d2))
    k = sum(jnp.exp(-d2 / (2.0 * s * s * med + 1e-8)) for s in (0.5, 1.0, 2.0, 4.0))
    n = x.shape[0]
    return jnp.mean(k[:n, :n]) + jnp.mean(k[n:, n:]) - 2.0 * jnp.mean(k[:n, n:])


def _g(ctx: PhaseContext):
    return ctx.state.nets["G"].module


def _sample(ctx: PhaseContext, params, keys: Array, temperature: float = 1.0, **kw) -> Array:
    g = _g(ctx)
    return g.apply({"params": jax.lax.stop_gradient(params)}, keys, temperature=temperature, method=g.sample, **kw)


def rollout_rewards(g: nn.Module, rollout_params, d_logits, tokens: Array, keys: Array, num_rollouts: int) -> Array:
    """SeqGAN's rewards (B, L): Q_t = mean over ``num_rollouts`` completions of ``tokens[:, :t+1]``
    by the rollout network of ``sigmoid(D(completion))``; Q_{L-1} = ``sigmoid(D(tokens))``.

    Every completion of the batch is drawn in one ``lax.scan`` over positions: rows are
    (rollout, prefix length, example), each keeping its prefix and sampling the rest.
    ``keys`` are the examples' keys (B,); ``d_logits(tokens) -> (N,)``.
    """
    n, length = tokens.shape
    given = jnp.arange(1, length)
    # row (r, g, b): example b's key folded with r, then g
    row_keys = jax.vmap(lambda r: jax.vmap(lambda gi: jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, r), gi))(keys))(given))(
        jnp.arange(num_rollouts))
    rows = num_rollouts * (length - 1) * n
    prefix = jnp.broadcast_to(tokens, (num_rollouts, length - 1, n, length)).reshape(rows, length)
    plen = jnp.broadcast_to(given[None, :, None], (num_rollouts, length - 1, n)).reshape(rows)
    done = g.apply({"params": rollout_params}, row_keys.reshape(rows, *keys.shape[1:]), prefix=prefix, prefix_len=plen,
                   method=g.sample)
    q = jax.nn.sigmoid(d_logits(done)).reshape(num_rollouts, length - 1, n).mean(0)  # (L-1, B)
    last = jax.nn.sigmoid(d_logits(tokens))[None]
    return jnp.concatenate([q, last]).T


# ----------------------------------------------------------------------------- phases


def _phases(spec: TextSpec) -> tuple[Phase, ...]:
    s = spec
    adv = s.adv_start

    def copy_rollout(state: TrainState, call_index) -> Any:
        # before the adversarial stage the rollout network follows G (it starts as G's copy)
        if "rollout" not in state.extra:
            return state.extra
        return {**state.extra, "rollout": state.nets["G"].params}

    def g_mle(ctx: PhaseContext):
        lp = ctx.apply("G", ctx.batch["x"], method="log_prob")
        nll = -ctx.mean(jnp.mean(lp, axis=1))
        return nll, {"loss/g_mle": nll}

    def fake_tokens(ctx: PhaseContext, n: int) -> Array:
        return _sample(ctx, ctx.params("G"), ctx.example_keys("fake", n), s.temperature)

    def d_step(ctx: PhaseContext):
        real = ctx.batch["x"]
        n = real.shape[0]
        fake = fake_tokens(ctx, n)
        logits = ctx.apply("D", jnp.concatenate([real, fake]), rngs={"dropout": ctx.key("dropout")})
        per = d_loss_from_logits(logits[:n], logits[n:])
        loss = ctx.mean(jnp.mean(per))
        l2 = ctx.state.nets["D"].module.l2_loss(ctx.params("D"))
        acc = ctx.mean(jnp.mean(jnp.concatenate([logits[:n] > 0, logits[n:] < 0]).astype(jnp.float32)))
        return loss + s.d_l2 * l2, {"loss/d": loss, "d/accuracy": acc}

    def _beta(ctx: PhaseContext) -> Array:
        return beta_schedule(ctx.step - adv, s.beta_max, s.anneal_steps, s.beta_anneal)

    def g_pg(ctx: PhaseContext):
        x = ctx.batch["x"]
        n = x.shape[0]
        keys = ctx.example_keys("sample", n)
        toks = _sample(ctx, ctx.params("G"), keys, s.temperature)
        d = ctx.state.nets["D"]
        d_logits = lambda t: d.module.apply({"params": d.params}, t, train=False)
        rewards = jax.lax.stop_gradient(rollout_rewards(_g(ctx), ctx.extra["rollout"], d_logits, toks, ctx.example_keys("rollout", n),
                                                        s.rollouts))
        lp = ctx.apply("G", toks, method="log_prob")
        # SeqGAN's loss is a sum over the batch and the tokens: -sum log G(x_t | x_<t) Q_t
        loss = -ctx.mean(jnp.sum(lp * rewards, axis=1)) * s.batch_size
        return loss, {"loss/g": loss / (s.batch_size * x.shape[1]), "reward/mean": ctx.mean(jnp.mean(rewards)),
                      "reward/last": ctx.mean(jnp.mean(rewards[:, -1]))}

    def update_rollout(state: TrainState, call_index) -> Any:
        r = s.rollout_update_rate
        new = jax.tree.map(lambda b, t: r * b + (1.0 - r) * t, state.extra["rollout"], state.nets["G"].params)
        return {**state.extra, "rollout": new}

    def g_gumbel(ctx: PhaseContext):
        real = ctx.batch["x"]
        n = real.shape[0]
        beta = _beta(ctx)
        _, soft = ctx.apply("G", ctx.example_keys("fake", n), beta, straight_through=s.straight_through, method="sample_gumbel")
        both = jnp.concatenate([jax.nn.one_hot(real, soft.shape[-1]), soft])
        logits, feats = ctx.apply("D", both, features=True, rngs={"dropout": ctx.key("dropout")})
        r, f = logits[:n], logits[n:]
        if s.gumbel_loss == "rsgan":
            loss = ctx.mean(jnp.mean(jax.nn.softplus(-(f - r))))  # -log sigmoid(D(G(z)) - D(x))
        elif s.gumbel_loss == "standard":
            loss = ctx.mean(jnp.mean(jax.nn.softplus(-f)))  # -log D(G(z))
        else:
            loss = mmd2(jax.lax.stop_gradient(feats[:n]), feats[n:])
        return loss, {"loss/g": loss, "gumbel/beta": beta}

    def d_gumbel(ctx: PhaseContext):
        real = ctx.batch["x"]
        n = real.shape[0]
        g = _g(ctx)
        _, soft = g.apply({"params": jax.lax.stop_gradient(ctx.params("G"))}, ctx.example_keys("fake", n), _beta(ctx),
                          straight_through=s.straight_through, method=g.sample_gumbel)
        logits = ctx.apply("D", jnp.concatenate([jax.nn.one_hot(real, soft.shape[-1]), soft]), rngs={"dropout": ctx.key("dropout")})
        r, f = logits[:n], logits[n:]
        if s.gumbel_loss == "rsgan":
            loss = ctx.mean(jnp.mean(jax.nn.softplus(-(r - f))))  # -log sigmoid(D(x) - D(G(z)))
        else:
            loss = ctx.mean(jnp.mean(d_loss_from_logits(r, f)))
        acc = ctx.mean(jnp.mean(jnp.concatenate([r > f, f < r]).astype(jnp.float32))) if s.gumbel_loss == "rsgan" else \
            ctx.mean(jnp.mean(jnp.concatenate([r > 0, f < 0]).astype(jnp.float32)))
        l2 = ctx.state.nets["D"].module.l2_loss(ctx.params("D"))
        return loss + s.d_l2 * l2, {"loss/d": loss, "d/accuracy": acc}

    if s.method == "mle":
        return (Phase("Gmle", g_mle, updates=("G",)),)
    phases = [
        Phase("Gmle", g_mle, updates=("G",), start=0, stop=s.pretrain_g_steps, after=copy_rollout),
        Phase("Dpre", d_step, updates=("D",), keys=("fake", "dropout"), start=s.pretrain_g_steps, stop=adv, after=copy_rollout),
    ]
    if s.method == "seqgan":
        phases += [
            Phase("Gpg", g_pg, updates=("G",), keys=("sample", "rollout"), start=adv, after=update_rollout),
            Phase("Dadv", d_step, updates=("D",), keys=("fake", "dropout"), start=adv, repeats=s.d_steps),
        ]
    else:
        phases += [
            Phase("Ggumbel", g_gumbel, updates=("G",), keys=("fake", "dropout"), start=adv),
            Phase("Dadv", d_gumbel, updates=("D",), keys=("fake", "dropout"), start=adv, repeats=s.d_steps),
        ]
    return tuple(phases)


def stages(spec: TextSpec) -> tuple[tuple[str, int, int | None], ...]:
    if spec.method == "mle":
        return (("pretrain G (MLE)", 0, None),)
    out = []
    if spec.pretrain_g_steps:
        out.append(("pretrain G (MLE)", 0, spec.pretrain_g_steps))
    if spec.pretrain_d_steps:
        out.append(("pretrain D", spec.pretrain_g_steps, spec.adv_start))
    out.append((f"adversarial ({spec.method})", spec.adv_start, None))
    return tuple(out)


def text_gan(*, generator: nn.Module, discriminator: nn.Module | None, g_tx: optax.GradientTransformation,
             d_tx: optax.GradientTransformation | None, spec: TextSpec, rng: Array, name: str = "text_gan",
             g_params: Any = None) -> tuple[Recipe, TrainState]:
    """The recipe and a fresh state; ``g_params`` replaces G's initial parameters (a pre-trained G)."""
    seq = jnp.zeros((1, generator.seq_len), jnp.int32)

    def build_g(key):
        net = init_network(generator, g_tx, key, seq)
        if g_params is not None:
            net = net.replace(params=g_params, opt_state=g_tx.init(g_params))
        return net

    networks = {"G": build_g}
    if spec.method != "mle":
        if discriminator is None or d_tx is None:
            raise ValueError(f"method {spec.method!r} needs a discriminator")
        networks["D"] = lambda key: init_network(discriminator, d_tx, key, seq)
    extra = (lambda nets: {"rollout": jax.tree.map(jnp.copy, nets["G"].params)}) if spec.method == "seqgan" else None
    state = init_state(rng, networks, extra)
    recipe = Recipe(name=name, phases=_phases(spec), generator="G", stages=stages(spec))
    return recipe, state


def switch_at(boundary: int, first: optax.GradientTransformation, second: optax.GradientTransformation) -> optax.GradientTransformation:
    """``first`` for the first ``boundary`` updates, then ``second`` with its own fresh state
    (SeqGAN and RelGAN use separate optimizers for pre-training and adversarial training)."""

    def init(params):
        return (jnp.zeros((), jnp.int32), first.init(params), second.init(params))

    def update(updates, state, params=None):
        count, s1, s2 = state
        u1, n1 = first.update(updates, s1, params)
        u2, n2 = second.update(updates, s2, params)
        use_first = count < boundary
        pick = lambda a, b: jax.tree.map(lambda x, y: jnp.where(use_first, x, y), a, b)
        return pick(u1, u2), (count + 1, pick(n1, s1), pick(s2, n2))

    return optax.GradientTransformation(init, update)


def mean_nll(model: nn.Module, params, tokens, batch_size: int = 1000) -> float:
    """Mean per-token negative log-likelihood of ``tokens`` (N, L) under ``model`` (float64 sum)."""
    import numpy as np

    fn = _nll_fn(model)
    total = 0.0
    for i in range(0, len(tokens), batch_size):
        total += float(np.sum(np.asarray(fn(params, jnp.asarray(tokens[i : i + batch_size])), np.float64)))
    return total / (len(tokens) * tokens.shape[1])


_NLL_FNS: dict = {}


def _nll_fn(model):
    if model not in _NLL_FNS:
        _NLL_FNS[model] = jax.jit(lambda p, t: -model.apply({"params": p}, t, method=model.log_prob))
    return _NLL_FNS[model]

