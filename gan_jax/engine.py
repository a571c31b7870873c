"""The train step of every GAN in gan_jax: named networks, loss phases, one pure step.

A GAN is a ``TrainState`` and a ``Recipe``:

* ``TrainState`` holds the networks by name (``"G"``, ``"D"``; ``"G_ab"``, ``"D_b"``, ...), each a
  ``Network`` with parameters, non-parameter collections (BatchNorm statistics, spectral-norm
  vectors), optimizer state and optionally an EMA copy of parameters *and* collections; an
  ``extra`` pytree the recipe owns (running statistics, image pools, parameter averages); the
  step counter; one rng key. Modules, optax transformations and EMA settings are static fields.
* ``Recipe`` is a sequence of ``Phase``\\ s, named as in stylegan2-ada-pytorch (``Dmain``,
  ``Dreg``, ``Gmain``, ``Greg``). A phase has a pure loss function of a ``PhaseContext``, names
  the networks it updates (one optimizer step each, with the gradient of its loss), runs every
  ``every`` steps (lazy regularisation: its loss is multiplied by ``every``), ``repeats`` times
  per step (n_critic; each repeat on a fresh real batch), and only in its window of steps
  ``[start, stop)`` if it has one (training stages: pre-train G, pre-train D, adversarial).
  A phase may hand arrays to the later phases of the same step (``ctx.share``: CycleGAN's
  discriminators see the very fakes its generator phase made), or a network's forward pass
  with its pullback (``ctx.apply_kept`` / ``ctx.replay``: pix2pix's G phase trains through the
  fake its D phase made, without running G twice).

``train_step_fn(recipe, active)`` is the pure ``(state, batch) -> (state, metrics)`` that runs the
every-step phases plus the scheduled (lazy or windowed) phases in ``active``. ``make_train_step``
compiles one variant per set of scheduled phases that run together and picks it from the host's
step counter, so a phase costs nothing on the steps where it does not run (no ``lax.cond``, no
device sync).

Randomness: ``step_key = fold_in(state.rng, state.step)``; one key per phase
``split(step_key, len(recipe.phases))`` (by position, whether or not the phase runs);
``fold_in(phase_key, i)`` for repeat ``i`` of a repeated phase; inside a call, the phase's named
subkeys ``split(call_key, len(phase.keys))``. A resumed run therefore draws exactly what an
uninterrupted one draws.

Parallelism: under ``jax.jit`` over a ``Mesh`` arrays are global and nothing here needs to know.
Under ``jax.pmap`` (``axis_name`` given) gradients and metrics are averaged over the axis, and the
context's draws and batch means are global (``gan_jax.noise``), so the update equals the
single-device update on the same global batch.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, Iterable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax import noise
from gan_jax.models.spectral import SN_COLLECTION

Array = jax.Array
PyTree = Any
Metrics = dict[str, Array]
Batch = dict[str, Array]

__all__ = [
    "EMA",
    "Network",
    "TrainState",
    "Phase",
    "Recipe",
    "PhaseContext",
    "TrainStep",
    "init_network",
    "init_state",
    "train_step_fn",
    "make_train_step",
    "apply_network",
    "to_float",
    "CRITIC_UNROLL_MAX",
]


def to_float(x: Array) -> Array:
    """uint8 images (0..255) -> float32 in [-1, 1]; float data passes through as float32."""
    if x.dtype == jnp.uint8:
        return x.astype(jnp.float32) / 127.5 - 1.0
    return x.astype(jnp.float32)


# ----------------------------------------------------------------------------- networks and state


@dataclasses.dataclass(frozen=True)
class EMA:
    """Exponential moving average of a network: ``ema <- beta ema + (1 - beta) params`` once per step.

    ``beta = decay``, except (a) with ``rampup > 0`` the half-life is at most ``rampup`` times the
    number of earlier steps, as StyleGAN2 does (``beta = min(decay, 0.5 ** (1 / (rampup t)))``:
    the average forgets its random initialisation early in training), and (b) before step
    ``start`` the EMA copies the parameters (BigGAN's ``ema_start``).

    The EMA network carries its own non-parameter collections: after each update it runs once in
    training mode on the inputs the network last saw in a phase that updated it, so its
    BatchNorm statistics (and spectral-norm vectors) are those of the *averaged* weights.
    """

    decay: float = 0.999
    rampup: float = 0.0
    start: int = 0

    def __post_init__(self):
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {self.decay}")
        if self.rampup < 0 or self.start < 0:
            raise ValueError(f"EMA rampup and start must be >= 0, got {self.rampup}, {self.start}")

    def beta(self, t: Array) -> Array:
        """The decay used for the update after step ``t`` (0-based)."""
        t = jnp.asarray(t, jnp.float32)
        beta = jnp.asarray(self.decay, jnp.float32)
        if self.rampup:
            beta = jnp.minimum(beta, 0.5 ** (1.0 / jnp.maximum(self.rampup * t, 1e-8)))
        if self.start:
            beta = jnp.where(t < self.start, 0.0, beta)
        return beta


class Network(struct.PyTreeNode):
    """One trained network: arrays (saved, donated, sharded) and its static module/optimizer/EMA."""

    params: PyTree
    #: non-parameter collections, e.g. {"batch_stats": ..., "spectral": ...} ({} if none)
    collections: PyTree
    opt_state: optax.OptState
    #: EMA parameters and collections ({} without EMA)
    ema_params: PyTree
    ema_collections: PyTree
    module: nn.Module = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)
    ema: EMA | None = struct.field(pytree_node=False, default=None)
    #: applied to the parameters after every optimizer step (e.g. WGAN weight clipping)
    project: Callable[[PyTree], PyTree] | None = struct.field(pytree_node=False, default=None)


def _copy(tree: PyTree) -> PyTree:
    # a copy, not an alias: the step donates the state, and aliased leaves cannot be donated twice
    return jax.tree.map(jnp.copy, tree)


def init_network(
    module: nn.Module,
    tx: optax.GradientTransformation,
    rng: Array,
    *args,
    ema: EMA | None = None,
    project: Callable[[PyTree], PyTree] | None = None,
    **kwargs,
) -> Network:
    """``module.init(rng, *args, train=False, **kwargs)`` and the optimizer (and EMA) state."""
    variables = dict(module.init(rng, *args, train=False, **kwargs))
    params = variables.pop("params")
    return Network(
        params=params,
        collections=variables,
        opt_state=tx.init(params),
        ema_params=_copy(params) if ema else {},
        ema_collections=_copy(variables) if ema else {},
        module=module,
        tx=tx,
        ema=ema,
        project=project,
    )


class TrainState(struct.PyTreeNode):
    #: train steps done (in the classic recipe: generator updates)
    step: Array
    nets: dict[str, Network]
    #: what the recipe owns besides the networks (running statistics, pools, averages, ...)
    extra: PyTree
    #: the run's base key; the step derives its keys with fold_in(rng, step)
    rng: Array


def init_state(rng: Array, networks: Mapping[str, Callable[[Array], Network]], extra: PyTree | None = None) -> TrainState:
    """A fresh state: ``networks[name](key)`` builds each network from its own key.

    ``rng`` is split into ``len(networks) + 1`` keys, in the mapping's order, the last one
    becoming the run key; ``extra`` may be a function of the built networks.
    """
    keys = jax.random.split(rng, len(networks) + 1)
    nets = {name: build(k) for (name, build), k in zip(networks.items(), keys[:-1])}
    if callable(extra):
        extra = extra(nets)
    return TrainState(step=jnp.zeros((), jnp.int32), nets=nets, extra={} if extra is None else extra, rng=keys[-1])


def apply_network(net: Network, *args, ema: bool = False, **kwargs):
    """The network in inference mode (``train=False``), with its EMA parameters and collections if ``ema``."""
    if ema and not net.ema:
        raise ValueError("this network has no EMA copy")
    params, collections = (net.ema_params, net.ema_collections) if ema else (net.params, net.collections)
    return net.module.apply({"params": params, **collections}, *args, train=False, **kwargs)


# ----------------------------------------------------------------------------- phases and recipes


@dataclasses.dataclass(frozen=True)
class Phase:
    """A loss and the networks it updates.

    ``loss(ctx) -> (scalar, metrics)``; the networks in ``updates`` each take one optimizer step
    with the gradient of the scalar (none: the phase only computes metrics or ``extra``).
    ``every > 1`` runs the phase on steps ``0, every, 2 every, ...`` with its loss multiplied by
    ``every`` (lazy regularisation, Karras et al. 2020; ``scale_lazy_loss=False`` to opt out).
    ``repeats > 1`` runs it that many times per step, repeat ``i`` on a fresh real batch.
    ``keys`` names the subkeys the loss draws from (``ctx.key(name)``).
    ``after(state, call_index) -> extra`` runs after the update (e.g. parameter averages);
    ``call_index`` is ``step * repeats + i``. ``start``/``stop``: the phase runs only at steps
    ``start <= step < stop`` (``stop=None``: to the end), lazily every ``every`` from ``start``.
    """

    name: str
    loss: Callable[["PhaseContext"], tuple[Array, Metrics]]
    updates: tuple[str, ...] = ()
    every: int = 1
    repeats: int = 1
    keys: tuple[str, ...] = ()
    after: Callable[[TrainState, Array], PyTree] | None = None
    scale_lazy_loss: bool = True
    start: int = 0
    stop: int | None = None

    def __post_init__(self):
        if not isinstance(self.updates, tuple) or not isinstance(self.keys, tuple):
            raise ValueError(f"phase {self.name!r}: updates and keys must be tuples of names, got {self.updates!r}, {self.keys!r}")
        if self.every < 1 or self.repeats < 1:
            raise ValueError(f"phase {self.name!r}: every and repeats must be >= 1, got {self.every}, {self.repeats}")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"phase {self.name!r}: key names must be distinct, got {self.keys}")
        if self.start < 0 or (self.stop is not None and self.stop < self.start):
            raise ValueError(f"phase {self.name!r}: need 0 <= start <= stop, got {self.start}, {self.stop}")

    @property
    def lazy(self) -> bool:
        return self.every > 1

    @property
    def scheduled(self) -> bool:
        """Whether the phase runs on some steps only (lazy, or windowed)."""
        return self.lazy or self.start > 0 or self.stop is not None

    def runs_at(self, step: int) -> bool:
        if step < self.start or (self.stop is not None and step >= self.stop):
            return False
        return (step - self.start) % self.every == 0


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A GAN training recipe: its phases (in order) and what sampling needs to know."""

    name: str
    phases: tuple[Phase, ...]
    #: the network that generates samples, its latent size and number of classes (0: unconditional)
    generator: str = "G"
    latent_dim: int = 0
    num_classes: int = 0
    #: named training stages ``(name, start, stop)`` for progress display (``stop=None``: to the end)
    stages: tuple[tuple[str, int, int | None], ...] = ()
    #: how samples are drawn when not ``apply_network(G, z, y)``:
    #: ``generate(state, z, y, *, ema, truncation, key) -> images`` (StyleGAN2: noise inputs, W truncation)
    generate: Callable | None = None
    #: what ``truncation`` (psi in [0, 1]) means for this generator: "" (not supported), "w"
    #: (StyleGAN2: w <- w_avg + psi (w - w_avg)) or "z" (BigGAN: z = psi * N(0, 1) truncated to [-2, 2])
    truncation: str = ""

    def __post_init__(self):
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"recipe {self.name!r}: phase names must be distinct, got {names}")

    @property
    def batches_per_step(self) -> int:
        """Real batches one step consumes (leading batch axis when > 1): the most repeats of a phase."""
        return max((p.repeats for p in self.phases), default=1)

    @property
    def lazy_phases(self) -> tuple[Phase, ...]:
        return tuple(p for p in self.phases if p.lazy)

    @property
    def scheduled_phases(self) -> tuple[Phase, ...]:
        return tuple(p for p in self.phases if p.scheduled)

    def active_at(self, step: int) -> frozenset[str]:
        """The scheduled (lazy or windowed) phases that run at (0-based) step ``step``."""
        return frozenset(p.name for p in self.phases if p.scheduled and p.runs_at(step))

    def batches_at(self, step: int) -> int:
        """Real batches (0-based) step ``step`` consumes: the most repeats of a phase that runs then."""
        return _batches_for(self, self.active_at(step))

    def stage_at(self, step: int) -> str:
        """The name of the stage (0-based) step ``step`` belongs to ("" without stages)."""
        for name, start, stop in self.stages:
            if start <= step and (stop is None or step < stop):
                return name
        return ""


