"""Kernel Inception Distance (Bińkowski et al. 2018), as in NVIDIA's stylegan2-ada.

Unbiased MMD^2 with the cubic polynomial kernel ``k(x, y) = (x . y / d + 1)^3``,
averaged over ``num_subsets`` random subsets of ``m = min(n_real, n_fake, subset_size)``
samples. Per subset (stylegan2-ada ``metrics/kernel_inception_distance.py``)::

    a = k(x, x) + k(y, y)                 # m x m
    b = k(x, y)                           # m x m
    t = (a.sum() - diag(a).sum()) / (m - 1) - 2 b.sum() / m
    kid_subset = t / m

where ``x`` is the fake subset and ``y`` the real subset; subsets are drawn without
replacement with ``np.random.default_rng(seed)``, fake indices then real indices for each
subset in turn. Kernel sums run on the device in float64 (the value is a small
difference of large sums).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_HIGHEST = jax.lax.Precision.HIGHEST


@jax.jit
def _kid_per_subset(fake, real, fake_idx, real_idx):
    """(num_subsets,) per-subset KID values; call under ``enable_x64``."""
    n = real.shape[1]
    m = fake_idx.shape[1]

    def kernel(a, b):
        return (jnp.matmul(a, b.T, precision=_HIGHEST) / n + 1.0) ** 3

    def one(idx):
        fi, ri = idx
        x = fake[fi].astype(jnp.float64)
        y = real[ri].astype(jnp.float64)
        kxx = kernel(x, x)
        kyy = kernel(y, y)
        off_diag = kxx.sum() - jnp.trace(kxx) + kyy.sum() - jnp.trace(kyy)
        t = off_diag / (m - 1) - kernel(x, y).sum() * 2.0 / m
        return t / m

    return jax.lax.map(one, (fake_idx, real_idx))


def kid_subset_indices(num_real: int, num_fake: int, *, num_subsets: int = 100, subset_size: int = 1000,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(fake_idx, real_idx), each (num_subsets, m) int, exactly as ``kernel_inception_distance`` draws them."""
    m = min(num_real, num_fake, subset_size)
    rng = np.random.default_rng(seed)
    fake_idx = np.empty((num_subsets, m), np.int64)
    real_idx = np.empty((num_subsets, m), np.int64)
    for s in range(num_subsets):
        fake_idx[s] = rng.choice(num_fake, m, replace=False)
        real_idx[s] = rng.choice(num_real, m, replace=False)
    return fake_idx, real_idx


def kernel_inception_distance(real_features, fake_features, *, num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID between feature sets of shape (N_real, d) and (N_fake, d).

    Returns:
        ``(kid_mean, kid_std)``: mean and standard deviation (ddof=0) of the per-subset
        unbiased MMD^2 estimates. ``kid_mean`` is the stylegan2-ada value.
    """
    real = np.asarray(real_features)
    fake = np.asarray(fake_features)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, d) with equal d, got {real.shape} and {fake.shape}")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    m = min(real.shape[0], fake.shape[0], subset_size)
    if m < 2:
        raise ValueError(f"need subsets of at least 2 samples, got m={m}")
    fake_idx, real_idx = kid_subset_indices(real.shape[0], fake.shape[0], num_subsets=num_subsets,
                                            subset_size=subset_size, seed=seed)
    if not np.issubdtype(real.dtype, np.floating):
        real = real.astype(np.float32)
    if not np.issubdtype(fake.dtype, np.floating):
        fake = fake.astype(np.float32)
    with jax.enable_x64(True):
        per_subset = np.asarray(_kid_per_subset(jnp.asarray(fake), jnp.asarray(real),
                                                jnp.asarray(fake_idx, jnp.int32), jnp.asarray(real_idx, jnp.int32)),
                                np.float64)
    return float(per_subset.mean()), float(per_subset.std())
