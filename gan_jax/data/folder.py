"""``folder:<path>``: the user's own images, any size, as an unlabelled dataset.

Every image file under the directory (recursively; png, jpg, jpeg, bmp, gif, webp) is decoded
once, center-cropped to a square and resized to the experiment's resolution, and kept in
memory as uint8 (64x64 RGB: 12 KB per image, so 100k images take 1.2 GB). The channel count
is the folder's: all grayscale (1 channel) or all color (3 channels); a folder that mixes
them, or holds images with an alpha channel, is rejected with the first offending file named,
because silently converting would train on something the user did not expect.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_jax.data.errors import DatasetError, DatasetNotFoundError
from gan_jax.data.pipeline import center_crop, resize

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_GRAY_MODES = {"1", "L", "I", "I;16", "F"}
_COLOR_MODES = {"RGB", "P", "CMYK", "YCbCr"}


def _channels(path: Path, mode: str) -> int:
    if mode in _GRAY_MODES:
        return 1
    if mode in _COLOR_MODES:
        return 3
    raise DatasetError(f"{path}: unsupported image mode {mode!r} (alpha or multi-band); save it as RGB or grayscale")


def _first_channels(path: Path) -> int:
    try:
        with Image.open(path) as im:
            return _channels(path, im.mode)
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetError(f"{path}: cannot decode image ({e}); fix or remove the file") from None


def _read(path: Path, channels: int) -> np.ndarray:
    """The image at ``path`` as uint8 (H, W, channels), at its own size; ``DatasetError`` if not ``channels``."""
    try:
        with Image.open(path) as im:
            im.load()
            found = _channels(path, im.mode)
            if found != channels:
                raise DatasetError(f"{path}: {found}-channel image ({im.mode}) in a folder of {channels}-channel images; "
                                   "convert all images to RGB or all to grayscale")
            if im.mode in ("I", "I;16", "F"):  # 16/32-bit grayscale: scale to 8 bit
                arr = np.asarray(im, dtype=np.float64)
                arr = np.round(255 * arr / max(arr.max(), 1)).astype(np.uint8)
            else:
                arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetError(f"{path}: cannot decode image ({e}); fix or remove the file") from None
    return arr.reshape(arr.shape[0], arr.shape[1], channels)


def _decode(path: Path, channels: int, size: int) -> np.ndarray:
    return resize(center_crop(_read(path, channels)), size)


def _image_files(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively), in sorted path order."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


@functools.lru_cache(maxsize=2)
def load_folder(directory: str, size: int) -> np.ndarray:
    """All images under ``directory`` as read-only uint8 (N, size, size, C), in sorted path order."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"image folder {root} not found (dataset name folder:<path> needs an existing directory)")
    files = _image_files(root)
    if not files:
        raise DatasetError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)}); add some or fix the path")
    channels = _first_channels(files[0])
    images = np.stack([_decode(p, channels, size) for p in files])
    images.setflags(write=False)
    return images
