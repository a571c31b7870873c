"""Feature-space metrics (FID, streaming stats, KID, IS, PR/DC) against float64 NumPy/SciPy references."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from gan_jax import metrics
from gan_jax.metrics import fid as fid_mod
from gan_jax.metrics import (
    StreamingStats,
    density_coverage,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    knn_radii,
    prdc,
    precision_recall,
)

# ----------------------------------------------------------------------------- references


def _sqrtm(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular-matrix and `disp` deprecation warnings
        out = scipy.linalg.sqrtm(a)
    return out[0] if isinstance(out, tuple) else out


def ref_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's ``calculate_frechet_distance``."""
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = np.real(covmean)
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def ref_kid(real, fake, num_subsets, max_subset_size, seed):
    """stylegan2-ada ``compute_kid`` with its global RNG replaced by default_rng(seed)."""
    rng = np.random.default_rng(seed)
    n = real.shape[1]
    m = min(min(real.shape[0], fake.shape[0]), max_subset_size)
    vals = []
    for _ in range(num_subsets):
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        vals.append(((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m)
    return np.mean(vals), np.std(vals)


def ref_inception_score(preds, splits):
    """The original OpenAI implementation."""
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return np.mean(scores), np.std(scores)


def ref_prdc(real, fake, pr_k, dc_k):
    """The ``prdc`` package formulas, brute force (full distance matrices, full sorts)."""
    def radii(x, k):
        return np.sort(cdist(x, x), axis=1)[:, k]

    d_rf = cdist(real, fake)
    r_real_pr, r_real_dc, r_fake_pr = radii(real, pr_k), radii(real, dc_k), radii(fake, pr_k)
    return {
        "precision": (d_rf < r_real_pr[:, None]).any(axis=0).mean(),
        "recall": (d_rf < r_fake_pr[None, :]).any(axis=1).mean(),
        "density": (1.0 / dc_k) * (d_rf < r_real_dc[:, None]).sum(axis=0).mean(),
        "coverage": (d_rf.min(axis=1) < r_real_dc).mean(),
    }


def random_spd(rng, d, scale=1.0):
    a = rng.normal(size=(d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


def gaussian_stats(x):
    return x.mean(axis=0), np.cov(x, rowvar=False)


# ----------------------------------------------------------------------------- FID


def test_exports_keep_mode_coverage():
    assert "mode_coverage" in metrics.__all__ and callable(metrics.mode_coverage)
    for name in ["frechet_distance", "StreamingStats", "kernel_inception_distance", "inception_score", "prdc"]:
        assert name in metrics.__all__


def test_fid_matches_scipy_on_spd_covariances():
    rng = np.random.default_rng(0)
    d = 64
    for trial in range(3):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d) * 0.5
        s1, s2 = random_spd(rng, d), random_spd(rng, d, scale=2.0)
        got = frechet_distance(mu1, s1, mu2, s2)
        want = ref_frechet_distance(mu1, s1, mu2, s2)
        np.testing.assert_allclose(got, want, rtol=1e-4)
        # symmetric in its two arguments
        np.testing.assert_allclose(frechet_distance(mu2, s2, mu1, s1), got, rtol=1e-9)


def test_fid_matches_scipy_on_rank_deficient_covariances():
    """Sample covariances of 50 and 70 points in 128-d: rank 49 and 69, as with few images in 2048-d."""
    rng = np.random.default_rng(1)
    d = 128
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    a = np.maximum(rng.normal(size=(50, d)) @ mix, 0.0)  # ReLU features, like Inception pool3
    b = np.maximum(rng.normal(size=(70, d)) @ mix + 0.1, 0.0)
    (mu1, s1), (mu2, s2) = gaussian_stats(a), gaussian_stats(b)
    assert np.linalg.matrix_rank(s1) < d and np.linalg.matrix_rank(s2) < d
    got = frechet_distance(mu1, s1, mu2, s2)
    want = ref_frechet_distance(mu1, s1, mu2, s2)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    # the on-device trace term alone, against scipy's (recovered from the reference value)
    diff = mu1 - mu2
    want_trace = 0.5 * (diff @ diff + np.trace(s1) + np.trace(s2) - want)
    np.testing.assert_allclose(metrics.trace_sqrt_product(s1, s2), want_trace, rtol=1e-4)


def test_fid_identical_distributions_is_zero():
    rng = np.random.default_rng(2)
    full = random_spd(rng, 64)
    x = rng.normal(size=(50, 128)) * 3.0  # rank-deficient (49 < 128)
    mu, low_rank = gaussian_stats(x)
    for sigma, m in [(full, rng.normal(size=64)), (low_rank, mu)]:
        val = frechet_distance(m, sigma, m, sigma)
        assert abs(val) < 1e-6 * np.trace(sigma), val


def test_fid_shifted_means_is_exact_squared_distance():
    rng = np.random.default_rng(3)
    d = 64
    sigma = random_spd(rng, d)
    mu = rng.normal(size=d)
    shift = rng.normal(size=d)
    val = frechet_distance(mu, sigma, mu + shift, sigma)
    np.testing.assert_allclose(val, shift @ shift, rtol=1e-8)


def test_fid_accepts_float32_jax_inputs():
    rng = np.random.default_rng(4)
    d = 64
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    want = frechet_distance(np.float32(mu1), np.float32(s1), np.float32(mu2), np.float32(s2))
    got = frechet_distance(f32(mu1), f32(s1), f32(mu2), f32(s2))
    assert isinstance(got, float)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_fid_fallback_adds_eps_to_both_covariances(monkeypatch):
    """pytorch-fid's fallback: when the first square root is not finite, retry with eps * I."""
    rng = np.random.default_rng(5)
    d = 64
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    real_fn = fid_mod._trace_sqrt_product
    calls = []

    def flaky(a, b):
        calls.append((np.asarray(a), np.asarray(b)))
        return jnp.nan if len(calls) == 1 else real_fn(a, b)

    monkeypatch.setattr(fid_mod, "_trace_sqrt_product", flaky)
    eps = 1e-3
    got = frechet_distance(mu1, s1, mu2, s2, eps=eps)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1][0], s1 + eps * np.eye(d), rtol=0, atol=1e-15)
    np.testing.assert_allclose(calls[1][1], s2 + eps * np.eye(d), rtol=0, atol=1e-15)
    offset = eps * np.eye(d)
    diff = mu1 - mu2
    want = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(_sqrtm((s1 + offset) @ (s2 + offset))))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_fid_validates_shapes():
    mu, sigma = np.zeros(4), np.eye(4)
    with pytest.raises(ValueError):
        frechet_distance(mu, sigma, np.zeros(5), np.eye(5))
    with pytest.raises(ValueError):
        frechet_distance(mu, np.eye(3), mu, sigma)
    with pytest.raises(ValueError):
        frechet_distance(mu, sigma * np.nan, mu, sigma)


