"""Fréchet distance between Gaussians fitted to features (FID, Heusel et al. 2017).

``frechet_distance`` has the definition of pytorch-fid / TTUR::

    d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2))

pytorch-fid takes ``scipy.linalg.sqrtm`` of the non-symmetric product ``S1 S2`` on the
host. Here only its trace is needed, and for PSD ``S1 = A A^T`` (``A = V diag(sqrt w)``
from ``eigh(S1)``) the non-zero eigenvalues of ``S1 S2`` are those of the symmetric PSD
matrix ``A^T S2 A``, so::

    Tr(sqrtm(S1 S2)) = sum_i sqrt(max(lambda_i(A^T S2 A), 0))

Two ``eigh`` calls in float64 on the default device (``jax.enable_x64`` is switched on
only inside this module's calls; the global setting is left alone). This handles
rank-deficient covariances (fewer samples than dimensions), where ``sqrtm`` of a
singular product is ill-conditioned. pytorch-fid's fallback is kept: if the result is
not finite, ``eps * I`` is added to both covariances inside the square root and it is
computed again (the trace terms keep the original covariances, as there).

``StreamingStats`` accumulates the mean and (ddof=1) covariance of features batch by
batch in float64 on the host, so 50k x 2048 features never need to be held at once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_HIGHEST = jax.lax.Precision.HIGHEST


@jax.jit
def _trace_sqrt_product(sigma1: jax.Array, sigma2: jax.Array) -> jax.Array:
    """Tr(sqrtm(sigma1 @ sigma2)) for symmetric PSD inputs (call under ``enable_x64``)."""
    sigma1 = 0.5 * (sigma1 + sigma1.T)
    sigma2 = 0.5 * (sigma2 + sigma2.T)
    w, v = jnp.linalg.eigh(sigma1)
    a = v * jnp.sqrt(jnp.clip(w, 0.0, None))[None, :]  # sigma1 = a @ a.T
    m = jnp.matmul(jnp.matmul(a.T, sigma2, precision=_HIGHEST), a, precision=_HIGHEST)
    lam = jnp.linalg.eigvalsh(0.5 * (m + m.T))
    return jnp.sum(jnp.sqrt(jnp.clip(lam, 0.0, None)))


def _as_f64(x, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def trace_sqrt_product(sigma1, sigma2) -> float:
    """Tr(sqrtm(sigma1 @ sigma2)) for symmetric PSD covariances, in float64 on device."""
    s1 = _as_f64(sigma1, "sigma1", 2)
    s2 = _as_f64(sigma2, "sigma2", 2)
    if s1.shape != s2.shape or s1.shape[0] != s1.shape[1]:
        raise ValueError(f"covariances must be square and of equal shape, got {s1.shape} and {s2.shape}")
    with jax.enable_x64(True):
        return float(_trace_sqrt_product(jnp.asarray(s1), jnp.asarray(s2)))


def frechet_distance(mu1, sigma1, mu2, sigma2, *, eps: float = 1e-6) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (the FID value).

    Args:
        mu1, mu2: means, shape (d,).
        sigma1, sigma2: covariances, shape (d, d), symmetric positive semi-definite.
        eps: diagonal offset added to both covariances (inside the square root only)
            when the first attempt is not finite, as in pytorch-fid.

    Returns:
        The distance as a Python float (float64 arithmetic throughout).
    """
    mu1 = _as_f64(mu1, "mu1", 1)
    mu2 = _as_f64(mu2, "mu2", 1)
    s1 = _as_f64(sigma1, "sigma1", 2)
    s2 = _as_f64(sigma2, "sigma2", 2)
    d = mu1.shape[0]
    if mu2.shape != (d,):
        raise ValueError(f"mu1 and mu2 have different shapes: {mu1.shape} vs {mu2.shape}")
    if s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"covariances must have shape ({d}, {d}), got {s1.shape} and {s2.shape}")

    with jax.enable_x64(True):
        tr_covmean = float(_trace_sqrt_product(jnp.asarray(s1), jnp.asarray(s2)))
        if not np.isfinite(tr_covmean):
            offset = np.eye(d) * eps
            tr_covmean = float(_trace_sqrt_product(jnp.asarray(s1 + offset), jnp.asarray(s2 + offset)))

    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


class StreamingStats(NamedTuple):
    """Running mean / covariance of feature vectors (float64, host), merged batch-wise.

    Pure: ``update`` returns a new value. Batches are merged with Chan et al.'s parallel
    update (count, mean, centred sum of outer products ``m2``), which avoids the
    cancellation of the raw ``sum(x x^T) - n mu mu^T`` form::

        stats = StreamingStats.init(2048)
        for feats in batches:                      # (B, 2048) NumPy or JAX arrays
            stats = StreamingStats.update(stats, feats)   # or stats.update(feats)
        mu, sigma = StreamingStats.finalize(stats)        # sigma == np.cov(all, rowvar=False)
    """

    count: int
    mean: np.ndarray  # (d,) float64
    m2: np.ndarray  # (d, d) float64, sum over samples of (x - mean)(x - mean)^T

    @staticmethod
    def init(dim: int) -> "StreamingStats":
        return StreamingStats(0, np.zeros((dim,), np.float64), np.zeros((dim, dim), np.float64))

    def update(self, features_batch) -> "StreamingStats":
        x = np.asarray(features_batch, dtype=np.float64)
        dim = self.mean.shape[0]
        if x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(f"features_batch must have shape (B, {dim}), got {x.shape}")
        nb = x.shape[0]
        if nb == 0:
            return self
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        m2_b = xc.T @ xc
        n = self.count + nb
        delta = mean_b - self.mean
        mean = self.mean + delta * (nb / n)
        m2 = self.m2 + m2_b + np.outer(delta, delta) * (self.count * nb / n)
        return StreamingStats(n, mean, m2)

    def finalize(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma): the mean and the unbiased (ddof=1) covariance, as ``np.cov``."""
        if self.count < 2:
            raise ValueError(f"need at least 2 samples for a covariance, got {self.count}")
        sigma = self.m2 / (self.count - 1)
        return self.mean.copy(), 0.5 * (sigma + sigma.T)
