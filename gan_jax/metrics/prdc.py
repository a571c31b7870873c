"""Improved precision/recall and density/coverage of generated features.

Formulas of the reference ``prdc`` package (clovaai/generative-evaluation-prdc), with
``r_k(z)`` the distance from ``z`` to its k-th nearest neighbour within its own set (the
(k+1)-th smallest distance, the point itself counting as the first) and strict ``<``:

* precision (Kynkäänniemi et al. 2019): fraction of fakes ``f`` with
  ``||f - r|| < r_k(r)`` for some real ``r`` (``f`` lies inside the real manifold);
* recall: fraction of reals ``r`` with ``||r - f|| < r_k(f)`` for some fake ``f``;
* density (Naeem et al. 2020): ``1/(k M) sum_f #{r : ||f - r|| < r_k(r)}``;
* coverage: fraction of reals ``r`` whose nearest fake satisfies ``||r - f|| < r_k(r)``.

Kynkäänniemi et al. use k=3 for precision/recall, Naeem et al. recommend k=5 for
density/coverage; ``prdc`` takes the two separately (equal values reproduce
``prdc.compute_prdc(real, fake, nearest_k)``). Euclidean distances are computed on the
device in float64, ``batch_size`` query rows at a time, so only (batch_size, N) distance
blocks exist at once (10k x 10k never sits in memory whole). Real-fake distances are
always taken with reals as rows, in blocks shaped like those of the real k-NN radii, so
exact duplicates across the two sets tie the way the reference's do (identical sets give
density 1).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

_HIGHEST = jax.lax.Precision.HIGHEST


def _distances(q, x, x_sq):
    """Euclidean distances (B, N) between rows of q (B, d) and x (N, d)."""
    q_sq = jnp.sum(q * q, axis=1, keepdims=True)
    d2 = q_sq + x_sq[None, :] - 2.0 * jnp.matmul(q, x.T, precision=_HIGHEST)
    return jnp.sqrt(jnp.clip(d2, 0.0, None))


@partial(jax.jit, static_argnames=("k",))
def _smallest_distances(q, x, x_sq, k):
    """(B, k) smallest distances from each row of q to the rows of x, ascending."""
    neg, _ = jax.lax.top_k(-_distances(q, x, x_sq), k)
    return -neg


@jax.jit
def _real_block(r, r_pr, r_dc, fake, fake_sq, r_fake_pr):
    """One block of reals (B, d) against all fakes; padded rows carry radius 0 (never counted).

    Returns per real: inside some fake ball (recall), nearest fake distance (coverage); and
    per fake: inside some ball of this block (precision), number of such balls (density).
    Distances are always evaluated with reals as rows, as the real k-NN radii are, so exact
    duplicates across the two sets compare consistently (the reference's ties).
    """
    d = _distances(r, fake, fake_sq)
    in_fake = jnp.any(d < r_fake_pr[None, :], axis=1)
    nearest = jnp.min(d, axis=1)
    in_pr = jnp.any(d < r_pr[:, None], axis=0)
    n_dc = jnp.sum(d < r_dc[:, None], axis=0)
    return in_fake, nearest, in_pr, n_dc


def _batched(fn, queries: np.ndarray, batch_size: int, *args):
    """Apply fn(query_block, *args) over fixed-size (zero-padded) row blocks; concatenate outputs."""
    n = queries.shape[0]
    outs = []
    for start in range(0, n, batch_size):
        block = queries[start:start + batch_size]
        valid = block.shape[0]
        if valid < batch_size and n > batch_size:  # keep one compiled shape
            block = np.concatenate([block, np.zeros((batch_size - valid, block.shape[1]), block.dtype)])
        res = fn(jnp.asarray(block), *args)
        res = res if isinstance(res, tuple) else (res,)
        outs.append(tuple(np.asarray(r)[:valid] for r in res))
    return tuple(np.concatenate(parts) for parts in zip(*outs))


def _as_features(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def knn_radii(features, nearest_k: int | tuple[int, ...], *, batch_size: int = 1000) -> np.ndarray:
    """Distance from each row to its ``nearest_k``-th nearest neighbour among the rows (self excluded).

    With a tuple of k values, returns shape (N, len(ks)), one column per k.
    """
    x = _as_features(features, "features")
    ks = (nearest_k,) if isinstance(nearest_k, int) else tuple(nearest_k)
    if min(ks) < 1 or max(ks) + 1 > x.shape[0]:
        raise ValueError(f"need 1 <= k <= N - 1, got k={ks}, N={x.shape[0]}")
    with jax.enable_x64(True):
        xd = jnp.asarray(x)
        x_sq = jnp.sum(xd * xd, axis=1)
        (smallest,) = _batched(partial(_smallest_distances, k=max(ks) + 1), x, batch_size, xd, x_sq)
    radii = smallest[:, [k for k in ks]]  # column k is the (k+1)-th smallest: the point itself is first
    return radii[:, 0] if isinstance(nearest_k, int) else radii


def prdc(real_features, fake_features, *, pr_nearest_k: int = 3, dc_nearest_k: int = 5,
         batch_size: int = 1000) -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of fake features against real features.

    Args:
        real_features: (N, d); fake_features: (M, d).
        pr_nearest_k: k of the k-NN balls for precision and recall (Kynkäänniemi et al.: 3).
        dc_nearest_k: k for density and coverage (Naeem et al.: 5).
        batch_size: query rows per distance block.
    """
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dims differ: {real.shape} vs {fake.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    real_radii = knn_radii(real, (pr_nearest_k, dc_nearest_k), batch_size=batch_size)
    r_real_pr, r_real_dc = real_radii[:, 0], real_radii[:, 1]
    r_fake_pr = knn_radii(fake, pr_nearest_k, batch_size=batch_size)

    n_real, n_fake = real.shape[0], fake.shape[0]
    in_fake = np.zeros(n_real, bool)
    nearest_fake = np.zeros(n_real, np.float64)
    in_real = np.zeros(n_fake, bool)
    n_balls = np.zeros(n_fake, np.int64)
    with jax.enable_x64(True):
        fake_d = jnp.asarray(fake)
        fake_sq = jnp.sum(fake_d * fake_d, axis=1)
        r_fake = jnp.asarray(r_fake_pr)
        bs = min(batch_size, n_real)
        for start in range(0, n_real, bs):
            stop = min(start + bs, n_real)
            pad = bs - (stop - start)  # keep one compiled shape: zero rows with radius 0
            block = np.pad(real[start:stop], ((0, pad), (0, 0)))
            rad_pr = np.pad(r_real_pr[start:stop], (0, pad))
            rad_dc = np.pad(r_real_dc[start:stop], (0, pad))
            f_b, near_b, pr_b, dc_b = _real_block(jnp.asarray(block), jnp.asarray(rad_pr), jnp.asarray(rad_dc),
                                                  fake_d, fake_sq, r_fake)
            in_fake[start:stop] = np.asarray(f_b)[:stop - start]
            nearest_fake[start:stop] = np.asarray(near_b)[:stop - start]
            in_real |= np.asarray(pr_b)
            n_balls += np.asarray(dc_b)

    return {
        "precision": float(in_real.mean()),
        "recall": float(in_fake.mean()),
        "density": float(n_balls.sum() / (dc_nearest_k * fake.shape[0])),
        "coverage": float((nearest_fake < r_real_dc).mean()),
    }


def precision_recall(real_features, fake_features, *, nearest_k: int = 3, batch_size: int = 1000) -> dict[str, float]:
    """{"precision", "recall"} with k-NN balls of ``nearest_k`` (Kynkäänniemi et al. 2019)."""
    res = prdc(real_features, fake_features, pr_nearest_k=nearest_k, dc_nearest_k=nearest_k, batch_size=batch_size)
    return {"precision": res["precision"], "recall": res["recall"]}


def density_coverage(real_features, fake_features, *, nearest_k: int = 5, batch_size: int = 1000) -> dict[str, float]:
    """{"density", "coverage"} with k-NN balls of ``nearest_k`` (Naeem et al. 2020)."""
    res = prdc(real_features, fake_features, pr_nearest_k=nearest_k, dc_nearest_k=nearest_k, batch_size=batch_size)
    return {"density": res["density"], "coverage": res["coverage"]}