# ----------------------------------------------------------------------------- streaming stats


def test_streaming_stats_equal_mean_and_cov_of_concatenation():
    rng = np.random.default_rng(6)
    d = 16
    sizes = [7, 1, 0, 33, 64, 2]
    batches = [rng.normal(size=(n, d)) * 2.0 + 1e3 for n in sizes]  # large offset: no cancellation
    stats = StreamingStats.init(d)
    for i, b in enumerate(batches):
        b = jnp.asarray(b, jnp.float32) if i == 3 else b  # JAX arrays are accepted too
        stats = StreamingStats.update(stats, b) if i % 2 else stats.update(b)
        if i == 3:
            batches[3] = np.asarray(b, np.float64)
    mu, sigma = StreamingStats.finalize(stats)
    allx = np.concatenate(batches)
    assert stats.count == allx.shape[0]
    np.testing.assert_allclose(mu, allx.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(allx, rowvar=False), rtol=1e-9, atol=1e-10)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_array_equal(sigma, sigma.T)


def test_streaming_stats_is_pure_and_validates():
    stats = StreamingStats.init(3)
    new = stats.update(np.ones((2, 3)))
    assert stats.count == 0 and np.all(stats.mean == 0)  # the old value is untouched
    assert new.count == 2
    with pytest.raises(ValueError):
        stats.update(np.ones((2, 4)))
    with pytest.raises(ValueError):
        StreamingStats.init(3).update(np.ones((1, 3))).finalize()


