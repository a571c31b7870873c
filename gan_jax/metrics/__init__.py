"""Evaluation metrics (pure functions over samples or features)."""

from gan_jax.metrics.modes import mode_coverage

__all__ = ["mode_coverage"]
