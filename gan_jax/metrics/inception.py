"""Inception-v3 as used for FID / IS, in Flax Linen: pytorch-fid's ``fid_inception_v3``.

This is the network of the original TensorFlow FID code (TTUR) as ported by pytorch-fid
(``mseitzer/pytorch-fid``, ``src/pytorch_fid/inception.py``): torchvision's Inception-v3
layout with

* BatchNorm eps 0.001 in inference mode (running statistics), convolutions without bias;
* the FID patches: the average pools of the A, C and first E blocks exclude the zero
  padding (``count_include_pad=False``) and the last E block (``Mixed_7c``) max-pools;
* a 1008-way linear layer on the 2048-d pool3 features (the logits used for IS).

Input protocol, as pytorch-fid's ``InceptionV3(resize_input=True, normalize_input=True)``:
float NHWC images in [0, 1] (uint8 images are divided by 255) are resized to 299x299 with
``F.interpolate(mode="bilinear", align_corners=False)`` semantics (no antialiasing, also
when shrinking: implemented here with explicit interpolation matrices, so it is exact for
up- and downsampling; ``jax.image.resize`` would antialias when shrinking), then scaled to
[-1, 1]. Grayscale images are repeated to 3 channels.

Weights: the standard ``pt_inception-2015-12-05-6726825d.pth`` of pytorch-fid, which users
download themselves from
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
(nothing is downloaded here). ``load_inception_variables`` reads it (needs ``torch``, an
optional dependency imported only then) or an ``.npz`` written by ``save_npz`` /
``python -m gan_jax.metrics.inception convert IN.pth OUT.npz`` (no torch needed).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

FID_WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
NUM_CLASSES = 1008
FEATURE_DIM = 2048
RESIZE = 299


# ----------------------------------------------------------------------------- resize


def _torch_bilinear_matrix(in_size: int, out_size: int, dtype=np.float32) -> np.ndarray:
    """(out, in) interpolation matrix of ``F.interpolate(bilinear, align_corners=False)`` along one axis."""
    if np.dtype(dtype) == np.float64:  # PyTorch's double kernel: everything in double
        scale = in_size / out_size
        m = np.zeros((out_size, in_size), np.float64)
        for o in range(out_size):
            src = max(scale * (o + 0.5) - 0.5, 0.0)
            i0 = min(int(np.floor(src)), in_size - 1)
            lam = src - i0
            m[o, i0] += 1.0 - lam
            m[o, min(i0 + 1, in_size - 1)] += lam
        return m
    f32 = np.float32
    scale = f32(in_size) / f32(out_size)  # PyTorch computes the source index in float32
    m = np.zeros((out_size, in_size), np.float32)
    for o in range(out_size):
        # scale * (o + 0.5) - 0.5 with a single rounding to float32 (a fused multiply-add, as
        # PyTorch's vectorised CPU kernel computes it)
        src = max(f32(np.float64(scale) * (o + 0.5) - 0.5), f32(0.0))
        i0 = min(int(np.floor(src)), in_size - 1)
        i1 = min(i0 + 1, in_size - 1)
        lam = f32(src - f32(i0))
        m[o, i0] += f32(1.0) - lam
        m[o, i1] += lam
    return m


def resize_bilinear(x: jax.Array, height: int, width: int) -> jax.Array:
    """NHWC bilinear resize with PyTorch ``align_corners=False`` semantics and no antialiasing."""
    n, h, w, c = x.shape
    if (h, w) == (height, width):
        return x
    mh = jnp.asarray(_torch_bilinear_matrix(h, height, x.dtype), x.dtype)
    mw = jnp.asarray(_torch_bilinear_matrix(w, width, x.dtype), x.dtype)
    hi = jax.lax.Precision.HIGHEST
    x = jnp.einsum("oh,nhwc->nowc", mh, x, precision=hi)
    return jnp.einsum("pw,nowc->nopc", mw, x, precision=hi)


# ----------------------------------------------------------------------------- network


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=0.001, running stats) -> ReLU, as torchvision's."""

    features: int
    kernel: tuple[int, int]
    strides: int = 1
    padding: tuple[int, int] = (0, 0)
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        ph, pw = self.padding
        x = nn.Conv(self.features, self.kernel, strides=self.strides, padding=((ph, ph), (pw, pw)), use_bias=False,
                    precision=self.precision, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=0.001, name="bn")(x)
        return nn.relu(x)


