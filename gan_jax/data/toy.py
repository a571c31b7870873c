"""Toy 2D mixtures of Gaussians used to measure mode collapse (as in PacGAN, Lin et al. 2018).

* ``ring``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02.
* ``grid``: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05.

Every mode has equal weight. Batches are drawn on the host with a seeded NumPy
generator, so a stream is reproducible from its seed.
"""

from __future__ import annotations

import numpy as np


def toy_modes(name: str) -> tuple[np.ndarray, float]:
    """(modes of shape (M, 2), per-mode std) of a toy dataset."""
    if name == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.02
    if name == "grid":
        axis = np.arange(-4.0, 5.0, 2.0)
        return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2), 0.05
    raise ValueError(f"unknown toy dataset {name!r}; choose 'ring' or 'grid'")


def sample_toy(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    modes, std = toy_modes(name)
    idx = rng.integers(0, len(modes), size=n)
    return (modes[idx] + std * rng.standard_normal((n, 2))).astype(np.float32)


class ToyStream:
    """Infinite stream of ``{"x": float32 (batch, 2)}`` batches; ``state`` makes it resumable."""

    def __init__(self, name: str, batch_size: int, seed: int):
        toy_modes(name)  # validate the name early
        self.name, self.batch_size, self.seed = name, batch_size, seed
        self._rng = np.random.default_rng(seed)

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        return {"x": sample_toy(self.name, self.batch_size, self._rng)}

    def get_state(self) -> dict:
        return {"bit_generator": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state["bit_generator"]
