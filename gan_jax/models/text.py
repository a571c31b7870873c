"""Sequence models for text GANs: SeqGAN's LSTM generator and its CNN (or an LSTM) discriminator.

``LSTMGenerator`` is the generator of SeqGAN (Yu et al. 2017) and, with the oracle's published
parameters, the oracle itself: an LSTM without peepholes whose gates are ``x W + h U + b``
(``row @ matrix``, the parameter names of SeqGAN's ``target_params``), fed the embedding of
the previous token (token 0, the start token, at t = 0) and read out by ``h W_out + b_out``.
Sampling, rollouts and the Gumbel-softmax relaxation are ``lax.scan`` loops inside one
compiled call: no Python loop over tokens or rollouts.

Token sampling uses the inverse CDF with one uniform per token (``sample_tokens``), not
Gumbel-max: the rollouts of one SeqGAN step draw ~20k sequences x 20 tokens over 5,000 words,
and one uniform per token instead of 5,000 makes them several times cheaper on CPU.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["LSTMGenerator", "SeqGANDiscriminator", "LSTMDiscriminator", "sample_tokens", "GATES", "SEQGAN_FILTERS"]

#: gate suffixes in SeqGAN's order: input, forget, output, candidate
GATES = ("i", "f", "o_gate", "c")
#: SeqGAN's discriminator: (filter width, number of filters)
SEQGAN_FILTERS = ((1, 100), (2, 200), (3, 200), (4, 200), (5, 200), (6, 100), (7, 100), (8, 100), (9, 100), (10, 100),
                  (15, 160), (20, 160))


def sample_tokens(u: Array, logits: Array, temperature: float = 1.0, top_k: int = 0) -> Array:
    """One token per row of ``logits`` (..., V) from softmax(logits / temperature), optionally
    restricted to the ``top_k`` most likely tokens: the inverse CDF at the row's uniform ``u`` (...)."""
    logits = logits.astype(jnp.float32) / temperature
    if top_k:
        kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    cdf = jnp.cumsum(jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True)), axis=-1)
    return jnp.minimum(jnp.sum(cdf <= u[..., None] * cdf[..., -1:], axis=-1), logits.shape[-1] - 1).astype(jnp.int32)


def _per_row(keys: Array, t: Array, draw) -> Array:
    """``draw(key)`` for every row's key folded with step ``t``: draws do not depend on how rows are batched."""
    return jax.vmap(lambda k: draw(jax.random.fold_in(k, t)))(keys)


