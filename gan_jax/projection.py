"""Project a real image into a trained StyleGAN2's W space (``gan-jax project``).

As stylegan2-ada-pytorch's ``projector.py`` (Karras et al. 2020b): start from ``w_avg``, optimise
one w (broadcast to every layer; ``w_plus=True``: one per layer) with Adam, learning rate
``0.1`` ramped up over the first 5% of the steps and down (cosine) over the last 25%, Gaussian
noise of ``w_std * 0.05 * max(0, 1 - t / 0.75)^2`` added to w at step fraction ``t``
(``w_std``: the RMS distance of 10,000 mapped latents from ``w_avg``). Differences:

* **no LPIPS**: the loss is the pixel MSE (pixels in [0, 1]) plus ``feature_weight`` times the
  squared distance of the features of the shipped classifier that ``gan_jax.evaluate`` scores
  the run's dataset with (``mnist`` / ``cifar10``: the penultimate, average-pooled layer of
  ``gan_jax.metrics.classifier``, on images clipped to [0, 1] and resized to its input as in the
  FID protocol, without the uint8 quantisation so the loss is differentiable). The default weights
  (``FEATURE_WEIGHTS``) make both terms equal on average for unrelated images (measured:
  docs/stylegan2.md, "Projection").
* **noise inputs are not optimised**: this generator draws its per-pixel noise from keys
  (``noise_keys``) inside the synthesis network, not from buffers, so there is nothing to
  optimise without changing the model; the projection uses its fixed 'const' noise
  (``noise_keys=None``, projector.py's ``noise_mode='const'``), and the noise regularisation
  of projector.py does not apply.
* the start is the run's tracked ``w_avg`` (``state.extra["w_avg"]``, the truncation centre;
  projector.py takes the mean of its 10,000 samples).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.engine import Recipe, TrainState, apply_network

__all__ = ["NUM_STEPS", "FEATURE_WEIGHTS", "ProjectionResult", "learning_rate", "w_noise_scale", "w_std", "feature_fn",
           "loss_terms", "project", "side_by_side", "video_frames"]

# projector.py's defaults (stylegan2-ada-pytorch, ``project(...)``):
NUM_STEPS = 1000  # num_steps
W_AVG_SAMPLES = 10_000  # w_avg_samples (z drawn with seed 123, as np.random.RandomState(123))
INITIAL_LR = 0.1  # initial_learning_rate
INITIAL_NOISE_FACTOR = 0.05  # initial_noise_factor
LR_RAMPDOWN = 0.25  # lr_rampdown_length
LR_RAMPUP = 0.05  # lr_rampup_length
NOISE_RAMP = 0.75  # noise_ramp_length
ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam(betas=(0.9, 0.999))

#: feature-loss weight per classifier: E[pixel MSE] / E[|df|^2] over random pairs of training images (module docstring)
FEATURE_WEIGHTS = {"mnist": 0.003, "cifar10": 0.015}
#: without a terminal, a progress line every this many seconds (with a terminal: a tqdm bar)
PROGRESS_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class ProjectionResult:
    """What ``project`` found: the styles, their image, its distances to the target, the history."""

    #: (num_ws, w_dim) per-layer styles of the projection (the same row everywhere unless w-plus)
    ws: np.ndarray
    #: uint8 (H, W, C) image of ``ws``, as saved
    image: np.ndarray
    #: pixel MSE (pixels in [0, 1]) and feature squared distance of ``image`` to the target (None without features)
    pixel_mse: float
    feature_dist: float | None
    #: (num_steps,) loss of every step (with that step's w noise)
    losses: np.ndarray
    #: (num_steps, num_ws, w_dim) the optimised styles after every step, for videos
    trajectory: np.ndarray


def learning_rate(t, *, initial: float = INITIAL_LR, rampup: float = LR_RAMPUP, rampdown: float = LR_RAMPDOWN):
    """projector.py's schedule at step fraction ``t`` in [0, 1]: linear ramp-up over ``rampup``,
    cosine ramp-down over the last ``rampdown``; works on floats and traced arrays."""
    down = jnp.minimum(1.0, (1.0 - t) / rampdown)
    down = 0.5 - 0.5 * jnp.cos(down * jnp.pi)
    return initial * down * jnp.minimum(1.0, t / rampup)


def w_noise_scale(t, std, *, factor: float = INITIAL_NOISE_FACTOR, ramp: float = NOISE_RAMP):
    """Std of the noise added to w at step fraction ``t``: ``std * factor * max(0, 1 - t / ramp)^2``."""
    return std * factor * jnp.square(jnp.maximum(0.0, 1.0 - t / ramp))


@functools.partial(jax.jit, static_argnames=("use_ema",))
def _mapped(net, z, *, use_ema: bool):
    return apply_network(net, z, None, ema=use_ema, method="mapping")


def _generator(recipe: Recipe, state: TrainState, use_ema: bool):
    """(G, whether to use its EMA); ValueError unless an unconditional StyleGAN2 generator."""
    net = state.nets[recipe.generator]
    if recipe.truncation != "w" or not hasattr(net.module, "synthesis"):
        raise ValueError(f"projection needs a StyleGAN2 generator (a W space), not recipe {recipe.name!r}")
    if recipe.num_classes:
        raise ValueError("projection needs an unconditional generator; this one is conditional")
    return net, use_ema and net.ema is not None


def w_std(recipe: Recipe, state: TrainState, w_avg: jax.Array, *, num: int = W_AVG_SAMPLES, use_ema: bool = True,
          seed: int = 123) -> float:
    """``sqrt(sum |w - w_avg|^2 / num)`` over ``num`` mapped latents: projector.py's w_std (the scale of the w noise)."""
    net, ema = _generator(recipe, state, use_ema)
    z = jax.random.normal(jax.random.PRNGKey(seed), (num, recipe.latent_dim))
    w = _mapped(net, z, use_ema=ema)
    return float(jnp.sqrt(jnp.sum(jnp.square(w - w_avg)) / num))


