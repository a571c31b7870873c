"""The grain input pipeline shared by every random-access image dataset (TFDS, offline, folder).

``indices -> shard -> shuffle -> repeat -> batch -> read+decode -> prefetch``

* Sharding happens first (indices ``shard_index::shard_count``), so processes read disjoint
  shards that together cover the split, and every process can shuffle with the same seed.
* ``MapDataset.shuffle`` draws a fresh permutation per epoch (grain seeds epoch ``e`` with
  ``seed + e``), and ``repeat()`` makes the stream infinite; batches may straddle epochs.
* Records are read a batch at a time (one ``__getitems__`` per batch) and decoded in the
  grain worker threads, ahead of the train step.
* Batches stay uint8 on the host (4x less host-to-device traffic than float32); the train
  step converts to [-1, 1] on the device.
* Every element is addressed by its index, so the iterator state is one integer
  (``{"next_index": n}``) and a restored stream yields exactly the batches it would have.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import grain
import numpy as np
from PIL import Image

from gan_jax.data.errors import DatasetError

#: threads that read and decode records ahead of the train step; grain's default of 16 threads
#: and 500 buffered elements is tuned for remote disks and would buffer ~400 MB of batches here
READ_OPTIONS = grain.ReadOptions(num_threads=4, prefetch_buffer_size=8)


class ArraySource:
    """In-memory random-access source of ``{"image": ...}`` records (folder datasets)."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index]}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        return [{"image": im} for im in self.images[np.asarray(indices)]]


class BatchStream:
    """Infinite iterator of batch dicts; ``get_state``/``set_state`` resume it exactly."""

    def __init__(self, iterator: grain.DatasetIterator):
        self._iterator = iterator

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        return next(self._iterator)

    def get_state(self) -> dict:
        """JSON-serialisable position, e.g. ``{"next_index": 12}`` (batches already returned)."""
        return {k: int(v) for k, v in self._iterator.get_state().items()}

    def set_state(self, state: dict) -> None:
        self._iterator.set_state({k: int(v) for k, v in state.items()})


def batch_reader(source: Sequence, fit: Callable[[np.ndarray], np.ndarray], label_key: str | None) -> Callable[[np.ndarray], dict]:
    """Indices -> ``{"x": uint8 (B, H, W, C), "y": int32 (B,)}``, read with one ``__getitems__`` call.

    Working on whole batches (rather than grain mapping single records) lets array_record
    read a batch in one call, and ``fit`` (stored images, all one shape -> target size) pads or
    crops the batch in one vectorised step.
    """

    def read(indices: np.ndarray) -> dict[str, np.ndarray]:
        records = source.__getitems__(indices.tolist())
        batch = {"x": fit(np.stack([np.asarray(r["image"], dtype=np.uint8) for r in records]))}
        if label_key is not None:
            batch["y"] = np.fromiter((r[label_key] for r in records), np.int32, len(records))
        return batch

    return read


#: seed of the fixed random subset that ``data.limit`` trains on
LIMIT_SEED = 0


def limit_subset(n: int, limit: int) -> np.ndarray:
    """The sorted indices of the ``limit`` examples (of ``n``) that ``data.limit`` keeps: a fixed
    random subset, as the ADA paper's limited-data runs use, because a split's first examples need
    not be a sample of it (the offline CIFAR-10 is stored class by class)."""
    if limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(LIMIT_SEED).permutation(n)[:limit])


def batch_stream(source: Sequence, read: Callable[[np.ndarray], dict], batch_size: int, seed: int, *,
                 shard_index: int = 0, shard_count: int = 1, limit: int = 0) -> BatchStream:
    """Shuffled, sharded, infinite stream of ``batch_size`` examples; ``read`` from ``batch_reader``.

    ``limit > 0``: only ``limit_subset(len(source), limit)`` of the split (limited-data training)."""
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index must be in [0, {shard_count}), got {shard_index}")
    ds = grain.MapDataset.source(limit_subset(len(source), limit)) if limit else grain.MapDataset.range(len(source))
    ds = ds[shard_index::shard_count]
    if not 0 < batch_size <= len(ds):
        raise DatasetError(f"batch size {batch_size} must be in [1, {len(ds)}] (examples in shard {shard_index} of {shard_count})")
    ds = ds.shuffle(seed=seed % 2**32).repeat().batch(batch_size, drop_remainder=True).map(read)
    return BatchStream(iter(ds.to_iter_dataset(READ_OPTIONS)))


def read_all(source: Sequence, read: Callable[[np.ndarray], dict], chunk: int = 1000) -> dict[str, np.ndarray]:
    """A whole split in source order, as stacked arrays (read in chunks of ``chunk`` records)."""
    batches = list(grain.MapDataset.range(len(source)).batch(chunk).map(read).to_iter_dataset(READ_OPTIONS))
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


# --- image fitting: bring decoded images (HWC, or a BHWC batch) to the experiment's size ------


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize to size x size (PIL's filter widens when shrinking, i.e. antialiased)."""
    if images.shape[-3:-1] == (size, size):
        return images
    if images.ndim == 4:
        return np.stack([resize(im, size) for im in images])
    pil = Image.fromarray(images[..., 0] if images.shape[-1] == 1 else images)
    return np.asarray(pil.resize((size, size), Image.BILINEAR)).reshape(size, size, images.shape[-1])


def center_crop(images: np.ndarray, crop: int | None = None) -> np.ndarray:
    """Central crop x crop square (``None``: the largest square)."""
    h, w = images.shape[-3:-1]
    crop = min(h, w) if crop is None else min(crop, h, w)
    top, left = (h - crop) // 2, (w - crop) // 2
    return images[..., top : top + crop, left : left + crop, :]


def pad(images: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad square images equally on all sides to size x size."""
    before = (size - images.shape[-2]) // 2
    after = size - images.shape[-2] - before
    return np.pad(images, [(0, 0)] * (images.ndim - 3) + [(before, after)] * 2 + [(0, 0)])