class LSTMGenerator(nn.Module):
    """SeqGAN's generator (and oracle): embedding, LSTM, softmax over the vocabulary.

    ``__call__(tokens)`` gives the teacher-forced logits (B, L, V) of ``tokens`` (B, L);
    ``log_prob`` the per-token log-likelihoods; ``sample`` draws sequences (with an optional
    given prefix per row: SeqGAN's rollouts); ``sample_gumbel`` draws them with the
    Gumbel-softmax relaxation (RelGAN) so gradients reach G through D.
    """

    vocab_size: int = 5000
    emb_dim: int = 32
    hidden_dim: int = 32
    seq_len: int = 20
    start_token: int = 0
    #: SeqGAN draws every parameter, biases included, from N(0, 0.1)
    init_std: float = 0.1

    def setup(self):
        init = nn.initializers.normal(self.init_std)
        e, h, v = self.emb_dim, self.hidden_dim, self.vocab_size
        self.embedding = self.param("embedding", init, (v, e))
        self.W = [self.param(f"W{g}", init, (e, h)) for g in GATES]
        self.U = [self.param(f"U{g}", init, (h, h)) for g in GATES]
        self.b = [self.param(f"b{g}", init, (h,)) for g in GATES]
        self.W_out = self.param("W_out", init, (h, v))
        self.b_out = self.param("b_out", init, (v,))

    # -- the recurrence --------------------------------------------------------------------------
    def _packed(self):
        return jnp.concatenate(self.W, 1), jnp.concatenate(self.U, 1), jnp.concatenate(self.b, 0)

    @staticmethod
    def _cell(packed, x, h, c):
        W, U, b = packed
        i, f, o, g = jnp.split(x @ W + h @ U + b, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return h, c

    def _zeros(self, n):
        z = jnp.zeros((n, self.hidden_dim), jnp.float32)
        return z, z

    def _start(self, n):
        return jnp.broadcast_to(jnp.asarray(self.embedding)[self.start_token], (n, self.emb_dim))

    def __call__(self, tokens: Array, train: bool = False) -> Array:
        """Teacher-forced logits (B, L, V): step t sees tokens[:, :t]."""
        del train
        n = tokens.shape[0]
        packed = self._packed()
        inputs = jnp.concatenate([self._start(n)[None], jnp.swapaxes(jnp.take(self.embedding, tokens[:, :-1], axis=0), 0, 1)], 0)

        def step(carry, x):
            h, c = self._cell(packed, x, *carry)
            return (h, c), h

        _, hs = jax.lax.scan(step, self._zeros(n), inputs)
        return jnp.swapaxes(hs, 0, 1) @ self.W_out + self.b_out

    def log_prob(self, tokens: Array, train: bool = False) -> Array:
        """log p(tokens[:, t] | tokens[:, :t]) for every t: (B, L)."""
        logp = jax.nn.log_softmax(self(tokens, train=train), axis=-1)
        return jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]

    def sample(self, keys: Array, temperature: float = 1.0, top_k: int = 0, prefix: Array | None = None,
               prefix_len: Array | None = None) -> Array:
        """One sequence (L,) per key of ``keys`` (N,): (N, L) int32. With ``prefix`` (N, L) and
        ``prefix_len`` (N,), row n keeps ``prefix[n, :prefix_len[n]]`` and samples the rest (a rollout)."""
        packed = self._packed()
        num = keys.shape[0]
        given = prefix is not None

        def step(carry, t):
            (h, c), x = carry
            h, c = self._cell(packed, x, h, c)
            u = _per_row(keys, t, jax.random.uniform)
            tok = sample_tokens(u, h @ self.W_out + self.b_out, temperature, top_k)
            if given:
                tok = jnp.where(t < prefix_len, prefix[:, t], tok)
            return ((h, c), jnp.take(self.embedding, tok, axis=0)), tok

        _, toks = jax.lax.scan(step, (self._zeros(num), self._start(num)), jnp.arange(self.seq_len))
        return jnp.swapaxes(toks, 0, 1)

    def sample_gumbel(self, keys: Array, beta: Array, straight_through: bool = False, train: bool = False) -> tuple[Array, Array]:
        """Gumbel-softmax samples: (tokens (num, L), relaxed one-hots (num, L, V)).

        Token t is ``argmax(o_t + g_t)`` with Gumbel noise ``g_t`` (an exact sample); its
        relaxation is ``softmax(beta (o_t + g_t))`` (RelGAN's inverse temperature ``beta``); the
        next step is fed the sampled token's embedding. ``straight_through``: the one-hot
        forward, the relaxed gradient.
        """
        packed = self._packed()
        num = keys.shape[0]

        def step(carry, t):
            (h, c), x = carry
            h, c = self._cell(packed, x, h, c)
            logits = h @ self.W_out + self.b_out
            y = logits + _per_row(keys, t, lambda k: jax.random.gumbel(k, (self.vocab_size,)))
            tok = jnp.argmax(y, axis=-1).astype(jnp.int32)
            soft = jax.nn.softmax(beta * y, axis=-1)
            if straight_through:
                soft = gumbel_straight_through(tok, soft)
            return ((h, c), jnp.take(self.embedding, tok, axis=0)), (tok, soft)

        _, (toks, soft) = jax.lax.scan(step, (self._zeros(num), self._start(num)), jnp.arange(self.seq_len))
        return jnp.swapaxes(toks, 0, 1), jnp.swapaxes(soft, 0, 1)


