"""Evaluation metrics (pure functions over samples or features)."""

from gan_jax.metrics.fid import StreamingStats, frechet_distance, trace_sqrt_product
from gan_jax.metrics.inception_score import inception_score
from gan_jax.metrics.kid import kernel_inception_distance, kid_subset_indices
from gan_jax.metrics.modes import mode_coverage
from gan_jax.metrics.prdc import density_coverage, knn_radii, prdc, precision_recall

__all__ = [
    "mode_coverage",
    "frechet_distance",
    "trace_sqrt_product",
    "StreamingStats",
    "kernel_inception_distance",
    "kid_subset_indices",
    "inception_score",
    "prdc",
    "precision_recall",
    "density_coverage",
    "knn_radii",
]