def _avg_pool_3x3_same(x):
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x):
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class FIDInceptionA(nn.Module):
    pool_features: int
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        C = functools.partial(BasicConv2d, precision=self.precision)
        b1 = C(64, (1, 1), name="branch1x1")(x)
        b5 = C(48, (1, 1), name="branch5x5_1")(x)
        b5 = C(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = C(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = C(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = C(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = C(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        C = functools.partial(BasicConv2d, precision=self.precision)
        b3 = C(384, (3, 3), strides=2, name="branch3x3")(x)
        bd = C(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = C(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = C(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class FIDInceptionC(nn.Module):
    channels_7x7: int
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        C = functools.partial(BasicConv2d, precision=self.precision)
        c7 = self.channels_7x7
        b1 = C(192, (1, 1), name="branch1x1")(x)
        b7 = C(c7, (1, 1), name="branch7x7_1")(x)
        b7 = C(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = C(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = C(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = C(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = C(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = C(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = C(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = C(192, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        C = functools.partial(BasicConv2d, precision=self.precision)
        b3 = C(192, (1, 1), name="branch3x3_1")(x)
        b3 = C(320, (3, 3), strides=2, name="branch3x3_2")(b3)
        b7 = C(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = C(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = C(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = C(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class FIDInceptionE(nn.Module):
    """``max_pool=False``: FIDInceptionE_1 (avg pool without padding); True: FIDInceptionE_2."""

    max_pool: bool = False
    precision: Any = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        C = functools.partial(BasicConv2d, precision=self.precision)
        b1 = C(320, (1, 1), name="branch1x1")(x)
        b3 = C(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate([C(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                              C(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
        bd = C(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = C(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([C(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                              C(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
        if self.max_pool:
            pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
        else:
            pooled = _avg_pool_3x3_same(x)
        bp = C(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3FID(nn.Module):
    """pytorch-fid's FID Inception-v3. ``__call__(x)`` with float NHWC ``x`` in [0, 1] (any
    size, 1 or 3 channels) returns ``(pool3 features (N, 2048), logits (N, 1008))``."""

    resize_input: bool = True
    normalize_input: bool = True
    precision: Any = jax.lax.Precision.HIGHEST
    #: compute dtype (float64 needs ``jax.enable_x64`` and float64 variables; used by the parity test)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = jnp.asarray(x, self.dtype)
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        if self.resize_input:
            x = resize_bilinear(x, RESIZE, RESIZE)
        if self.normalize_input:
            x = 2.0 * x - 1.0
        C = functools.partial(BasicConv2d, precision=self.precision)
        p = self.precision
        x = C(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
        x = C(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = C(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool_3x3_s2(x)
        x = C(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = C(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool_3x3_s2(x)
        x = FIDInceptionA(32, precision=p, name="Mixed_5b")(x)
        x = FIDInceptionA(64, precision=p, name="Mixed_5c")(x)
        x = FIDInceptionA(64, precision=p, name="Mixed_5d")(x)
        x = InceptionB(precision=p, name="Mixed_6a")(x)
        x = FIDInceptionC(128, precision=p, name="Mixed_6b")(x)
        x = FIDInceptionC(160, precision=p, name="Mixed_6c")(x)
        x = FIDInceptionC(160, precision=p, name="Mixed_6d")(x)
        x = FIDInceptionC(192, precision=p, name="Mixed_6e")(x)
        x = InceptionD(precision=p, name="Mixed_7a")(x)
        x = FIDInceptionE(max_pool=False, precision=p, name="Mixed_7b")(x)
        x = FIDInceptionE(max_pool=True, precision=p, name="Mixed_7c")(x)
        features = jnp.mean(x, axis=(1, 2))  # AdaptiveAvgPool2d(1): pool3
        logits = nn.Dense(NUM_CLASSES, precision=p, name="fc")(features)
        return features, logits


# ----------------------------------------------------------------------------- weights


def convert_state_dict(state_dict: Mapping[str, Any]) -> dict:
    """pytorch-fid / torchvision Inception-v3 state dict (name -> array) -> Flax variables.

    ``X.conv.weight`` (O, I, kh, kw) -> ``params/X/conv/kernel`` (kh, kw, I, O);
    ``X.bn.{weight,bias}`` -> ``params/X/bn/{scale,bias}``;
    ``X.bn.running_{mean,var}`` -> ``batch_stats/X/bn/{mean,var}``; ``fc.weight`` is
    transposed. ``num_batches_tracked`` and ``AuxLogits.*`` entries are ignored.
    Raises ``ValueError`` on missing or mis-shaped entries.
    """
    flat: dict[tuple[str, ...], np.ndarray] = {}
    for key, value in state_dict.items():
        arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        parts = key.split(".")
        if parts[-1] == "num_batches_tracked" or parts[0] == "AuxLogits":
            continue
        *mod, leaf = parts
        if mod and mod[-1] == "conv" and leaf == "weight":
            flat[("params", *mod, "kernel")] = arr.transpose(2, 3, 1, 0)
        elif mod and mod[-1] == "bn" and leaf in ("weight", "bias"):
            flat[("params", *mod, "scale" if leaf == "weight" else "bias")] = arr
        elif mod and mod[-1] == "bn" and leaf in ("running_mean", "running_var"):
            flat[("batch_stats", *mod, "mean" if leaf == "running_mean" else "var")] = arr
        elif mod == ["fc"] and leaf == "weight":
            flat[("params", "fc", "kernel")] = arr.T
        elif mod == ["fc"] and leaf == "bias":
            flat[("params", "fc", "bias")] = arr
        else:
            raise ValueError(f"unexpected entry {key!r} in the Inception state dict")
    variables = {k: np.asarray(v, np.float32) for k, v in flat.items()}
    _check_shapes(variables)
    return traverse_util.unflatten_dict(variables)


@functools.lru_cache(maxsize=1)
def _reference_shapes() -> dict[tuple[str, ...], tuple[int, ...]]:
    shapes = jax.eval_shape(lambda: InceptionV3FID(resize_input=False).init(jax.random.PRNGKey(0), jnp.zeros((1, 75, 75, 3))))
    return {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(dict(shapes)).items()}


def _check_shapes(flat: Mapping[tuple[str, ...], np.ndarray]) -> None:
    ref = _reference_shapes()
    missing = sorted(set(ref) - set(flat))
    extra = sorted(set(flat) - set(ref))
    if missing or extra:
        what = f"missing {'/'.join(missing[0])}" if missing else f"unexpected {'/'.join(extra[0])}"
        raise ValueError(f"not an FID Inception-v3 state dict ({len(missing)} missing, {len(extra)} unexpected entries; {what})")
    for k, shape in ref.items():
        if tuple(flat[k].shape) != shape:
            raise ValueError(f"{'/'.join(k)} has shape {tuple(flat[k].shape)}, expected {shape}")


def save_npz(variables: Mapping, path: str | Path) -> Path:
    """Write converted variables as an uncompressed ``.npz`` (readable without torch)."""
    path = Path(path)
    flat = traverse_util.flatten_dict(jax.device_get(dict(variables)), sep="/")
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v, np.float32) for k, v in flat.items()})
    tmp.replace(path)
    return path


def load_inception_variables(path: str | Path) -> dict:
    """Flax variables from pytorch-fid's ``.pth`` (needs torch) or a converted ``.npz``.

    Raises ``FileNotFoundError`` if the file is missing, ``ImportError`` if a ``.pth`` is
    given and torch is not installed, ``ValueError`` if the file is not readable as
    FID Inception weights.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Inception weights not found: {path} (download {FID_WEIGHTS_URL} yourself, or convert it to .npz)")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                flat = {tuple(k.split("/")): np.asarray(z[k], np.float32) for k in z.files}
        except (OSError, ValueError, EOFError, KeyError) as e:
            raise ValueError(f"cannot read Inception weights {path}: {type(e).__name__}: {e}") from None
        _check_shapes(flat)
        return traverse_util.unflatten_dict(flat)
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"reading {path.name} needs PyTorch (pip install torch==2.13.0), or convert it once elsewhere with "
            "`python -m gan_jax.metrics.inception convert IN.pth OUT.npz` and pass the .npz") from None
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt or foreign file
        raise ValueError(f"cannot read Inception weights {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"{path} does not hold a state dict")
    return convert_state_dict(state_dict)


# ----------------------------------------------------------------------------- feature function


def make_feature_fn(variables: Mapping, *, precision: Any = jax.lax.Precision.HIGHEST,
                    dtype: Any = jnp.float32) -> Callable[[Any], tuple[jax.Array, jax.Array]]:
    """A jitted ``f(images) -> (pool3 (N, 2048), logits (N, 1008))``.

    ``images``: NHWC, uint8 0..255 or float in [0, 1], 1 or 3 channels, any size (resized
    to 299x299 as pytorch-fid). Call it on fixed-size batches to avoid recompiling.
    ``precision`` applies to every convolution and matmul (HIGHEST: true float32 also on
    GPUs/TPUs, which would otherwise use TF32/bf16 passes). ``dtype=jnp.float64`` (inside
    ``jax.enable_x64``) is for exactness tests.
    """
    model = InceptionV3FID(precision=precision, dtype=dtype)
    variables = jax.tree.map(lambda a: jnp.asarray(a, dtype), dict(variables))

    @jax.jit
    def apply(variables, images):
        x = images.astype(dtype)
        if images.dtype == jnp.uint8:
            x = x / 255.0
        return model.apply(variables, x)

    return functools.partial(apply, variables)


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m gan_jax.metrics.inception")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help=f"convert {FID_WEIGHTS_NAME} to a torch-free .npz")
    c.add_argument("src")
    c.add_argument("dst")
    args = p.parse_args(argv)
    save_npz(load_inception_variables(args.src), args.dst)
    print(f"wrote {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