def gumbel_straight_through(tokens: Array, soft: Array) -> Array:
    """One-hot of ``tokens`` in the forward pass, the gradient of ``soft`` in the backward pass."""
    hard = jax.nn.one_hot(tokens, soft.shape[-1], dtype=soft.dtype)
    return hard + (soft - jax.lax.stop_gradient(soft))  # exactly one-hot forward: soft - soft = 0


def _embed(embedding: Array, x: Array) -> Array:
    """Token ids (B, L) -> embeddings; (relaxed) one-hots (B, L, V) -> their mixture of embeddings."""
    if jnp.issubdtype(x.dtype, jnp.integer):
        return embedding[x]
    return x @ embedding


class SeqGANDiscriminator(nn.Module):
    """SeqGAN's CNN discriminator (after Kim 2014): embedding, one convolution per filter width
    over the whole embedding, ReLU, max over time, a highway layer, dropout, 2-way softmax.

    Returns ``logit = score_real - score_fake`` (B,) (so ``sigmoid(logit)`` is the paper's
    probability of real); ``features=True`` also returns the highway features. Inputs are token
    ids (B, L) or relaxed one-hots (B, L, V). ``l2_loss(params)`` is the paper's L2 term (output
    layer only, ``tf.nn.l2_loss`` = sum(x^2) / 2).
    """

    vocab_size: int = 5000
    emb_dim: int = 64
    filters: Sequence[tuple[int, int]] = SEQGAN_FILTERS
    #: SeqGAN: keep probability 0.75
    dropout: float = 0.25

    @nn.compact
    def __call__(self, x: Array, train: bool = False, features: bool = False):
        emb = self.param("embedding", _uniform_pm1, (self.vocab_size, self.emb_dim))
        e = _embed(emb, x)
        length = e.shape[1]
        pooled = []
        for width, n in self.filters:
            if width > length:
                raise ValueError(f"filter width {width} exceeds the sequence length {length}")
            conv = nn.Conv(n, (width,), padding="VALID", kernel_init=nn.initializers.truncated_normal(0.1),
                           bias_init=nn.initializers.constant(0.1), name=f"conv{width}")
            pooled.append(jnp.max(nn.relu(conv(e)), axis=1))
        h = jnp.concatenate(pooled, -1)
        size = h.shape[-1]
        # highway with gate bias 0 (SeqGAN calls highway(..., bias=0)): t * relu(W h) + (1 - t) * h
        g = nn.relu(nn.Dense(size, name="highway_lin")(h))
        t = jax.nn.sigmoid(nn.Dense(size, name="highway_gate")(h))
        h = t * g + (1.0 - t) * h
        feats = h
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        scores = nn.Dense(2, kernel_init=nn.initializers.truncated_normal(0.1), bias_init=nn.initializers.constant(0.1),
                          name="output")(h)
        logit = scores[:, 1] - scores[:, 0]
        return (logit, feats) if features else logit

    @staticmethod
    def l2_loss(params) -> Array:
        out = params["output"]
        return 0.5 * (jnp.sum(out["kernel"] ** 2) + jnp.sum(out["bias"] ** 2))


def _uniform_pm1(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


class LSTMDiscriminator(nn.Module):
    """An LSTM discriminator (the option of several SeqGAN reimplementations): embedding, LSTM,
    the last hidden state through a linear layer to one logit."""

    vocab_size: int = 5000
    emb_dim: int = 64
    hidden_dim: int = 64
    dropout: float = 0.25

    @nn.compact
    def __call__(self, x: Array, train: bool = False, features: bool = False):
        emb = self.param("embedding", _uniform_pm1, (self.vocab_size, self.emb_dim))
        e = _embed(emb, x)
        h = nn.RNN(nn.OptimizedLSTMCell(self.hidden_dim), name="lstm")(e)[:, -1]
        feats = h
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        logit = nn.Dense(1, name="output")(h)[:, 0]
        return (logit, feats) if features else logit

    @staticmethod
    def l2_loss(params) -> Array:
        out = params["output"]
        return 0.5 * (jnp.sum(out["kernel"] ** 2) + jnp.sum(out["bias"] ** 2))
