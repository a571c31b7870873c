"""Pictures people can look at: image grids and toy-data scatter plots, as PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def to_uint8(x) -> np.ndarray:
    """Images in [-1, 1] -> uint8 0..255 (clipped)."""
    x = np.asarray(x, np.float32)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2) -> np.ndarray:
    """uint8 (N, H, W, C) -> one uint8 (rows*H, ncol*W, C) picture with ``pad`` px of black between tiles."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, H, W, 1|3), got {images.shape}")
    n, h, w, c = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.zeros((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, ncol)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = im
    return grid


def save_image_grid(images: np.ndarray, path: str | Path, ncol: int | None = None, scale: int | None = None) -> Path:
    """Save a grid of uint8 images; small images are scaled up (nearest) so the PNG is viewable."""
    grid = image_grid(images, ncol)
    if scale is None:
        scale = max(1, 256 // images.shape[1])
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    img.save(path)
    return path


def save_scatter(points: np.ndarray, path: str | Path, modes: np.ndarray | None = None, std: float | None = None, size: int = 512) -> Path:
    """Scatter plot of 2D samples (blue) over the real modes (grey discs of radius 3 std)."""
    points = np.asarray(points, np.float64)
    extent = float(np.abs(modes).max() * 1.5) if modes is not None else float(np.abs(points).max() * 1.1 + 1e-6)

    def px(xy):
        return (xy + extent) / (2 * extent) * (size - 1)

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    if modes is not None:
        r = max(3.0 * (std or 0.0) / (2 * extent) * size, 2.0)
        for m in px(modes):
            draw.ellipse([m[0] - r, size - 1 - m[1] - r, m[0] + r, size - 1 - m[1] + r], fill=(210, 210, 210))
    for p in px(points[np.all(np.abs(points) < extent, axis=1)]):
        draw.point((p[0], size - 1 - p[1]), fill=(20, 60, 200))
    path = Path(path)
    img.save(path)
    return path