def _batches_for(recipe: Recipe, active: frozenset[str]) -> int:
    return max((p.repeats for p in recipe.phases if not p.scheduled or p.name in active), default=1)


# ----------------------------------------------------------------------------- the phase context


class PhaseContext:
    """What a phase's loss function sees, for one call of the phase.

    Created inside the traced loss, so nothing in it outlives the call: it records the
    collections the loss changes (BatchNorm statistics of train-mode passes, spectral-norm
    vectors of ``update_sn`` passes), ``extra`` (``set_extra``) and the inputs of the updated
    networks (for their EMA statistics); the engine reads them back after the loss.
    """

    def __init__(self, state: TrainState, params: dict[str, PyTree], phase: Phase, batch: Batch, key: Array,
                 repeat: int, axis_name: str | None, shared: Mapping[str, Array] | None = None,
                 kept: dict[str, tuple] | None = None):
        self.state = state
        self.phase = phase
        self.batch = batch
        self.step = state.step
        self.repeat = repeat
        self.axis_name = axis_name
        self._params = params
        self._keys = dict(zip(phase.keys, jax.random.split(key, len(phase.keys)))) if phase.keys else {}
        self.collections = {name: net.collections for name, net in state.nets.items()}
        self.extra = state.extra
        self.inputs: dict[str, tuple[tuple, dict]] = {}
        #: values earlier phases of this step shared (``share``); not part of the state
        self.shared: dict[str, Array] = dict(shared or {})
        #: forward passes kept for later phases of this step (``apply_kept``), by network name;
        #: the step owns this dict (a trace-time store: pullbacks are functions, not arrays)
        self._kept = {} if kept is None else kept

    # -- randomness and reductions (device-count invariant) --------------------------------------
    def key(self, name: str) -> Array:
        try:
            return self._keys[name]
        except KeyError:
            raise ValueError(f"phase {self.phase.name!r} declares keys {self.phase.keys}, not {name!r}") from None

    def normal(self, key_name: str, local_shape: tuple[int, ...]) -> Array:
        """N(0, I) for this device's examples, drawn for the global batch (``gan_jax.noise``)."""
        return noise.normal(self.key(key_name), local_shape, self.axis_name)

    def uniform(self, key_name: str, local_shape: tuple[int, ...]) -> Array:
        return noise.uniform(self.key(key_name), local_shape, self.axis_name)

    def example_keys(self, key_name: str, n_local: int) -> Array:
        return noise.example_keys(self.key(key_name), n_local, self.axis_name)

    def mean(self, x: Array) -> Array:
        """Mean over the global batch."""
        return noise.batch_mean(x, self.axis_name)

    # -- networks -----------------------------------------------------------------------------------
    def params(self, name: str) -> PyTree:
        """The parameters of ``name``: the differentiated ones if this phase updates it."""
        return self._params[name] if name in self._params else self.state.nets[name].params

    def apply(self, name: str, *args, train: bool = True, keep_stats: bool = True, update_sn: bool = False, ema: bool = False,
              **kwargs):
        """Network ``name`` on ``args`` (called as ``module(*args, train=train, **kwargs)``).

        In training mode its BatchNorm statistics advance and, with ``keep_stats``, the new values
        are kept (and seen by the next call); with ``keep_stats=False`` they are discarded (a
        penalty's or the other player's pass). Spectral-norm vectors take one power iteration only
        with ``update_sn`` (the real pass of a D update). ``ema=True``: the EMA copy, inference mode.
        """
        net = self.state.nets[name]
        if ema:
            return apply_network(net, *args, ema=True, **kwargs)
        if name in self.phase.updates and train and keep_stats:
            self.inputs[name] = (args, kwargs)
        out, updated = self._forward(name, self.params(name), args, kwargs, train=train, update_sn=update_sn)
        if keep_stats:
            self.collections[name] = {**self.collections[name], **updated}
        return out

    def _forward(self, name: str, params: PyTree, args: tuple, kwargs: dict, *, train: bool, update_sn: bool):
        """``(output, changed collections)`` of network ``name`` with ``params`` and its current collections."""
        net, cols = self.state.nets[name], self.collections[name]
        variables = {"params": params, **cols}
        mutable = [c for c in cols if update_sn or c != SN_COLLECTION] if train else []
        if not mutable:
            return net.module.apply(variables, *args, train=train, **kwargs), {}
        return net.module.apply(variables, *args, train=train, mutable=mutable, **kwargs)

    def apply_kept(self, name: str, *args, keep_stats: bool = True, **kwargs):
        """``apply(name, *args)`` in training mode, kept with its pullback for a later phase of this
        step that updates ``name`` and calls ``replay(name)``.

        The reference pix2pix runs G once per step: D's update sees the detached fake, then G's
        update back-propagates through that same fake. A pure step has no graph to keep between
        phases, so this keeps the pullback instead (``jax.vjp``); the output returned here is not
        differentiated. ``name``'s parameters must not change in between (a phase that updates
        ``name`` drops what was kept of it).
        """
        if self.phase.repeats > 1:
            raise ValueError(f"phase {self.phase.name!r} repeats: a kept forward pass would belong to one repeat only")
        if name in self._params:
            raise ValueError(f"phase {self.phase.name!r} updates {name!r}: use apply, not apply_kept")
        forward = lambda params: self._forward(name, params, args, kwargs, train=True, update_sn=False)
        out, pullback, updated = jax.vjp(forward, self.state.nets[name].params, has_aux=True)
        if keep_stats:
            self.collections[name] = {**self.collections[name], **updated}
        self._kept[name] = (out, pullback, (args, kwargs))
        return jax.lax.stop_gradient(out)

    def replay(self, name: str):
        """The output ``apply_kept(name, ...)`` computed in an earlier phase of this step, as a
        function of ``name``'s differentiated parameters: its gradient is that forward pass's
        pullback, so the network does not run again."""
        if name not in self._params:
            raise ValueError(f"phase {self.phase.name!r} does not update {name!r}: nothing to replay")
        if name not in self._kept:
            raise ValueError(f"no earlier phase of this step kept a forward pass of {name!r} (ctx.apply_kept), "
                             "or a phase updated it since")
        out, pullback, inputs = self._kept[name]
        if self.state.nets[name].ema is not None:
            self.inputs[name] = inputs  # the EMA statistics follow what the network saw

        @jax.custom_vjp
        def kept(params):
            return out

        kept.defvjp(lambda params: (out, None), lambda _, ct: pullback(ct))
        return kept(self._params[name])

    # -- recipe state ------------------------------------------------------------------------------
    def set_extra(self, extra: PyTree) -> None:
        """Replace ``state.extra`` (same tree structure) after this phase."""
        self.extra = extra

    def share(self, name: str, value: PyTree) -> None:
        """Hand ``value`` (not differentiated) to the later phases of this step as ``ctx.shared[name]``.

        For what a later phase must see exactly as this one computed it (CycleGAN's D phase
        reads the fakes of the G phase, as the reference does, without a second forward pass);
        nothing shared outlives the step, so it is not checkpointed.
        """
        self.shared[name] = jax.lax.stop_gradient(value)