def feature_fn(spec: str) -> Callable[[jax.Array], jax.Array]:
    """Differentiable ``images in [0, 1] (B, H, W, C) -> features (B, dim)`` of a shipped classifier
    (``mnist`` / ``cifar10``), resized to its input as ``gan_jax.metrics.features`` does."""
    from gan_jax.metrics import classifier
    from gan_jax.metrics.inception import resize_bilinear

    module, variables, _ = classifier.load_classifier(spec)
    h, w, _ = classifier.CLASSIFIERS[spec]["input_shape"]
    return lambda x: module.apply(variables, resize_bilinear(x, h, w))[0]


def loss_terms(image: jax.Array, target: jax.Array, target_features: jax.Array | None, features: Callable | None):
    """(pixel MSE, feature squared distance or 0) of one image (H, W, C) on the [0, 1] scale to the target.

    The classifier sees the image clipped to [0, 1], as it is saved (unclipped, out-of-range
    pixels fool it: docs/stylegan2.md); the pixel term sees the raw output, so pixels outside
    [0, 1] are still pulled back.
    """
    mse = jnp.mean(jnp.square(image - target))
    if features is None:
        return mse, jnp.zeros(())
    return mse, jnp.sum(jnp.square(features(jnp.clip(image, 0.0, 1.0)[None])[0] - target_features))


def project(recipe: Recipe, state: TrainState, target: np.ndarray, *, num_steps: int = NUM_STEPS, seed: int = 0,
            use_ema: bool = True, w_plus: bool = False, features: str | None = None, feature_weight: float | None = None,
            w_std_samples: int = W_AVG_SAMPLES, progress: bool = False) -> ProjectionResult:
    """Optimise w so that G's synthesis reproduces ``target`` (uint8 (H, W, C) of the run's shape).

    ``features``: ``mnist`` / ``cifar10`` adds the classifier feature loss (weight ``feature_weight``,
    default ``FEATURE_WEIGHTS[features]``), None: pixel MSE only. ``seed`` draws the w noise.
    ``progress``: a bar on stderr (a line every ``PROGRESS_SECONDS`` without a terminal).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    net, ema = _generator(recipe, state, use_ema)
    num_ws, w_dim = net.module.num_ws, net.module.w_dim
    shape = tuple(net.module.image_shape)
    if tuple(target.shape) != shape:
        raise ValueError(f"target has shape {tuple(target.shape)}, the generator makes {shape}")
    feats = _features(features) if features else None
    weight = (FEATURE_WEIGHTS.get(features, 1.0) if feature_weight is None else feature_weight) if features else 0.0
    target01 = jnp.asarray(target, jnp.float32) / 255.0
    target_features = feats(target01[None])[0] if feats else None
    w_avg = jnp.asarray(state.extra["w_avg"], jnp.float32)
    std = jnp.float32(w_std(recipe, state, w_avg, num=w_std_samples, use_ema=use_ema))
    w_opt = jnp.broadcast_to(w_avg, (num_ws, w_dim) if w_plus else (1, w_dim))
    key = jax.random.PRNGKey(seed)
    static = dict(num_steps=num_steps, ema=ema, features=features, weight=float(weight))
    opt_state = _adam(num_steps).init(w_opt)
    history, trajectory = [], []
    bar, say = _progress(num_steps, progress)
    for i in range(num_steps):
        w_opt, opt_state, terms = _step(w_opt, opt_state, net, jnp.asarray(i, jnp.int32), key, std, target01, target_features, **static)
        history.append(terms)
        trajectory.append(w_opt)
        say(i + 1, terms)
    bar.close()
    ws = np.asarray(jnp.broadcast_to(w_opt, (num_ws, w_dim)))
    image = _quantised(_synth(net, w_opt, ema=ema))
    mse, dist = _final_terms(jnp.asarray(image, jnp.float32) / 255.0, target01, target_features, features=features)
    traj = np.asarray(jnp.broadcast_to(jnp.stack(trajectory), (num_steps, num_ws, w_dim)))
    return ProjectionResult(ws=ws, image=image, pixel_mse=float(mse), feature_dist=float(dist) if feats else None,
                            losses=np.asarray(jnp.stack(history)[:, 0]), trajectory=traj)


# Module-level and keyed by static settings, so projecting many images compiles the step once.


@functools.lru_cache(maxsize=None)
def _features(spec: str) -> Callable[[jax.Array], jax.Array]:
    return feature_fn(spec)


@functools.lru_cache(maxsize=None)
def _adam(num_steps: int) -> optax.GradientTransformation:
    return optax.adam(learning_rate=lambda count: learning_rate(count / num_steps), b1=ADAM_BETAS[0], b2=ADAM_BETAS[1], eps=1e-8)


@functools.partial(jax.jit, static_argnames=("ema",))
def _synth(net, w, *, ema: bool):
    """(1 | num_ws, w_dim) styles -> G's image in [0, 1] (fixed 'const' noise)."""
    num_ws, w_dim = net.module.num_ws, net.module.w_dim
    ws = jnp.broadcast_to(w, (num_ws, w_dim))[None]
    return (apply_network(net, ws, None, ema=ema, method="synthesis")[0] + 1.0) / 2.0


