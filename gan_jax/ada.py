"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, arXiv:2006.06676) in pure JAX.

With limited data D overfits the reals. ADA augments every image D sees (reals and fakes) with
a fixed pipeline whose ops each fire with probability ``p``, and tunes ``p`` from an overfitting
heuristic (``adjust_p``). Below ``p ~ 0.8`` the augmentations do not leak into G's outputs. The
semantics and constants follow the reference, NVlabs/stylegan2-ada-pytorch
``training/augment.py`` (``AugmentPipe``) and ``training/training_loop.py`` (the controller):

* geometric ops (xflip, rotate90, xint, scale, rotate, aniso, xfrac) compose one inverse 3x3
  homogeneous matrix per image, applied once; color ops (brightness, contrast, lumaflip, hue,
  saturation) compose one 4x4 matrix, applied once; then image-space filtering (the reference's
  4-band sym2 filter bank), additive noise and cutout. Ops always run in that (the reference's)
  order, whatever order a pipeline lists.
* each op fires per image with probability ``p`` times its multiplier; an op that does not fire
  gets identity parameters (``where`` on the draws, no Python branch on ``p``), and an image
  whose composed transform is the identity is passed through by ``where``, so ``p == 0`` returns
  ``x`` bit for bit.
* deviation: the geometric resample is a plain bilinear lookup in the infinitely reflect-padded
  image, not the reference's sym6 wavelet 2x upsample + ``grid_sample`` + downsample (so large
  scalings alias a little; integer-only transforms are exact pixel permutations either way).
* channels: 3 uses the full color matrix; any other count applies its luma part per channel
  (the reference's ``num_channels == 1`` branch), where hue and saturation are identities.

Randomness comes from one key per example of the global batch (``gan_jax.noise.example_keys``),
so equal keys give equal augmentations and a pmapped step (``axis_name``) augments exactly as one
device does. Parameters are drawn in float32; results keep ``x.dtype``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import noise

Array = jax.Array

#: every op ``augment`` knows, in the order it runs them
OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
       "brightness", "contrast", "lumaflip", "hue", "saturation", "imgfilter", "noise", "cutout")
_GEOM = OPS[:7]
_COLOR = OPS[7:12]

#: the reference's presets (``train.py --augpipe``); ``bgc`` is its default
PIPELINES = {
    "blit": ("xflip", "rotate90", "xint"),
    "geom": ("scale", "rotate", "aniso", "xfrac"),
    "color": ("brightness", "contrast", "lumaflip", "hue", "saturation"),
    "filter": ("imgfilter",),
    "noise": ("noise",),
    "cutout": ("cutout",),
    "bg": ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac"),
    "bgc": _GEOM + _COLOR,
    "bgcf": _GEOM + _COLOR + ("imgfilter",),
    "bgcfn": _GEOM + _COLOR + ("imgfilter", "noise"),
    "bgcfnc": _GEOM + _COLOR + ("imgfilter", "noise", "cutout"),
    "bgcc": _GEOM + _COLOR + ("cutout",),
}

# the reference's AugmentPipe defaults
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0
IMGFILTER_STD, NOISE_STD, CUTOUT_SIZE = 1.0, 0.1, 0.5
_HI = jax.lax.Precision.HIGHEST  # full float32 dots (no TF32 / bf16 passes) for the filter
_LUMA = np.asarray([1, 1, 1, 0], np.float32) / np.sqrt(3)  # gray axis of the color cube
_VV = np.outer(_LUMA, _LUMA)


def _filter_bank() -> tuple[np.ndarray, np.ndarray]:
    """The reference's 4-band filter bank (sym2 wavelet) and its expected 1/f power per band."""
    lo = np.asarray([-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025])
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2, hi2 = np.convolve(lo, lo[::-1]) / 2, np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(4, 1)
    for i in range(1, 4):
        bank = np.dstack([bank, np.zeros_like(bank)]).reshape(4, -1)[:, :-1]  # 2x zero-stuff
        bank = np.stack([np.convolve(row, lo2) for row in bank])
        start = (bank.shape[1] - hi2.size) // 2
        bank[i, start:start + hi2.size] += hi2
    return bank.astype(np.float32), np.asarray([10, 1, 1, 1], np.float32) / 13


_FBANK, _FBANK_POWER = _filter_bank()


