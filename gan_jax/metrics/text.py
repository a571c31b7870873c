"""BLEU and Self-BLEU of generated token sequences, as in the Texygen benchmark (Zhu et al. 2018).

Numbers are NLTK's: the mean over hypotheses of ``nltk.translate.bleu_score.sentence_bleu``
with uniform weights ``(1/n,) * n`` and ``SmoothingFunction().method1``. NLTK recounts every
reference's n-grams for every hypothesis (Self-BLEU: quadratic in the sample count).
This module counts the references once - the maximum count of each n-gram over the references,
and their lengths - and then evaluates NLTK's own formula (its ``Fraction``, ``brevity_penalty``
and smoothing function) on the same integers: the same numbers, bit for bit.

Self-BLEU (diversity; lower is more diverse) scores each sample against all the other samples,
as Texygen's fast Self-BLEU does; with more than ``max_samples`` samples a fixed random subset
is scored against the rest of that subset.
"""

from __future__ import annotations

import collections
import math
from typing import Hashable, Sequence

import numpy as np
from nltk.translate.bleu_score import Fraction, SmoothingFunction, brevity_penalty

__all__ = ["bleu", "self_bleu", "text_bleu_metrics"]

Tokens = Sequence[Hashable]
_SMOOTHING = SmoothingFunction().method1


def _ngram_counts(tokens: Tokens, n: int) -> collections.Counter:
    return collections.Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _closest_length(lengths: Sequence[int], hyp_len: int) -> int:
    """NLTK's ``closest_ref_length`` over the distinct reference lengths (ties to the shorter)."""
    return min(lengths, key=lambda r: (abs(r - hyp_len), r))


def _sentence_bleu(hyp_len: int, hyp_counts: Sequence[collections.Counter], max_counts: Sequence[dict],
                   ref_lengths: Sequence[int], orders: Sequence[int], self_excluded: bool = False) -> list[float]:
    """NLTK's ``sentence_bleu`` of one hypothesis for each order in ``orders``.

    ``hyp_counts[k]`` counts the hypothesis's (k+1)-grams and ``max_counts[k]`` maps a
    (k+1)-gram to its maximum count over the references. For Self-BLEU (``self_excluded``) the
    hypothesis is one of the samples and the references are all the others: then
    ``max_counts[k]`` maps an n-gram to [best count, how many samples have it, best count among
    the samples without the best], so the maximum over the *other* samples is read off without
    recounting.
    """
    numerators, denominators = [], []
    for counts, table in zip(hyp_counts, max_counts):
        clipped = 0
        for gram, count in counts.items():
            if self_excluded:
                first, holders, second = table[gram]
                best = second if holders == 1 and count == first else first
            else:
                best = table.get(gram, 0)
            clipped += min(count, best)
        numerators.append(clipped)
        denominators.append(max(1, sum(counts.values())))
    if numerators[0] == 0:  # NLTK: no unigram match, BLEU 0 whatever the smoothing
        return [0.0] * len(orders)
    bp = brevity_penalty(_closest_length(ref_lengths, hyp_len), hyp_len)
    out = []
    for n in orders:
        p_n = [Fraction(numerators[i], denominators[i], _normalize=False) for i in range(n)]
        p_n = _SMOOTHING(p_n, hyp_len=hyp_len)
        weight = (1 / n,) * n
        out.append(float(bp * math.exp(math.fsum(w * math.log(p) for w, p in zip(weight, p_n) if p > 0))))
    return out


def _means(scores: list[list[float]]) -> list[float]:
    """Per-order mean over hypotheses, summed in order as Texygen does (``sum(bleu) / len(bleu)``)."""
    return [sum(column) / len(column) for column in zip(*scores)]


def _max_counts(references: Sequence[Tokens], top: int) -> list[dict]:
    tables: list[dict] = [{} for _ in range(top)]
    for ref in references:
        for k in range(top):
            table = tables[k]
            for gram, count in _ngram_counts(ref, k + 1).items():
                if count > table.get(gram, 0):
                    table[gram] = count
    return tables


