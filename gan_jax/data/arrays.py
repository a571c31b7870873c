"""In-memory datasets: shuffled epochs of fixed-size batches, deterministic and resumable."""

from __future__ import annotations

import numpy as np


class ArrayStream:
    """Infinite stream of ``{"x": images, "y": labels}`` batches over in-memory arrays.

    Each epoch is a fresh permutation from ``seed`` and the epoch number; the last
    incomplete batch of an epoch is dropped. ``get_state``/``set_state`` resume exactly.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray | None, batch_size: int, seed: int):
        if batch_size > len(x):
            raise ValueError(f"batch size {batch_size} exceeds the dataset size {len(x)}")
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.epoch, self.position = 0, 0
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self.position + self.batch_size > len(self.x):
            self.epoch, self.position = self.epoch + 1, 0
            self._perm = self._permutation(self.epoch)
        idx = self._perm[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        batch = {"x": self.x[idx]}
        if self.y is not None:
            batch["y"] = self.y[idx]
        return batch

    def get_state(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def set_state(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._perm = self._permutation(self.epoch)