def _resolve(pipeline) -> dict[str, float]:
    """``{op: multiplier}`` from a preset name, a sequence of op names, or a mapping op -> multiplier."""
    if isinstance(pipeline, str):
        if pipeline not in PIPELINES:
            raise ValueError(f"unknown ADA pipeline {pipeline!r}; choose from {sorted(PIPELINES)} "
                             f"or a tuple of ops from {OPS}")
        pipeline = PIPELINES[pipeline]
    mult = dict(pipeline) if isinstance(pipeline, Mapping) else {op: 1.0 for op in pipeline}
    unknown = [op for op in mult if op not in OPS]
    if unknown:
        raise ValueError(f"unknown ADA ops {unknown}; choose from {OPS}")
    return {op: float(m) for op, m in mult.items() if m > 0}


# -- matrices: nested lists of per-image entries, Python numbers where the entry is constant, so
# the products below emit only the arithmetic that the nonzero entries need (small XLA programs)
# and stay exact float32 on every backend (no dot, so no TF32 / bf16 passes)

def _mul(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a * b
    if isinstance(a, (int, float)) and a in (0, 1):
        return b if a else 0
    if isinstance(b, (int, float)) and b in (0, 1):
        return a if b else 0
    return a * b


def _add(a, b):
    if isinstance(a, (int, float)) and a == 0:
        return b
    if isinstance(b, (int, float)) and b == 0:
        return a
    return a + b


def _matmul(a: list, b: list) -> list:
    out = [[0] * len(b[0]) for _ in a]
    for i, row in enumerate(a):
        for j in range(len(b[0])):
            for k, e in enumerate(row):
                out[i][j] = _add(out[i][j], _mul(e, b[k][j]))
    return out


def _stack(m: list, n: int) -> Array:
    """(n, rows, cols) float32 array of a nested-list matrix."""
    entry = lambda e: jnp.broadcast_to(jnp.asarray(e, jnp.float32), (n,))
    return jnp.stack([jnp.stack([entry(e) for e in row], -1) for row in m], -2)


def _translate2d(tx, ty):
    return [[1, 0, tx], [0, 1, ty], [0, 0, 1]]


def _scale2d(sx, sy):
    return [[sx, 0, 0], [0, sy, 0], [0, 0, 1]]


def _rotate2d(cos, sin):
    return [[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]]


def _block3(entry) -> list:
    """4x4 homogeneous color matrix with ``entry(i, j)`` in the RGB block."""
    return [[entry(i, j) if i < 3 and j < 3 else float(i == j) for j in range(4)] for i in range(4)]


def _color_lists(params: dict) -> list:
    """The reference's color matrix ``C`` (4x4 lists) from the ops in ``params`` (op -> (n,) array),
    composed in its order: brightness, contrast, lumaflip, hue, saturation (``C = M @ C``)."""
    vv = [[float(_VV[i, j]) for j in range(4)] for i in range(4)]
    eye = lambda i, j: float(i == j)
    c = _block3(eye)
    if "brightness" in params:
        b = params["brightness"]
        c = _matmul([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]], c)
    if "contrast" in params:
        c = _matmul(_block3(lambda i, j: params["contrast"] if i == j else 0), c)
    if "lumaflip" in params:  # Householder reflection about the plane orthogonal to the gray axis
        c = _matmul(_block3(lambda i, j: eye(i, j) - 2 * vv[i][j] * params["lumaflip"]), c)
    if "hue" in params:  # Rodrigues rotation about the gray axis (the reference's rotate3d)
        cos, sin, v = jnp.cos(params["hue"]), jnp.sin(params["hue"]), _LUMA.tolist()
        cross = [[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]
        c = _matmul(_block3(lambda i, j: vv[i][j] * (1 - cos) + eye(i, j) * cos + cross[i][j] * sin), c)
    if "saturation" in params:
        c = _matmul(_block3(lambda i, j: vv[i][j] + (eye(i, j) - vv[i][j]) * params["saturation"]), c)
    return c


def color_matrix(brightness, contrast, lumaflip, hue, saturation) -> Array:
    """The reference's 4x4 color matrices (``C @ [r, g, b, 1]``) from per-image parameters, shape (n,).

    Identity parameters: brightness 0, contrast 1, lumaflip 0 (1: Householder reflection about
    the gray plane), hue 0 (radians around the gray axis), saturation 1 (0: gray).
    """
    params = dict(brightness=brightness, contrast=contrast, lumaflip=lumaflip, hue=hue, saturation=saturation)
    params = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    return _stack(_color_lists(params), params["hue"].shape[0])


def apply_color(x: Array, c: Array) -> Array:
    """Apply per-image 4x4 color matrices ``c`` (n, 4, 4) to NHWC ``x`` (3 channels: full matrix;
    any other count: its luma part per channel, as the reference's 1-channel branch)."""
    c = c[:, None, None]  # (n, 1, 1, 4, 4)
    if x.shape[-1] == 3:
        # elementwise, not a dot: exact float32 on every backend
        return x[..., 0:1] * c[..., :3, 0] + x[..., 1:2] * c[..., :3, 1] + x[..., 2:3] * c[..., :3, 2] + c[..., :3, 3]
    luma = c[..., :3, :].mean(axis=-2)  # (n, 1, 1, 4): what a gray pixel's mean channel becomes
    return x * luma[..., :3].sum(-1, keepdims=True) + luma[..., 3:]


def _reflect(i: Array, n: int) -> Array:
    """Index into an axis of length ``n`` reflected without edge repeat (torch/numpy 'reflect'), any distance."""
    if n == 1:
        return jnp.zeros_like(i)
    period = 2 * (n - 1)
    m = jnp.mod(i, period)
    return jnp.where(m < n, m, period - m)


def apply_geometry(x: Array, g_inv: Array) -> Array:
    """Resample NHWC ``x`` through per-image inverse 3x3 matrices ``g_inv`` (output pixel -> input
    pixel, in pixel units about the image center), bilinearly in the reflect-padded image."""
    n, h, w, c = x.shape
    yo = (jnp.arange(h, dtype=jnp.float32) - (h - 1) / 2)[None, :, None]
    xo = (jnp.arange(w, dtype=jnp.float32) - (w - 1) / 2)[None, None, :]
    g = g_inv[:, :2, :, None, None]  # (n, 2, 3, 1, 1)
    # elementwise, not a dot: exact for the integer matrices of the blit ops on any backend
    cols = g[:, 0, 0] * xo + g[:, 0, 1] * yo + g[:, 0, 2] + (w - 1) / 2  # (n, h, w)
    rows = g[:, 1, 0] * xo + g[:, 1, 1] * yo + g[:, 1, 2] + (h - 1) / 2
    c0, r0 = jnp.floor(cols), jnp.floor(rows)
    fc, fr = cols - c0, rows - r0
    c0, r0 = c0.astype(jnp.int32), r0.astype(jnp.int32)
    # the four neighbours in one gather: (n, 4, h, w) flat indices and weights
    rr = _reflect(jnp.stack([r0, r0, r0 + 1, r0 + 1], 1), h)
    cc = _reflect(jnp.stack([c0, c0 + 1, c0, c0 + 1], 1), w)
    weight = jnp.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc], 1)[..., None]
    idx = (jnp.arange(n)[:, None, None, None] * h + rr) * w + cc
    return (x.reshape(n * h * w, c)[idx] * weight).sum(1)


