"""Real images for the metrics: ``gan_jax.data.load_arrays`` when available, else the files.

``data_dir`` defaults to ``$GAN_JAX_DATA_DIR``, else to ``../shared/datasets`` beside the
repository when it exists (the offline ``mnist.npz`` / ``cifar10-{train,test}-jpeg.zip``).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _read_mnist(data_dir: Path, split: str):
    with np.load(data_dir / "mnist.npz") as z:
        return z[f"x_{split}"][..., None], z[f"y_{split}"].astype(np.int32)


def read_cifar10_zip(path: Path, limit_per_class: int | None = None):
    """uint8 (N, 32, 32, 3), int32 labels from a ``cifar10/<split>/<class>/<NNNN>.jpg`` zip, sorted by name."""
    from PIL import Image

    images, labels = [], []
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
        counts: dict[str, int] = {}
        for n in names:
            cls = n.split("/")[-2]
            if limit_per_class is not None:
                if counts.get(cls, 0) >= limit_per_class:
                    continue
                counts[cls] = counts.get(cls, 0) + 1
            with Image.open(io.BytesIO(zf.read(n))) as im:
                images.append(np.asarray(im.convert("RGB")))
            labels.append(CIFAR10_CLASSES.index(cls))
    return np.stack(images), np.asarray(labels, np.int32)


def load_real(name: str, split: str = "train", *, data_dir=None, image_size: int | None = None):
    """(uint8 NHWC images, int labels) of a real dataset split."""
    try:
        from gan_jax.data import load_arrays  # the data package's loader, once it exists
    except ImportError:
        load_arrays = None
    if not data_dir and not os.environ.get("GAN_JAX_DATA_DIR") and default_data_dir().is_dir():
        data_dir = str(default_data_dir())  # the offline copies beside the repository
    if load_arrays is not None:
        return load_arrays(name, split, data_dir=data_dir, image_size=image_size)
    d = Path(data_dir or os.environ.get("GAN_JAX_DATA_DIR") or default_data_dir())
    if name == "mnist":
        x, y = _read_mnist(d, split)
    elif name == "cifar10":
        x, y = read_cifar10_zip(d / f"cifar10-{split}-jpeg.zip")
    else:
        raise ValueError(f"no real-data loader for dataset {name!r}")
    if image_size is not None and image_size != x.shape[1]:
        from PIL import Image

        x = np.stack([np.asarray(Image.fromarray(im.squeeze(-1) if im.shape[-1] == 1 else im)
                                 .resize((image_size, image_size), Image.BILINEAR)) for im in x])
        x = x.reshape(x.shape[0], image_size, image_size, -1)
    return x, y