# ----------------------------------------------------------------------------- the step


def _pmean(tree, axis_name):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def _global_norm(tree) -> Array:
    leaves = jax.tree.leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in leaves)) if leaves else jnp.zeros(())


def _grad_metric(phase: Phase, net: str) -> str:
    return f"grad_norm/{phase.name}" if len(phase.updates) == 1 else f"grad_norm/{phase.name}/{net}"


def _call_phase(state: TrainState, phase: Phase, batch: Batch, key: Array, repeat: int, axis_name: str | None,
                shared: Mapping[str, Array] | None = None, kept: dict[str, tuple] | None = None):
    """One call of a phase: loss, gradients, optimizer steps. Returns (state, metrics, inputs, shared)."""
    scale = phase.every if phase.lazy and phase.scale_lazy_loss else 1

    def loss_fn(params):
        ctx = PhaseContext(state, params, phase, batch, key, repeat, axis_name, shared, kept)
        loss, metrics = phase.loss(ctx)
        return loss * scale, (dict(metrics), ctx.collections, ctx.extra, (ctx.inputs, ctx.shared))

    nets = dict(state.nets)
    if phase.updates:
        params = {n: nets[n].params for n in phase.updates}
        grads, (metrics, collections, extra, (inputs, shared)) = jax.grad(loss_fn, has_aux=True)(params)
        grads = _pmean(grads, axis_name)
        for n in phase.updates:
            net = nets[n]
            metrics[_grad_metric(phase, n)] = _global_norm(grads[n])
            updates, opt_state = net.tx.update(grads[n], net.opt_state, net.params)
            new_params = optax.apply_updates(net.params, updates)
            if net.project is not None:
                new_params = net.project(new_params)
            nets[n] = net.replace(params=new_params, opt_state=opt_state)
            if kept is not None:
                kept.pop(n, None)  # its pullback belongs to the old parameters
    else:
        _, (metrics, collections, extra, (inputs, shared)) = loss_fn({})
    nets = {n: net.replace(collections=collections[n]) for n, net in nets.items()}
    state = state.replace(nets=nets, extra=extra)
    call_index = state.step * phase.repeats + repeat
    if phase.after is not None:
        state = state.replace(extra=phase.after(state, call_index))
    return state, _pmean(metrics, axis_name), inputs, shared


