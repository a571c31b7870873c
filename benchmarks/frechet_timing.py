"""Time ``gan_jax.metrics.frechet_distance`` against pytorch-fid's scipy ``sqrtm`` formula.

    python benchmarks/frechet_timing.py            # d = 2048 (Inception pool3 size)
    python benchmarks/frechet_timing.py --quick    # d = 256, for smoke tests
    python benchmarks/frechet_timing.py --warmups 2 --repeats 5 --cases full_rank --out fid.jsonl

Covariances are those of realistic-looking features: ``n`` (> d, so full rank) samples of
``relu(z @ W)`` with ``W`` of a decaying spectrum, for two slightly different ``W``
(two "models"); one more pair from ``n < d`` samples is rank-deficient. Both
implementations run in the same process on the same matrices; each prints one JSON line
(``"bench": "frechet"``) with its seconds: ``first_call_s`` (for JAX: compile + run), then
``--warmups`` more untimed calls, then ``seconds`` = the median of ``--repeats`` timed calls
(``seconds_all``), the FID values and their relative difference.

``gan_jax.frechet_distance`` runs on JAX's default device (a GPU if there is one: the
statistics go from the host to the device as float64, two ``eigh`` there, one scalar back),
scipy on the host CPU. scipy is optional: without it the scipy lines say ``"skipped"``
(the GPU machine may not have it). ``--scipy-repeats`` (default: ``--repeats - 2``, at least
1) bounds the scipy time, which is seconds per call at d = 2048.
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

try:
    import scipy.linalg
except ImportError:  # the GPU machine's Python may have no scipy
    scipy = None

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


def timed(fn, repeats, warmups=0):
    t = time.perf_counter()
    value = fn()
    first = time.perf_counter() - t
    for _ in range(warmups):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return value, first, (statistics.median(times) if times else first), times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--quick", action="store_true", help="d = 256")
    p.add_argument("--repeats", type=int, default=3, help="timed calls of gan_jax.frechet_distance (median reported)")
    p.add_argument("--warmups", type=int, default=0, help="untimed calls after the first one")
    p.add_argument("--scipy-repeats", type=int, default=None, help="timed scipy calls (default: repeats - 2, at least 1; 0: skip scipy)")
    p.add_argument("--cases", default="full_rank,rank_deficient")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    args = p.parse_args(argv)
    d = 256 if args.quick else args.dim
    scipy_repeats = max(args.repeats - 2, 1) if args.scipy_repeats is None else args.scipy_repeats
    rng = np.random.default_rng(args.seed)
    spectrum = 1.0 / np.sqrt(1.0 + np.arange(d))  # decaying singular values, like real features
    q1, _ = np.linalg.qr(rng.standard_normal((d, d)))
    q2, _ = np.linalg.qr(rng.standard_normal((d, d)))
    w1 = q1 * spectrum
    w2 = 0.9 * w1 + 0.1 * (q2 * spectrum)
    wanted = [c for c in args.cases.split(",") if c]
    sizes = {"full_rank": 2 * d, "rank_deficient": d // 2}
    unknown = [c for c in wanted if c not in sizes]
    if unknown:
        p.error(f"unknown cases {unknown}; choose from {sorted(sizes)}")
    import jax

    dev = jax.devices()[0]
    env = {"bench": "frechet", "dim": d, "backend": jax.default_backend(), "device": str(dev.device_kind),
           "machine": platform.processor() or platform.machine(), "jax": jax.__version__,
           "scipy": getattr(scipy, "__version__", None)}
    out = open(args.out, "a") if args.out else None

    def emit(rec):
        line = json.dumps(rec)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    try:
        for case in wanted:
            n = sizes[case]
            a, b = features(rng, n, d, w1), features(rng, n, d, w2)
            mu1, s1 = stats(a)
            mu2, s2 = stats(b)
            ours, ours_first, ours_t, ours_all = timed(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats, args.warmups)
            emit({**env, "case": case, "n_samples": n, "impl": "gan_jax.frechet_distance (eigh, float64)", "first_call_s": round(ours_first, 4),
                  "warmups": args.warmups, "repeats": args.repeats, "seconds": round(ours_t, 5), "seconds_all": [round(t, 5) for t in ours_all], "fid": ours})
            ref_line = {**env, "case": case, "n_samples": n, "impl": "scipy.linalg.sqrtm (pytorch-fid)", "backend": "host cpu"}
            if scipy is None:
                emit({**ref_line, "seconds": None, "skipped": "scipy is not installed"})
                continue
            if scipy_repeats <= 0:
                emit({**ref_line, "seconds": None, "skipped": "--scipy-repeats 0"})
                continue
            # the first scipy call is timed too (no compilation): it is the warm-up
            ref, ref_first, ref_t, ref_all = timed(lambda: scipy_frechet(mu1, s1, mu2, s2), scipy_repeats - 1)
            ref_all = [ref_first] + ref_all
            ref_t = statistics.median(ref_all)
            rel = abs(ours - ref) / max(abs(ref), 1e-300)
            emit({**ref_line, "first_call_s": round(ref_first, 4), "repeats": len(ref_all), "seconds": round(ref_t, 5),
                  "seconds_all": [round(t, 5) for t in ref_all], "fid": ref, "rel_diff": rel, "speedup": round(ref_t / ours_t, 2)})
    finally:
        if out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
