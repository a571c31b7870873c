"""The 8x8 handwritten digits bundled with scikit-learn, shipped inside gan_jax.

``digits.npz`` holds scikit-learn's ``load_digits()`` unchanged: 1,797 images with
values 0..16 and their labels (UCI "Optical Recognition of Handwritten Digits",
Alpaydin & Kaynak 1998, CC BY 4.0). It is real data small enough to ship, so the default
experiment trains with no download and no GPU. Images are scaled to 0..255 and
upsampled bilinearly to the requested size.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
from PIL import Image

NUM_CLASSES = 10


@functools.lru_cache(maxsize=4)
def load_digits(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (1797, size, size, 1), labels int32 (1797,))."""
    if size < 8:
        raise ValueError(f"digits image size must be >= 8, got {size}")
    with resources.files("gan_jax.data").joinpath("digits.npz").open("rb") as f:
        data = np.load(f)
        raw, labels = data["images"], data["labels"]
    scaled = np.round(raw.astype(np.float32) * (255.0 / 16.0)).astype(np.uint8)
    if size != 8:
        scaled = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in scaled])
    images = scaled[..., None]
    images.setflags(write=False)
    return images, labels.astype(np.int32)
