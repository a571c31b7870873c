"""Mode coverage on mixtures of Gaussians (the protocol of PacGAN, Lin et al. 2018).

A sample is *high quality* if it lies within ``threshold`` standard deviations of its
nearest mode; a mode is *covered* if it receives at least one high-quality sample.
PacGAN evaluates 2,500 samples with threshold 3.
"""

from __future__ import annotations

import numpy as np


def mode_coverage(samples: np.ndarray, modes: np.ndarray, std: float, *, threshold: float = 3.0) -> dict[str, float]:
    """{"modes_covered": int count, "high_quality": fraction in [0, 1], "num_modes": M}."""
    samples = np.asarray(samples, np.float64)
    modes = np.asarray(modes, np.float64)
    if samples.ndim != 2 or samples.shape[1] != modes.shape[1]:
        raise ValueError(f"samples must have shape (N, {modes.shape[1]}), got {samples.shape}")
    dist = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(samples)), nearest] <= threshold * std
    covered = np.unique(nearest[good])
    return {
        "modes_covered": int(covered.size),
        "high_quality": float(good.mean()) if len(samples) else 0.0,
        "num_modes": int(len(modes)),
    }
