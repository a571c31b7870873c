"""Inception Score (Salimans et al. 2016) from classifier probabilities.

As in the original OpenAI implementation: the N samples are cut into ``num_splits``
contiguous splits ``probs[i*N//S : (i+1)*N//S]``; per split, with ``p(y)`` the split's
mean prediction, ``IS_i = exp(mean_x KL(p(y|x) || p(y)))``. Returns the mean and
standard deviation (ddof=0) over splits. ``0 * log 0`` terms are taken as 0 (``xlogy``),
so exactly-zero probabilities need no eps; the arithmetic is float64 on the device.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy


@jax.jit
def _mean_kl(part):
    """mean_x KL(p(y|x) || p(y)) for one split of shape (n, C); call under ``enable_x64``."""
    py = jnp.mean(part, axis=0, keepdims=True)
    kl = xlogy(part, part) - xlogy(part, py)  # p > 0 implies p(y) > 0, so this is finite
    return jnp.mean(jnp.sum(kl, axis=1))


def inception_score(probs, *, num_splits: int = 10) -> tuple[float, float]:
    """``(is_mean, is_std)`` for class probabilities ``probs`` of shape (N, C), rows summing to 1."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must have shape (N, C), got {p.shape}")
    n = p.shape[0]
    if num_splits < 1 or n < num_splits:
        raise ValueError(f"need 1 <= num_splits <= N, got num_splits={num_splits}, N={n}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contains non-finite values")
    p = np.clip(p, 0.0, None)
    scores = []
    with jax.enable_x64(True):
        for i in range(num_splits):
            part = p[i * n // num_splits:(i + 1) * n // num_splits]
            scores.append(float(np.exp(float(_mean_kl(jnp.asarray(part))))))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())