def _check_orders(orders: Sequence[int]) -> list[int]:
    orders = [int(n) for n in orders]
    if not orders or min(orders) < 1:
        raise ValueError(f"BLEU orders must be >= 1, got {orders}")
    return orders


def _bleu_orders(hypotheses: Sequence[Tokens], references: Sequence[Tokens], orders: Sequence[int]) -> list[float]:
    orders = _check_orders(orders)
    if not hypotheses or not references:
        raise ValueError("BLEU needs at least one hypothesis and one reference")
    tables = _max_counts(references, max(orders))
    lengths = sorted({len(r) for r in references})
    top = max(orders)
    scores = [_sentence_bleu(len(h), [_ngram_counts(h, k + 1) for k in range(top)], tables, lengths, orders)
              for h in hypotheses]
    return _means(scores)


def _self_bleu_orders(samples: Sequence[Tokens], orders: Sequence[int]) -> list[float]:
    orders = _check_orders(orders)
    if len(samples) < 2:
        raise ValueError(f"Self-BLEU needs at least 2 samples, got {len(samples)}")
    top = max(orders)
    # per order: n-gram -> [best count, number of samples with that count, best count below it]
    tables: list[dict] = [{} for _ in range(top)]
    own = [[_ngram_counts(s, k + 1) for k in range(top)] for s in samples]
    for counts in own:
        for table, order_counts in zip(tables, counts):
            for gram, count in order_counts.items():
                entry = table.get(gram)
                if entry is None:
                    table[gram] = [count, 1, 0]
                elif count > entry[0]:
                    entry[:] = [count, 1, entry[0]]
                elif count == entry[0]:
                    entry[1] += 1
                elif count > entry[2]:
                    entry[2] = count
    length_counts = collections.Counter(len(s) for s in samples)
    scores = []
    for sample, counts in zip(samples, own):
        lengths = [r for r, c in length_counts.items() if c > 1 or r != len(sample)]
        scores.append(_sentence_bleu(len(sample), counts, tables, lengths, orders, self_excluded=True))
    return _means(scores)


def _subsample(items: Sequence[Tokens], max_samples: int, seed: int) -> list[Tokens]:
    """At most ``max_samples`` of ``items``: all of them, or a fixed random subset in their order."""
    if max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    if len(items) <= max_samples:
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), max_samples, replace=False))
    return [items[i] for i in keep]


def bleu(hypotheses: Sequence[Tokens], references: Sequence[Tokens], n: int) -> float:
    """BLEU-n (quality): the mean over hypotheses of NLTK's smoothed (method1) sentence BLEU against all references."""
    return _bleu_orders(hypotheses, references, [n])[0]


def self_bleu(samples: Sequence[Tokens], n: int, max_samples: int = 500, seed: int = 0) -> float:
    """Self-BLEU-n (Texygen; lower = more diverse): BLEU-n of each sample against all the other samples.

    With more than ``max_samples`` samples, a fixed random subset (``seed``) is scored against
    the rest of the subset.
    """
    return _self_bleu_orders(_subsample(samples, max_samples, seed), [n])[0]


def text_bleu_metrics(samples: Sequence[Tokens], references: Sequence[Tokens], orders: Sequence[int] = (2, 3, 4),
                      max_samples: int = 500, seed: int = 0) -> dict[str, float]:
    """``bleu{n}`` and ``self_bleu{n}`` for each order: up to ``max_samples`` samples (a fixed
    random subset) against all ``references`` (e.g. held-out lines), and against each other."""
    subset = _subsample(samples, max_samples, seed)
    out = {f"bleu{n}": s for n, s in zip(orders, _bleu_orders(subset, references, orders))}
    out.update({f"self_bleu{n}": s for n, s in zip(orders, _self_bleu_orders(subset, orders))})
    return out
