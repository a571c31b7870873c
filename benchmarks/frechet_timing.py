"""Time ``gan_jax.metrics.frechet_distance`` against pytorch-fid's scipy ``sqrtm`` formula.

    python benchmarks/frechet_timing.py            # d = 2048 (Inception pool3 size)
    python benchmarks/frechet_timing.py --quick    # d = 256, for smoke tests

Covariances are those of realistic-looking features: ``n`` (> d, so full rank) samples of
``relu(z @ W)`` with ``W`` of a decaying spectrum, for two slightly different ``W``
(two "models"); one more pair from ``n < d`` samples is rank-deficient. Both
implementations run in the same process on the same matrices; each prints one JSON line
with its seconds (first call: compile + run for JAX; then the median of ``--repeats``), the
FID values and their relative difference.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_jax.metrics import frechet_distance  # noqa: E402


def scipy_frechet(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's ``calculate_frechet_distance`` (scipy.linalg.sqrtm of the product)."""
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
        covmean = covmean[0] if isinstance(covmean, tuple) else covmean
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
            covmean = covmean[0] if isinstance(covmean, tuple) else covmean
    covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def features(rng, n, d, w):
    z = rng.standard_normal((n, d))
    return np.maximum(z @ w, 0.0)


def stats(x):
    return x.mean(0), np.cov(x, rowvar=False)


def timed(fn, repeats):
    t = time.perf_counter()
    value = fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return value, first, (statistics.median(times) if times else first)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--quick", action="store_true", help="d = 256")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    d = 256 if args.quick else args.dim
    rng = np.random.default_rng(args.seed)
    spectrum = 1.0 / np.sqrt(1.0 + np.arange(d))  # decaying singular values, like real features
    q1, _ = np.linalg.qr(rng.standard_normal((d, d)))
    q2, _ = np.linalg.qr(rng.standard_normal((d, d)))
    w1 = q1 * spectrum
    w2 = 0.9 * w1 + 0.1 * (q2 * spectrum)
    cases = {
        "full_rank": (features(rng, 2 * d, d, w1), features(rng, 2 * d, d, w2)),
        "rank_deficient": (features(rng, d // 2, d, w1), features(rng, d // 2, d, w2)),
    }
    import jax

    env = {"dim": d, "backend": jax.default_backend(), "machine": platform.processor() or platform.machine()}
    for case, (a, b) in cases.items():
        mu1, s1 = stats(a)
        mu2, s2 = stats(b)
        ours, ours_first, ours_t = timed(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats)
        ref, ref_first, ref_t = timed(lambda: scipy_frechet(mu1, s1, mu2, s2), max(args.repeats - 2, 0))
        rel = abs(ours - ref) / max(abs(ref), 1e-300)
        print(json.dumps({**env, "case": case, "n_samples": len(a), "impl": "gan_jax.frechet_distance (eigh, float64)",
                          "first_call_s": round(ours_first, 4), "seconds": round(ours_t, 4), "fid": ours}), flush=True)
        print(json.dumps({**env, "case": case, "n_samples": len(a), "impl": "scipy.linalg.sqrtm (pytorch-fid)",
                          "first_call_s": round(ref_first, 4), "seconds": round(ref_t, 4), "fid": ref,
                          "rel_diff": rel, "speedup": round(ref_t / ours_t, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