def _filter_operator(taps: Array, n: int) -> Array:
    """Per-image (n, n) matrices of the 1-D filter ``taps`` (b, k) over a reflect-padded axis of length n."""
    k = taps.shape[1]
    src = np.arange(n)[:, None] + np.arange(k)[None, :] - k // 2  # (n, k): input index of output i, tap j
    src = np.zeros_like(src) if n == 1 else np.abs((src + n - 1) % (2 * (n - 1)) - (n - 1))  # as _reflect
    out = np.broadcast_to(np.arange(n)[:, None], src.shape)
    # taps that reflect onto one pixel add up (a scatter: no (k, n, n) constant in the program)
    b = taps.shape[0]
    return jnp.zeros((b, n, n), taps.dtype).at[:, out, src].add(jnp.broadcast_to(taps[:, None, :], (b, n, k)))


def _apply_filter(x: Array, taps: Array) -> Array:
    """Separable per-image filter ``taps`` (n, k), horizontal then vertical, reflect-padded (as
    the reference's padded cross-correlation), written as two small matmuls per image."""
    _, h, w, _ = x.shape
    x = jnp.einsum("nhwc,nvw->nhvc", x, _filter_operator(taps, w), precision=_HI)
    return jnp.einsum("nhwc,nvh->nvwc", x, _filter_operator(taps, h), precision=_HI)


# -- the pipeline ------------------------------------------------------------------------------

def _where_id(fired: Array, value: Array, identity) -> Array:
    return jnp.where(fired, value, jnp.asarray(identity, value.dtype))


# fixed per-example slots of three random vectors (gates, uniforms, normals), so that an op draws
# the same numbers whatever else the pipeline enables
_BANDS = tuple(f"imgfilter{b}" for b in range(4))
_GATE = {k: i for i, k in enumerate(OPS[:5] + ("rotate_post",) + OPS[5:12] + _BANDS + ("noise", "cutout"))}
_UNIF = {k: i for i, k in enumerate(("xflip", "rotate90", "xint_x", "xint_y", "rotate", "rotate_post", "lumaflip",
                                     "hue", "cutout_x", "cutout_y"))}