def test_streaming_stats_feed_frechet_distance():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(300, 32)), rng.normal(size=(200, 32)) + 0.5
    sa, sb = StreamingStats.init(32), StreamingStats.init(32)
    for i in range(0, 300, 128):
        sa = sa.update(a[i:i + 128])
    for i in range(0, 200, 128):
        sb = sb.update(b[i:i + 128])
    got = frechet_distance(*sa.finalize(), *sb.finalize())
    want = ref_frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    np.testing.assert_allclose(got, want, rtol=1e-4)


# ----------------------------------------------------------------------------- KID


def test_kid_matches_numpy_reference():
    rng = np.random.default_rng(8)
    real = np.abs(rng.normal(size=(120, 24)))
    fake = np.abs(rng.normal(size=(90, 24)) * 1.2 + 0.1)
    got = kernel_inception_distance(real, fake, num_subsets=15, subset_size=50, seed=3)
    want = ref_kid(real, fake, 15, 50, seed=3)
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_kid_subset_size_clamped_to_sample_counts():
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(60, 8)), rng.normal(size=(40, 8)) + 0.3
    got = kernel_inception_distance(real, fake, num_subsets=5, subset_size=1000, seed=0)
    np.testing.assert_allclose(got, ref_kid(real, fake, 5, 1000, seed=0), rtol=1e-8)
    fake_idx, real_idx = metrics.kid_subset_indices(60, 40, num_subsets=5, subset_size=1000)
    assert fake_idx.shape == real_idx.shape == (5, 40)


def test_kid_same_distribution_near_zero_and_seeded():
    rng = np.random.default_rng(10)
    real, same = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    shifted = rng.normal(size=(400, 16)) + 0.5
    kid_same, std_same = kernel_inception_distance(real, same, num_subsets=20, subset_size=200, seed=1)
    kid_shift, _ = kernel_inception_distance(real, shifted, num_subsets=20, subset_size=200, seed=1)
    assert kid_shift > 0.05
    assert abs(kid_same) < 0.05 * kid_shift and std_same > 0
    again = kernel_inception_distance(real, same, num_subsets=20, subset_size=200, seed=1)
    assert again == (kid_same, std_same)
    assert kernel_inception_distance(real, same, num_subsets=20, subset_size=200, seed=2) != again


# ----------------------------------------------------------------------------- IS


def test_inception_score_uniform_is_one():
    mean, std = inception_score(np.full((100, 10), 0.1), num_splits=10)
    np.testing.assert_allclose(mean, 1.0, rtol=1e-12)
    assert std < 1e-12


def test_inception_score_balanced_one_hot_is_num_classes():
    c = 7
    probs = np.tile(np.eye(c), (30, 1))  # every split of 21 holds each class 3 times
    mean, std = inception_score(probs, num_splits=10)
    np.testing.assert_allclose(mean, c, rtol=1e-12)
    assert std < 1e-12


def test_inception_score_matches_openai_reference():
    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.full(20, 0.3), size=1003)  # N not divisible by the splits
    got = inception_score(probs, num_splits=10)
    np.testing.assert_allclose(got, ref_inception_score(probs, 10), rtol=1e-10)
    # float32 JAX input
    got32 = inception_score(jnp.asarray(probs, jnp.float32), num_splits=10)
    np.testing.assert_allclose(got32[0], got[0], rtol=1e-4)


# ----------------------------------------------------------------------------- PR / DC


@pytest.mark.parametrize("pr_k,dc_k,batch_size", [(3, 5, 37), (5, 5, 1000)])
def test_prdc_matches_brute_force_reference(pr_k, dc_k, batch_size):
    rng = np.random.default_rng(12)
    real = rng.normal(size=(150, 12))
    fake = rng.normal(size=(110, 12)) * 1.3 + 0.4
    got = prdc(real, fake, pr_nearest_k=pr_k, dc_nearest_k=dc_k, batch_size=batch_size)
    want = ref_prdc(real, fake, pr_k, dc_k)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, err_msg=key)
    assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1 and 0 < got["coverage"] < 1