def _update_ema(state: TrainState, inputs: dict[str, tuple[tuple, dict]], updated: frozenset[str]) -> TrainState:
    """Once per step: the EMA of every network with one that a phase of this step updated,
    then the EMA network's own statistics."""
    nets = dict(state.nets)
    for name, net in nets.items():
        if net.ema is None or name not in updated:
            continue
        beta = net.ema.beta(state.step)
        ema_params = optax.incremental_update(net.params, net.ema_params, step_size=1.0 - beta)
        ema_cols = net.ema_collections
        if ema_cols and name in inputs:
            args, kwargs = inputs[name]
            _, updated = net.module.apply({"params": ema_params, **ema_cols}, *args, train=True, mutable=list(ema_cols), **kwargs)
            ema_cols = {**ema_cols, **updated}
        nets[name] = net.replace(ema_params=ema_params, ema_collections=ema_cols)
    return state.replace(nets=nets)


#: repeats up to this are unrolled into a static loop; more use lax.scan (compile time grows with
#: the unrolled length; on XLA:CPU convolutions inside a while loop leave the fast path, see
#: benchmarks/results/cpu_table.md)
CRITIC_UNROLL_MAX = 8


def _repeat_batch(batch: Batch, k: int, repeats: int, i: int | None) -> Batch:
    """Repeat ``i`` of a phase with ``repeats`` repeats reads batch ``k - repeats + i`` (the last ones)."""
    if k == 1:
        return batch
    if i is None:  # the stacked batches of repeats 0 .. repeats - 2, for lax.scan
        return jax.tree.map(lambda x: x[k - repeats : k - 1], batch)
    return jax.tree.map(lambda x: x[k - repeats + i], batch)


