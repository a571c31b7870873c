"""Samples and metrics of text generators (driver and CLI side).

* ``generate_tokens``: sequences from G, batched, one key per sequence from ``seed``.
* ``text_metrics``: on the SeqGAN oracle, ``nll_oracle`` (mean per-token NLL of ``num``
  generated sequences under the oracle; lower = more realistic) and ``nll_gen`` (G's per-token
  NLL of the 10,000 held-out oracle sequences; lower = better coverage); on real text,
  ``nll_gen`` on the held-out lines and BLEU-2..4 against them plus Self-BLEU-2..4 (diversity;
  lower = more diverse), NLTK's BLEU as in Texygen (``gan_jax.metrics.text``).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from gan_jax.engine import Recipe, TrainState

__all__ = ["generate_tokens", "decode", "text_metrics", "write_text", "encode_prefix"]


def _sampler(module):
    key = ("sample", module)
    if key not in _FNS:
        _FNS[key] = jax.jit(lambda p, keys, temperature, top_k, prefix, plen: module.apply(
            {"params": p}, keys, temperature, top_k, prefix, plen, method=module.sample), static_argnames=("top_k",))
    return _FNS[key]


_FNS: dict = {}


def generate_tokens(recipe: Recipe, state: TrainState, num: int, *, seed: int = 0, temperature: float = 1.0, top_k: int = 0,
                    prefix: np.ndarray | None = None, batch_size: int = 1000) -> np.ndarray:
    """``num`` sequences (num, L) int32 from the generator; ``prefix`` (P,) tokens every sequence starts with."""
    net = state.nets[recipe.generator]
    g = net.module
    keys = jax.random.split(jax.random.PRNGKey(seed), num)
    fn = _sampler(g)
    out = []
    for i in range(0, num, batch_size):
        k = keys[i : i + batch_size]
        n = k.shape[0]
        if prefix is not None and len(prefix):
            pre = np.zeros((n, g.seq_len), np.int32)
            pre[:, : len(prefix)] = prefix
            plen = np.full((n,), len(prefix), np.int32)
        else:
            pre, plen = np.zeros((n, g.seq_len), np.int32), np.zeros((n,), np.int32)
        out.append(np.asarray(fn(net.params, k, temperature, top_k, pre, plen)))
    return np.concatenate(out)


def decode(dataset, tokens: np.ndarray) -> list[str]:
    """Text lines (real text) or space-separated token ids (the oracle)."""
    vocab = dataset.text.vocab
    if vocab is None:
        return [" ".join(str(int(t)) for t in row) for row in tokens]
    return [vocab.decode(row) for row in tokens]


def encode_prefix(dataset, text: str) -> np.ndarray:
    """A prompt as token ids (raises ``DatasetError`` on a token outside the vocabulary)."""
    from gan_jax.config import UserError
    from gan_jax.data.text import tokenize

    info = dataset.text
    if info.vocab is None:
        try:
            ids = [int(t) for t in text.split()]
        except ValueError:
            raise UserError(f"--prefix for {dataset.name!r} is space-separated token ids, got {text!r}") from None
        bad = [i for i in ids if not 0 <= i < info.vocab_size]
        if bad:
            raise UserError(f"--prefix token {bad[0]} is outside the vocabulary 0..{info.vocab_size - 1}")
    else:
        ids = info.vocab.encode(tokenize(text, info.vocab.level))
    if len(ids) >= info.seq_len:
        raise UserError(f"--prefix has {len(ids)} tokens; sequences have {info.seq_len}, so at most {info.seq_len - 1} can be given")
    return np.asarray(ids, np.int32)


def _tokens_of(dataset, rows: np.ndarray) -> list[list[str]]:
    from gan_jax.data.text import PAD

    out = []
    for row in rows:
        row = [int(t) for t in row]
        if PAD in row:
            row = row[: row.index(PAD)]
        out.append([str(t) for t in row] if dataset.text.vocab is None else [dataset.text.vocab.tokens[t] for t in row])
    return out


def text_metrics(recipe: Recipe, state: TrainState, dataset, *, num: int = 10000, seed: int = 0, bleu_samples: int = 500) -> dict[str, float]:
    """The metrics of the module docstring for the generator of ``state``."""
    from gan_jax.recipes.text import mean_nll

    info = dataset.text
    g = state.nets[recipe.generator]
    out = {"nll_gen": mean_nll(g.module, g.params, info.held_out)}
    samples = generate_tokens(recipe, state, num, seed=seed)
    if info.oracle is not None:
        from gan_jax.data.oracle import oracle_model

        out["nll_oracle"] = mean_nll(oracle_model(), info.oracle, samples)
    else:
        from gan_jax.metrics.text import text_bleu_metrics

        out.update(text_bleu_metrics(_tokens_of(dataset, samples[:bleu_samples]), _tokens_of(dataset, info.held_out), max_samples=bleu_samples,
                                     seed=seed))
    return out


def write_text(lines: list[str], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return path