_NORM = {k: i for i, k in enumerate(("scale", "aniso", "xfrac_x", "xfrac_y", "brightness", "contrast", "saturation")
                                    + _BANDS + ("noise",))}


def augment(x: Array, p, key: Array, *, pipeline: str | Sequence[str] | Mapping[str, float] = "bgc",
            axis_name: str | None = None) -> Array:
    """ADA-augment NHWC images ``x`` in [-1, 1]: each op of ``pipeline`` fires per image with
    probability ``p`` (a scalar, may be traced) times its multiplier.

    ``pipeline``: a ``PIPELINES`` name, a sequence of ``OPS``, or a mapping op -> multiplier.
    Jit-able and differentiable w.r.t. ``x``; ``p == 0`` returns ``x`` exactly.
    """
    mult = _resolve(pipeline)
    if x.ndim != 4:
        raise ValueError(f"ada.augment expects NHWC images, got shape {x.shape}")
    n, h, w, ch = x.shape
    p = jnp.asarray(p, jnp.float32)

    def draw(k):
        # one PRNG call per example (threefry is much of the XLA compile time on CPU); normals
        # from uniforms by the inverse CDF, as jax.random.normal does
        sizes = (len(_GATE), len(_UNIF), len(_NORM), h * w * ch if "noise" in mult else 0)
        v = jnp.split(jax.random.uniform(k, (sum(sizes),)), np.cumsum(sizes)[:-1])
        to_normal = lambda u: np.sqrt(2) * jax.lax.erf_inv(jnp.maximum(2 * u - 1, np.nextafter(np.float32(-1), 0)))
        return v[0], v[1], to_normal(v[2]), to_normal(v[3]).reshape(h, w, ch) if "noise" in mult else None

    gate, unif, norm, pixels = jax.vmap(draw)(noise.example_keys(key, n, axis_name))
    u = lambda name: unif[:, _UNIF[name]]
    z = lambda name: norm[:, _NORM[name]]

    def fires(slot, op=None, prob=None):
        """Per image: ``U[0, 1) < prob`` (default ``p`` times the op's multiplier)."""
        return gate[:, _GATE[slot]] < (p * mult[op or slot] if prob is None else prob)

    xf = x.astype(jnp.float32)
    identity = jnp.ones((n,), bool)  # per image: nothing fired so far

    if any(op in mult for op in _GEOM):
        g, fired = _scale2d(1, 1), jnp.zeros((n,), bool)
        if "xflip" in mult:
            i = jnp.where(fires("xflip"), jnp.floor(u("xflip") * 2), 0.0)
            g, fired = _matmul(g, _scale2d(1 - 2 * i, 1)), fired | (i != 0)
        if "rotate90" in mult:
            i = jnp.where(fires("rotate90"), jnp.floor(u("rotate90") * 4), 0.0).astype(jnp.int32)
            # exact cos / sin of i * pi / 2 (float pi would leave 1e-8 residues)
            cos, sin = jnp.asarray([1.0, 0, -1, 0])[i], jnp.asarray([0.0, 1, 0, -1])[i]
            g, fired = _matmul(g, _rotate2d(cos, sin)), fired | (i != 0)
        if "xint" in mult:
            f = fires("xint")
            tx = jnp.round(jnp.where(f, (u("xint_x") * 2 - 1) * XINT_MAX, 0.0) * w)
            ty = jnp.round(jnp.where(f, (u("xint_y") * 2 - 1) * XINT_MAX, 0.0) * h)
            g, fired = _matmul(g, _translate2d(-tx, -ty)), fired | (tx != 0) | (ty != 0)
        if "scale" in mult:
            f = fires("scale")
            s = _where_id(f, jnp.exp2(z("scale") * SCALE_STD), 1.0)
            g, fired = _matmul(g, _scale2d(1 / s, 1 / s)), fired | f
        # pre- and post-rotation each with p_rot, so that P(either) = p * multiplier
        p_rot = 1 - jnp.sqrt(jnp.clip(1 - p * mult.get("rotate", 0.0), 0, 1))

        def rotate(g, fired, slot):
            f = fires(slot, prob=p_rot)
            theta = _where_id(f, (u(slot) * 2 - 1) * np.pi * ROTATE_MAX, 0.0)
            return _matmul(g, _rotate2d(jnp.cos(theta), jnp.sin(theta))), fired | f

        if "rotate" in mult:
            g, fired = rotate(g, fired, "rotate")
        if "aniso" in mult:
            f = fires("aniso")
            s = _where_id(f, jnp.exp2(z("aniso") * ANISO_STD), 1.0)
            g, fired = _matmul(g, _scale2d(1 / s, s)), fired | f
        if "rotate" in mult:
            g, fired = rotate(g, fired, "rotate_post")
        if "xfrac" in mult:
            f = fires("xfrac")
            tx, ty = _where_id(f, z("xfrac_x") * XFRAC_STD, 0.0), _where_id(f, z("xfrac_y") * XFRAC_STD, 0.0)
            g, fired = _matmul(g, _translate2d(-tx * w, -ty * h)), fired | f
        xf = jnp.where(fired[:, None, None, None], apply_geometry(xf, _stack(g, n)), xf)
        identity &= ~fired

    if any(op in mult for op in _COLOR):
        drawn = {"brightness": (z("brightness") * BRIGHTNESS_STD, 0.0),
                 "contrast": (jnp.exp2(z("contrast") * CONTRAST_STD), 1.0),
                 "lumaflip": (jnp.floor(u("lumaflip") * 2), 0.0),
                 "hue": ((u("hue") * 2 - 1) * np.pi * HUE_MAX, 0.0),
                 "saturation": (jnp.exp2(z("saturation") * SATURATION_STD), 1.0)}
        rgb = ch == 3  # hue and saturation leave the luma of other channel counts unchanged
        params, fired = {}, jnp.zeros((n,), bool)
        for op, (value, ident) in drawn.items():
            if op in mult and (rgb or op not in ("hue", "saturation")):
                params[op] = _where_id(fires(op), value, ident)
                fired |= params[op] != ident
        xf = jnp.where(fired[:, None, None, None], apply_color(xf, _stack(_color_lists(params), n)), xf)
        identity &= ~fired

    if "imgfilter" in mult:
        # the reference's band-wise gains, each renormalized to keep the expected (1/f) power
        gain, fired = jnp.ones((n, 4)), jnp.zeros((n,), bool)
        for b, band in enumerate(_BANDS):
            f = fires(band, "imgfilter")
            t = jnp.ones((n, 4)).at[:, b].set(_where_id(f, jnp.exp2(z(band) * IMGFILTER_STD), 1.0))
            gain, fired = gain * t / jnp.sqrt((jnp.asarray(_FBANK_POWER) * t * t).sum(-1, keepdims=True)), fired | f
        taps = jnp.matmul(gain, jnp.asarray(_FBANK), precision=_HI)
        xf = jnp.where(fired[:, None, None, None], _apply_filter(xf, taps), xf)
        identity &= ~fired

    if "noise" in mult:
        sigma = _where_id(fires("noise"), jnp.abs(z("noise")) * NOISE_STD, 0.0)
        fired = sigma > 0
        xf = jnp.where(fired[:, None, None, None], xf + pixels * sigma[:, None, None, None], xf)
        identity &= ~fired

    if "cutout" in mult:
        f = fires("cutout")
        size = jnp.where(f, CUTOUT_SIZE, 0.0)[:, None, None]
        cx, cy = u("cutout_x")[:, None, None], u("cutout_y")[:, None, None]
        # the reference's rule: keep pixels whose center is at least size / 2 from the center on x or y
        keep_x = jnp.abs((jnp.arange(w) + 0.5) / w - cx) >= size / 2  # (n, 1, w)
        keep_y = jnp.abs((jnp.arange(h)[:, None] + 0.5) / h - cy) >= size / 2  # (n, h, 1)
        xf = jnp.where((keep_x | keep_y)[..., None], xf, 0.0)
        identity &= ~f

    # bit-exact pass-through where nothing fired (float ops with identity parameters may flip -0.0)
    return jnp.where(identity[:, None, None, None], x, xf.astype(x.dtype))


def adjust_p(p, sign_mean, *, batch_size: int, interval: int = 4, target: float = 0.6,
             speed_kimg: float = 500.0) -> Array:
    """The reference's ADA controller: step ``p`` by ``batch_size * interval / (speed_kimg * 1000)``
    towards lowering the overfitting heuristic ``r_t = E[sign(D(real))]`` (``sign_mean``) to ``target``.

    Run every ``interval`` D steps with ``sign_mean`` averaged over them; ``p`` can go from 0 to 1
    in ``speed_kimg`` thousand images. Clamped at 0 only, as the reference (``p > 1`` is allowed).
    """
    p, sign_mean = jnp.asarray(p, jnp.float32), jnp.asarray(sign_mean, jnp.float32)
    step = jnp.sign(sign_mean - target) * (batch_size * interval / (speed_kimg * 1000))
    return jnp.maximum(p + step, 0.0)