def train_step_fn(recipe: Recipe, active: Iterable[str] = (), *, axis_name: str | None = None) -> Callable:
    """The pure step ``(state, batch) -> (state, metrics)``: every-step phases and the scheduled ones in ``active``.

    ``batch`` holds the step's real data (``batch["x"]``: uint8 images, floats in [-1, 1] or token
    ids; ``batch["y"]``: labels), with a leading axis of the variant's batch count (the most
    repeats of a phase in it, ``recipe.batches_at(step)``) when that is more than 1. Metrics are a flat dict of device scalars (a repeated phase's are averaged).
    """
    active = frozenset(active)
    unknown = active - {p.name for p in recipe.scheduled_phases}
    if unknown:
        raise ValueError(f"recipe {recipe.name!r} has no lazy or windowed phases {sorted(unknown)}")
    k = _batches_for(recipe, active)
    updated = frozenset(n for p in recipe.phases if not p.scheduled or p.name in active for n in p.updates)

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        if k > 1:
            lead = {jnp.shape(x)[0] for x in jax.tree.leaves(batch)}
            if lead != {k}:
                raise ValueError(f"recipe {recipe.name!r} takes {k} real batches per step: every batch leaf needs a leading axis of size {k}, got {lead}")
        step_key = jax.random.fold_in(state.rng, state.step)
        phase_keys = jax.random.split(step_key, len(recipe.phases))
        metrics: Metrics = {}
        inputs: dict[str, tuple[tuple, dict]] = {}
        shared: dict[str, Array] = {}
        kept: dict[str, tuple] = {}
        for index, phase in enumerate(recipe.phases):
            if phase.scheduled and phase.name not in active:
                continue
            key = phase_keys[index]
            if phase.repeats == 1:
                state, m, inp, shared = _call_phase(state, phase, _repeat_batch(batch, k, 1, 0), key, 0, axis_name, shared, kept)
            else:
                outs = []
                n_unrolled = phase.repeats if phase.repeats <= CRITIC_UNROLL_MAX else 1
                if n_unrolled == 1:  # lax.scan over all repeats but the last, which runs below (its inputs feed the EMA)
                    def body(s, xs):
                        i, b = xs
                        s, m_i, _, _ = _call_phase(s, phase, b, jax.random.fold_in(key, i), i, axis_name, shared)
                        return s, m_i

                    idx = jnp.arange(phase.repeats - 1)
                    state, m_scan = jax.lax.scan(body, state, (idx, _repeat_batch(batch, k, phase.repeats, None)))
                    outs.append(jax.tree.map(lambda v: jnp.sum(v, 0), m_scan))
                    first = phase.repeats - 1
                else:
                    first = 0
                for i in range(first, phase.repeats):
                    # A static loop (what lax.scan(unroll=True) gives): same computation, and on
                    # XLA:CPU the convolutions stay on the fast path.
                    state, m_i, inp, shared_i = _call_phase(state, phase, _repeat_batch(batch, k, phase.repeats, i), jax.random.fold_in(key, i), i,
                                                            axis_name, shared)
                    outs.append(m_i)
                shared = shared_i  # a repeated phase shares what its last repeat computed
                m = jax.tree.map(lambda *v: sum(v) / phase.repeats, *outs)
            inputs.update(inp)
            metrics.update(m)
        state = _update_ema(state, inputs, updated)
        return state.replace(step=state.step + 1), metrics

    return train_step