def test_precision_recall_and_density_coverage_defaults():
    rng = np.random.default_rng(13)
    real, fake = rng.normal(size=(80, 6)), rng.normal(size=(90, 6)) + 0.3
    pr = precision_recall(real, fake)
    dc = density_coverage(real, fake)
    want3, want5 = ref_prdc(real, fake, 3, 3), ref_prdc(real, fake, 5, 5)
    np.testing.assert_allclose([pr["precision"], pr["recall"]], [want3["precision"], want3["recall"]], rtol=1e-12)
    np.testing.assert_allclose([dc["density"], dc["coverage"]], [want5["density"], want5["coverage"]], rtol=1e-12)


def test_prdc_identical_sets():
    rng = np.random.default_rng(14)
    real = rng.normal(size=(100, 8))
    for batch_size in (1000, 23):
        res = prdc(real, real.copy(), batch_size=batch_size)
        assert res["precision"] == 1.0 and res["recall"] == 1.0 and res["coverage"] == 1.0, res
        np.testing.assert_allclose(res["density"], 1.0, rtol=1e-12)


def test_prdc_disjoint_sets_score_zero():
    rng = np.random.default_rng(15)
    real = rng.normal(size=(50, 4))
    res = prdc(real, rng.normal(size=(40, 4)) + 100.0)
    assert res == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_knn_radii_match_sorted_distances():
    rng = np.random.default_rng(16)
    x = rng.normal(size=(70, 5))
    want = np.sort(cdist(x, x), axis=1)
    np.testing.assert_allclose(knn_radii(x, 3, batch_size=16), want[:, 3], rtol=1e-10)
    np.testing.assert_allclose(knn_radii(x, (1, 5), batch_size=16), want[:, [1, 5]], rtol=1e-10)
    with pytest.raises(ValueError):
        knn_radii(x[:3], 3)


# ----------------------------------------------------------------------------- FID on real features


def test_fid_matches_scipy_on_real_classifier_feature_covariances():
    """Covariances of real features (the shipped MNIST classifier on real MNIST digits):
    full rank (2000 images, 64-d) and rank-deficient (40 and 50 images, rank 39 and 49)."""
    from pathlib import Path

    from gan_jax.metrics import features as feats

    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist.npz"
    if not path.is_file():
        pytest.skip(f"mnist.npz not found at {path}")
    with np.load(path) as z:
        train, test = z["x_train"][:2000, ..., None], z["x_test"][:2000, ..., None]
    net = feats.get_feature_net("mnist")
    f_train = feats.compute_features(net, train)[0].astype(np.float64)
    f_test = feats.compute_features(net, test)[0].astype(np.float64)
    # a "generator" that shifts and blurs digits a little: a different but related distribution
    f_other = feats.compute_features(net, np.roll(test, 2, axis=2))[0].astype(np.float64)
    cases = [(f_train, f_test), (f_train, f_other), (f_train[:40], f_other[:50])]
    for a, b in cases:
        (mu1, s1), (mu2, s2) = gaussian_stats(a), gaussian_stats(b)
        got = frechet_distance(mu1, s1, mu2, s2)
        want = ref_frechet_distance(mu1, s1, mu2, s2)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    assert np.linalg.matrix_rank(gaussian_stats(f_train[:40])[1]) < f_train.shape[1]
    # identical real-feature statistics give 0, and the streamed stats agree with np.cov
    mu, s = gaussian_stats(f_test)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-8
    st = StreamingStats.init(f_test.shape[1])
    for i in range(0, len(f_test), 300):
        st = st.update(f_test[i:i + 300])
    np.testing.assert_allclose(st.finalize()[1], s, rtol=1e-10, atol=1e-14)


@pytest.mark.slow  # a benchmark script's smoke run; the Frechet formulas are tested against scipy above
def test_frechet_timing_benchmark_quick():
    """``benchmarks/frechet_timing.py --quick`` (d = 256) runs and agrees with scipy's sqrtm
    formula to 1e-4 relative, for full-rank and rank-deficient covariances."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "frechet_timing.py"), "--quick", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, cwd=root, env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert {(r["case"], r["impl"].split()[0]) for r in lines} == {
        (c, i) for c in ("full_rank", "rank_deficient") for i in ("gan_jax.frechet_distance", "scipy.linalg.sqrtm")
    }
    for r in lines:
        assert r["dim"] == 256 and r["seconds"] > 0 and r["fid"] > 0
        if "rel_diff" in r:
            assert r["rel_diff"] < 1e-4, r
