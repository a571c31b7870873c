"""Dataset registry: experiments name their data, ``get_dataset`` builds it.

Today: ``digits`` (embedded scikit-learn 8x8 digits, upsampled), ``ring`` and ``grid``
(toy 2D mixtures). Each ``Dataset`` knows the shape of one example, its number of
classes and how to open a deterministic, resumable stream of batches.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import numpy as np

from gan_jax.data.arrays import ArrayStream
from gan_jax.data.digits import NUM_CLASSES as DIGITS_CLASSES, load_digits
from gan_jax.data.toy import ToyStream, sample_toy, toy_modes

__all__ = ["Dataset", "get_dataset", "DATASETS", "toy_modes", "sample_toy"]


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    #: shape of one example, e.g. (32, 32, 1) or (2,)
    data_shape: tuple[int, ...]
    num_classes: int
    #: (batch_size, seed) -> infinite iterator of numpy batch dicts with get_state/set_state
    stream: Callable[[int, int], Iterator[dict[str, np.ndarray]]]
    #: whether examples are images (uint8, sample grids) or points (toy scatter plots)
    is_image: bool = True


def _digits(image_size: int = 32) -> Dataset:
    images, labels = load_digits(image_size)
    return Dataset(
        name="digits",
        data_shape=images.shape[1:],
        num_classes=DIGITS_CLASSES,
        stream=lambda batch_size, seed: ArrayStream(images, labels, batch_size, seed),
    )


def _toy(name: str) -> Callable[..., Dataset]:
    def build(image_size: int | None = None) -> Dataset:
        del image_size
        return Dataset(name=name, data_shape=(2,), num_classes=0, stream=lambda b, s: ToyStream(name, b, s), is_image=False)

    return build


DATASETS: dict[str, Callable[..., Dataset]] = {"digits": _digits, "ring": _toy("ring"), "grid": _toy("grid")}


def get_dataset(name: str, *, image_size: int | None = None) -> Dataset:
    try:
        build = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(sorted(DATASETS))}") from None
    return build(image_size) if image_size is not None else build()