@functools.partial(jax.jit, static_argnames=("features",))
def _final_terms(image, target01, target_features, *, features: str | None):
    return loss_terms(image, target01, target_features, _features(features) if features else None)


@functools.partial(jax.jit, static_argnames=("num_steps", "ema", "features", "weight"))
def _step(w, opt_state, net, i, key, std, target01, target_features, *, num_steps: int, ema: bool, features: str | None, weight: float):
    feats = _features(features) if features else None

    def loss_fn(w):
        noise = w_noise_scale(i / num_steps, std) * jax.random.normal(jax.random.fold_in(key, i), w.shape)
        mse, dist = loss_terms(_synth(net, w + noise, ema=ema), target01, target_features, feats)
        return mse + weight * dist, (mse, dist)

    (loss, terms), g = jax.value_and_grad(loss_fn, has_aux=True)(w)
    updates, opt_state = _adam(num_steps).update(g, opt_state, w)
    return optax.apply_updates(w, updates), opt_state, jnp.stack([loss, *terms])


def _quantised(image01: jax.Array) -> np.ndarray:
    return np.clip(np.round(np.asarray(image01, np.float32) * 255.0), 0, 255).astype(np.uint8)


def _progress(total: int, enabled: bool):
    """(tqdm bar, ``say(step, terms)``): the bar on a terminal, a line every PROGRESS_SECONDS otherwise;
    ``say`` reads the loss (a host sync) only when it shows it."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    bar = tqdm(total=total, desc="project", disable=not (enabled and tty), unit="step", dynamic_ncols=True)
    last = [time.monotonic()]

    def say(step: int, terms: jax.Array) -> None:
        bar.update(1)
        if not enabled:
            return
        every = max(1, total // 100)
        if tty and (step % every == 0 or step == total):
            loss, mse, dist = (float(v) for v in terms)
            bar.set_postfix(loss=f"{loss:.4g}", mse=f"{mse:.4g}", feat=f"{dist:.4g}")
        elif not tty and (time.monotonic() - last[0] >= PROGRESS_SECONDS or step == total):
            loss, mse, dist = (float(v) for v in terms)
            last[0] = time.monotonic()
            print(f"project: step {step}/{total} ({100 * step / total:.0f}%) loss={loss:.4g} mse={mse:.4g} feat={dist:.4g}",
                  file=sys.stderr, flush=True)

    return bar, say


def side_by_side(target: np.ndarray, image: np.ndarray, scale: int = 1) -> np.ndarray:
    """uint8 (H, 2 W, C): target | projection, scaled up ``scale`` times (nearest)."""
    pair = np.concatenate([target, image], axis=1)
    return pair.repeat(scale, axis=0).repeat(scale, axis=1)


def video_frames(recipe: Recipe, state: TrainState, target: np.ndarray, trajectory: np.ndarray, *, num_frames: int = 50,
                 use_ema: bool = True, scale: int = 1) -> list[np.ndarray]:
    """uint8 target | projection frames at ``num_frames`` evenly spaced steps of ``trajectory`` (the last included)."""
    net, ema = _generator(recipe, state, use_ema)
    idx = np.unique(np.linspace(0, len(trajectory) - 1, min(num_frames, len(trajectory))).round().astype(int))
    images = apply_network(net, jnp.asarray(trajectory[idx]), None, ema=ema, method="synthesis")
    return [side_by_side(target, _quantised((x + 1.0) / 2.0), scale) for x in np.asarray(images)]