class TrainStep:
    """A recipe's compiled train step: one compiled variant per set of scheduled phases that run together.

    ``step(state, batch, step=i)`` runs the variant of (0-based) step ``i``, chosen on the host, so
    no device sync is needed; pass the loop counter. Without ``step`` a recipe with scheduled
    phases reads ``state.step`` from the device (a sync). ``compile(fn)`` or
    ``compile(fn, batches_per_step)`` compiles one variant (the variant's batch count decides
    the batch layout).
    """

    def __init__(self, recipe: Recipe, compile: Callable[..., Callable] | None = None, *, axis_name: str | None = None):
        self.recipe = recipe
        self.axis_name = axis_name
        compile = compile or (lambda fn: jax.jit(fn, donate_argnums=0))
        try:
            takes_k = len(inspect.signature(compile).parameters) >= 2
        except (TypeError, ValueError):
            takes_k = False
        self._compile = compile if takes_k else (lambda fn, k: compile(fn))
        self._variants: dict[frozenset[str], Callable] = {}

    @property
    def compiled_variants(self) -> tuple[frozenset[str], ...]:
        """The sets of lazy phases a variant has been built for so far."""
        return tuple(self._variants)

    def variant(self, active: Iterable[str] = ()) -> Callable:
        active = frozenset(active)
        if active not in self._variants:
            self._variants[active] = self._compile(train_step_fn(self.recipe, active, axis_name=self.axis_name),
                                                   _batches_for(self.recipe, active))
        return self._variants[active]

    def __call__(self, state: TrainState, batch: Batch, *, step: int | None = None):
        if step is None:
            step = int(jax.device_get(state.step if self.axis_name is None else state.step[0])) if self.recipe.scheduled_phases else 0
        return self.variant(self.recipe.active_at(step))(state, batch)


def make_train_step(recipe: Recipe, *, donate: bool = True) -> TrainStep:
    """``recipe``'s step under ``jax.jit`` on the default device (state donated if ``donate``).
    For a Mesh or pmap see ``gan_jax.parallel``."""
    return TrainStep(recipe, lambda fn: jax.jit(fn, donate_argnums=(0,) if donate else ()))


def param_count(tree: PyTree) -> int:
    return sum(math.prod(jnp.shape(x)) for x in jax.tree.leaves(tree))
