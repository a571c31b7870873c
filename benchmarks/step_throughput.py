"""Step throughput of a full GAN train step: gan_jax vs PyTorch, side by side, for every model family.

    python benchmarks/step_throughput.py [--models dcgan64,dcgan32,...] [--batch 64] [--width 64]
        [--reps 5] [--warmup 1] [--variants ...] [--device cpu|cuda] [--peak-tflops ...]
        [--out results.jsonl] [--quick]

Models (``--models``; the families of ``benchmarks/gan_families.py``, each the networks and
recipe of an experiment we ship; ``--width W`` scales every channel width / hidden size by
W / 64, default 64 = the experiment's sizes):

* ``dcgan64`` / ``dcgan32``: DCGAN (ngf = ndf = 64, z 100, BatchNorm in G and D), non-saturating
  loss, Adam 2e-4 (0.5, 0.999); 64x64 is the PyTorch DCGAN example, 32x32 ``dcgan_cifar10``.
* ``mlp_cgan_mnist``: ``cgan_mnist``'s conditional MLP (G 256-512-1024 with BatchNorm, D
  512-512-512, one-hot label concatenation, 28x28x1, 10 classes).
* ``sngan32``: ``sngan_cifar10``'s ResNet (G 256, D 128 channels, spectral norm in D), hinge
  loss, n_critic 5, Adam 2e-4 (0, 0.9).
* ``wgan_gp32``: ``wgan_gp_cifar10``'s ResNet (128 / 128, no normalisation in D), Wasserstein
  loss + gradient penalty 10, n_critic 5, Adam 1e-4 (0, 0.9).
* ``sngan_proj32``: ``sngan_proj_cifar10``: conditional BatchNorm in G + projection D.

Image translation (``--models translation``: all four; not in ``all``, which keeps meaning the
families above), built by ``gan_jax.families.translation.build`` with its paper defaults (the
``Translation`` table below; constant learning rate), 3 -> 3 channels; the PyTorch side is
``benchmarks/torch_translation.py`` (the reference repository's networks and
``optimize_parameters``; differences listed there):

* ``pix2pix64`` / ``pix2pix256``: U-Net G (depth log2(size): 6 / 8, ngf 64, BatchNorm, dropout 0.5
  in depth - 5 decoder blocks), PatchGAN D (ndf 64, 3 layers) on concat(source, target), BCE +
  100 x L1, D's loss halved, Adam 2e-4 (0.5, 0.999). 256 px is the paper's ``unet_256``.
* ``cyclegan64`` / ``cyclegan256``: two ResNet G (ngf 64; 6 blocks at 64 px, 9 at 256: the
  paper's), two PatchGAN D, InstanceNorm, reflect padding, LSGAN loss, cycle 10, identity 0.5 x 10,
  pools of 50 fakes, Adam 2e-4 (0.5, 0.999). 256 px is ``cyclegan_folder``.

A translation step is one call of the recipe's step: pix2pix one D and one G update, CycleGAN one
update of both G and then of both D; ``images_per_sec`` = batch / seconds_per_step (pairs for
pix2pix; for CycleGAN ``batch`` images of each domain); ``real_batches_per_step`` = 1. The data
are a fixed random float32 batch ``{"a", "b"}`` in [-1, 1] (the same values, NCHW, for PyTorch).
Variants: jax ``jit``, torch ``eager`` and ``compile`` (the default list for these models); the
others give ``"skipped"`` lines. Parameter counts: ``n_params_g`` = all generators, ``n_params_d``
= all discriminators, ``n_params_nets`` per network.

StyleGAN2 (``--models stylegan2``: both; not in ``all``), built by
``gan_jax.families.stylegan2.build`` (a ``Config`` of family "stylegan2", unconditional,
``recipe.augment="none"``; ``StyleGAN2Bench``); the PyTorch side is
``benchmarks/torch_stylegan2.py`` (plain PyTorch after stylegan2-ada-pytorch: equalised lr,
noise inputs, [1, 3, 3, 1] FIR resampling, minibatch std, path length and R1 through
``torch.autograd.grad(create_graph=True)``, the reference's phase order; differences listed
there), built from the values the JAX build reports (``stylegan2_settings``). ``--width W``
multiplies the preset's ``channel_base`` and ``channel_max`` by W / 64 (z and w stay 512):

* ``stylegan2-32``: 32x32x3, the ``cifar`` preset (``stylegan2_cifar10``'s networks): widths 512
  at every resolution (channel_base 32768), 2 mapping layers, ``orig`` D, minibatch-std group 32
  (the family takes ``min(32, batch)``, as the reference: at batch <= 32 the whole batch is one
  group; a larger batch must be a multiple of 32; ``mbstd_group_effective`` in the line), R1
  gamma 0.01 every 16 steps, no path length, no style mixing, Adam 0.0025 (0, 0.99), EMA 500 kimg.
* ``stylegan2-64``: 64x64x3, the ``auto`` preset (``stylegan2_folder`` without ADA): widths
  min(16384 / res, 512) (256 at 64 px), 2 mapping layers, ``resnet`` D, minibatch-std group
  min(batch, 4), R1 gamma 0.0002 x 64^2 / batch every 16, path length 2 every 4 (batch / 2),
  style mixing 0.9, EMA batch x 10 / 32 kimg with ramp-up 0.05.

A StyleGAN2 *step* (``seconds_per_step``, ``images_per_sec`` = batch / seconds_per_step) is one
call of the recipe's step at a step index where only the every-step phases run: Gmain + Dmain
(one G and one D update on one real batch, G's EMA). With ``--lazy-step on`` (the default) every
timed block also ends with one call at step index 0, where every lazy phase runs too (Gmain,
Greg (if pl_weight > 0), Dmain, Dreg), timed on its own: ``seconds_per_step_lazy`` (median),
``images_per_sec_lazy``, ``lazy_phases``; the reference's schedule runs Greg every 4 and Dreg
every 16 steps. ``flops_per_step`` is the main step's; ``flops_per_step_lazy_analytic`` and
``xla_flops_lazy_own`` are the lazy step's. The PyTorch modulated convolution is the reference's
fused grouped convolution (``--stylegan2-modconv grouped``, the default: per-example weights,
batch folded into the channels, ``F.conv2d(..., groups=B)``, up-sampling layers as a grouped
transposed convolution + FIR) or its ``fused_modconv=False`` path (``scaled``; what the reference
itself runs in training); gan_jax always runs the scaled form (``modconv`` in the torch lines).

BigGAN (``--models biggan``: both; not in ``all``), built by ``gan_jax.families.classic.build``
with ``model.arch="biggan"`` (``BigGANBench``): shared class embedding, hierarchical z into
conditional BatchNorm, spectral norm in G and D, self-attention, projection D, hinge loss, G's
EMA (+ its BatchNorm statistics pass); the PyTorch side is ``benchmarks/torch_biggan.py``'s
networks in ``torch_models.TorchGAN``'s classic step, spectral norm by
``torch.nn.utils.parametrizations.spectral_norm`` (D's power iteration on the real pass only,
``--torch-sn-updates``, as the classic rows). ``--width W`` multiplies the channel unit ``ch``
of G and D by W / 64 (attention needs >= 8 channels where it sits: ``biggan-128`` needs W >= 6):

* ``biggan-32``: ``biggan_cifar10`` (StudioGAN's CIFAR-10 BigGAN): 10 classes, z 80 (4 chunks),
  shared embedding 128, G ch 96 (384 channels), D ch 48 (192), attention at 16x16 in G and D,
  orthogonal init, n_critic 5, Adam 2e-4 (0.5, 0.999), EMA 0.9999 from step 1000.
* ``biggan-128``: BigGAN-PyTorch's ImageNet 128 script (``launch_BigGAN_bs256x8.sh``; no
  experiment ships for it): 1000 classes, z 120 (6 chunks), shared 128, G and D ch 96,
  attention at 64x64, n_critic 1, Adam G 1e-4 / D 4e-4 (0, 0.999), EMA 0.9999 from step 20000.

A BigGAN step is the classic rows' (below); ``--n-critic K`` replaces the row's n_critic (a
smoke-test knob: every D update is unrolled into the compiled step; ``n_critic_override`` in the
line). The data of both kinds are a fixed random float32 batch in [-1, 1] (+ labels for BigGAN;
a leading n_critic axis), the same values NCHW for PyTorch. Variants: jax ``jit``, torch
``eager`` and ``compile`` (the default list; StyleGAN2's regularisation phases run the eager
modules under ``compile``: AOTAutograd has no double backward); the others give ``"skipped"``
lines. FLOPs: both kinds use ``lax.conv`` everywhere, so ``flops_per_step`` is the jit
variant's own compiled count on every platform; ``flops_per_step_analytic`` is
``torch_stylegan2.analytic_step_flops`` (``4 F_G + 8 F_D``; the reference's transposed-conv
up-sampling, fewer FLOPs than gan_jax's up-sample-then-convolve) /
``torch_biggan.analytic_step_flops`` (the classic formula), with F_G / F_D from
``torch.utils.flop_counter`` on the meta device.

The JAX side is ``gan_jax.models`` + ``gan_jax.steps.classic_gan`` (G's EMA included, with
``ClassicSpec``'s default decay and ramp-up), so this times the library's real step; the
PyTorch side is ``benchmarks/torch_models.py`` (plain PyTorch, same networks, same parameter
count: checked, ``n_params_g`` / ``n_params_d`` / ``n_params_match`` in every line; the
differences that remain, e.g. how often spectral norm runs its power iteration, are listed
there).

One *step* is one generator update: ``n_critic`` D updates, each on its own real batch
(``real_batches_per_step = n_critic`` batches of ``batch`` images), one G update on fresh
latents, then G's EMA (and its BatchNorm statistics pass). Throughput conventions, in every
JSON line:

* ``seconds_per_step``: median over the rounds of one step's time;
* ``g_steps_per_sec`` = 1 / seconds_per_step (generator updates per second);
* ``images_per_sec`` = batch * n_critic / seconds_per_step: *real* images consumed per
  second (for n_critic = 1 simply batch / seconds_per_step, as before the families existed).

FLOPs and model FLOPs utilisation (MFU): ``flops_per_step`` is the XLA count
(``jax.jit(step).lower(state, batch).compile().cost_analysis()["flops"]``) of the float32 JAX
step with the *reference* convolutions (``lax.conv``: on a GPU that is the ``jit`` variant
itself; on the CPU the DCGAN models default to Winograd formulations, which do fewer
multiplications, so the count comes from a separate lowering with ``conv_impl="xla"``:
compiled with ``--flops compiled``, the pre-optimisation HLO count with ``--flops lowered``,
the ``--quick`` default). The *same* number goes into every line of the model (torch lines
and bf16 included): MFU compares the time different implementations need for the same model
FLOPs. ``flops_per_step_analytic`` is a hand count of the convolution / matmul FLOPs
(``torch_models.analytic_step_flops``: ``n_critic (F_G + 6 F_D) + 4 F_G + 2 F_D``, + 4 F_D per
D update for WGAN-GP) as a sanity check; ``xla_flops_own`` is a JAX variant's own compiled
count (Winograd on the CPU: lower). ``achieved_tflops`` = flops_per_step / seconds_per_step /
1e12; ``mfu`` = achieved / peak, where ``--peak-tflops`` gives the peak (one number, or per
dtype ``float32=67,bfloat16=989``) and ``--peak-source`` says where it comes from (both
recorded; no peak: ``mfu`` is null). The count is taken once per (model, batch), after the
timed rounds. ``cost_analysis()`` has a ``"flops"`` entry on XLA:CPU in jax 0.10.2 and it is
sane: DCGAN-32 at width 8, batch 8: 7.59e7 compiled / 8.05e7 lowered vs 7.91e7 analytic;
mlp_cgan_mnist: 1.71e7 vs 1.67e7. At the experiments' sizes, batch 64 (XLA:CPU, conv_impl=xla;
XLA / analytic): dcgan64 1.668e11 compiled, 1.790e11 lowered / 1.733e11 (0.96, 1.03); dcgan32
2.808e10, 3.072e10 / 2.949e10 (0.95, 1.04); mlp_cgan_mnist 1.750e9 / 1.905e9 (0.92);
sngan32 and sngan_proj32 2.799e12 lowered / 2.975e12 (0.94); wgan_gp32 2.129e12 lowered /
2.278e12 (0.93). (The simpler "3 x forward per trained pass" rule gives 1.866e11 for dcgan64.)

Translation models: on a GPU the jit variant's own compiled count; on the CPU, where their
``FastConv`` / ``FastUpConv2x`` layers run Winograd / col2im forms, the step *lowered for cuda*
(``jit(...).trace(...).lower(lowering_platforms=("cuda",))``: ``lax.conv``, pre-optimisation
HLO, nothing compiled; whatever ``--flops`` says). ``flops_per_step_analytic`` is
``torch_translation.analytic_step_flops``, the hand count of the *reference* step
(``flops_per_step_analytic_formula``): pix2pix 3 F_G + 8 F_D, CycleGAN 9 (F_Gab + F_Gba) + 8
(F_Da + F_Db). gan_jax's pix2pix step runs G's forward once, as the reference does (its G
phase back-propagates through the forward pass its D phase kept, ``ctx.apply_kept`` /
``ctx.replay``): pix2pix64 at width 4, batch 2, lowered with ``lax.conv``, counts 6.02e7 FLOPs
against the hand count's 5.84e7 (the rest is elementwise work; before that change, 7.01e7 =
4 F_G + 8 F_D).

Variants (``--variants``; default: ``jit,scan,jit_bf16,jit_conv_transpose,eager,eager_bf16,compile``;
translation, StyleGAN2 and BigGAN models ``jit,eager,compile``):

* jax ``jit``: ``gan_jax.steps.make_train_step(recipe)`` (``jax.jit`` of the pure step, state
  donated), one call per step; compiled ahead of time (``lower().compile()``, timed as
  ``compile_s``), after which the ``TrainStep`` call finds it in jit's cache.
* jax ``scan``: ``lax.scan`` over K (``--scan-k``, 4) steps of the pure
  ``gan_jax.engine.train_step_fn(recipe)`` inside one jitted call (donated state); per-step
  numbers divide by K. On XLA:CPU (jax 0.10.2) this is *much* slower than ``jit`` (inside the
  while loop the convolutions leave the fast path), so a dcgan64 run with it takes minutes.
* jax ``jit_bf16`` / ``scan_bf16``: the models' computation dtype bfloat16 (``dtype=`` of the
  DCGAN models; parameters, Adam state, EMA, BatchNorm statistics and the loss stay
  float32). The MLP and SNGAN models of gan_jax have no ``dtype`` field: those lines are
  ``"skipped"``.
* jax ``jit_conv_transpose`` (DCGAN only): ``DCGANGenerator(upsample="conv_transpose")``
  (``nn.ConvTranspose``) instead of the default sub-pixel layer; one step per block on the
  CPU, where it is several times slower.
* torch ``eager``: plain PyTorch (NCHW; on a GPU with ``torch.backends.cudnn.benchmark`` on,
  ``--cudnn-benchmark``, as XLA autotunes its convolutions). ``eager_bf16``: every network pass
  under ``torch.autocast(device, torch.bfloat16)``.
* torch ``compile`` / ``compile_bf16``: G, D and G's EMA copy wrapped in ``torch.compile``
  (``--torch-compile-backend``, default inductor; optimizer, loss and EMA lerp eager; the
  WGAN-GP pass uses the eager D, AOTAutograd has no double backward). A failure is reported
  in the JSON line (``"error"``). Spectral norm: ``torch.nn.utils.parametrizations.spectral_norm``
  with gan_jax's schedule (one power iteration per D update, on the real pass:
  ``--torch-sn-updates real_pass``, recorded as ``sn_updates``) or PyTorch's (every training-mode
  forward: ``every_forward``; fails under inductor, see ``torch_models.py``).

Timing protocol: every variant is built (JAX: compiled) and runs ``--warmup`` warm-up blocks
(excluded; for torch.compile the first one compiles); then ``--reps`` rounds, each timing one
block of every variant in turn (round-robin, so a change in background load hits all variants
alike). A block is K calls of the jitted step (one call of the scanned one), or K PyTorch
steps, and ends with a device sync (``jax.block_until_ready`` / ``torch.cuda.synchronize``);
``seconds_per_step`` is the median over the rounds of block time / steps in the block.
``--block-target-s T`` sizes K per variant from the last warm-up step instead (about T
seconds per block; warm-up blocks are then one step each). The data are a fixed random batch
already on the device (no input pipeline).

Time limits: ``--time-budget S`` is a soft limit per (model, batch) group: past it, variants
not yet built are reported as ``"skipped"`` and no new round starts (at least one round runs).
SIGTERM (e.g. from ``timeout``) stops the measurement the same way and still writes the lines
measured so far, then exits with status 124.

Threads (CPU): both frameworks use every core the process may run on; ``--threads N``
restricts the process to N cores (``os.sched_setaffinity``, before JAX starts) and sets torch
to N threads. On a *busy* machine PyTorch's OpenMP threads (libgomp spins at barriers) can
slow down by orders of magnitude when a core is taken by another process:
``--omp-wait-policy passive`` sets ``OMP_WAIT_POLICY=PASSIVE`` before torch is imported, or
use ``--threads 1``. The JSON lines record these environment variables (``env``).

Output: one JSON line per (model, framework, variant, batch) on stdout (and appended to
``--out``), with versions, device, threads, float32 matmul settings (``precision``: on a GPU
PyTorch's defaults allow TF32 in cuDNN convolutions but not in matmuls, and XLA's default
precision may use TF32; ``--tf32 off`` makes both strict float32) and ``os.getloadavg()``
at the start and the end of the measurement.

``--quick``: batch 8, width 8, 2 rounds: dcgan32 with jit, eager and compile, and
mlp_cgan_mnist with jit, scan and eager, for tests (each XLA compilation costs seconds even at
that size). The ``compile`` variant is skipped there (a line with ``"skipped"``) because
torch.compile's C++ build takes longer than the whole quick run (``--quick-compile`` keeps
it); ``--flops lowered``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import platform
import signal
import statistics
import sys
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import dataclasses  # noqa: E402

from gan_families import FAMILIES, Family, get_family, with_default_ema  # noqa: E402

JAX_VARIANTS = ("jit", "scan", "jit_bf16", "scan_bf16", "jit_conv_transpose")
TORCH_VARIANTS = ("eager", "eager_bf16", "compile", "compile_bf16")
DEFAULT_VARIANTS = ("jit", "scan", "jit_bf16", "jit_conv_transpose", "eager", "eager_bf16", "compile")
QUICK_VARIANTS = ("jit", "scan", "eager", "compile")
#: --quick: model -> variants (XLA compilations dominate its time: the scan variant runs on the
#: MLP, whose step compiles in a few seconds, not on DCGAN, whose Winograd step takes ~15 s)
QUICK_MODELS = {"dcgan32": ("jit", "eager", "compile"), "mlp_cgan_mnist": ("jit", "scan", "eager")}
MODELS = tuple(FAMILIES)  # the classic families (``--models all``)
#: the DCGAN settings (kept for benchmarks/conv_cpu.py, which imports them)
Z_DIM = 100
LR, BETAS, EMA_DECAY = 2e-4, (0.5, 0.999), 0.999
FORBID_DEFAULT = ("grain", "tensorflow_datasets", "tensorflow")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Stop(Exception):
    """Raised by the SIGTERM handler: stop measuring, write what was measured."""


_STOP = {"requested": False, "interruptible": False}


def _on_sigterm(signum, frame):
    """SIGTERM: raise ``Stop`` inside an interruptible section (building, warm-up, timed blocks),
    else only note it; the driver checks between sections, so the lines are always written."""
    if _STOP["requested"]:
        return
    _STOP["requested"] = True
    if _STOP["interruptible"]:
        raise Stop(f"signal {signum}")


@contextlib.contextmanager
def _interruptible():
    if _STOP["requested"]:
        raise Stop("signal")
    _STOP["interruptible"] = True
    try:
        yield
    finally:
        _STOP["interruptible"] = False


class Variant:
    framework: str
    name: str
    dtype: str
    steps_per_block: int
    #: why this variant does not apply to the model (None: it does)
    unsupported: str | None = None

    def setup(self) -> None: ...

    def block(self, steps: int | None = None) -> None: ...

    def info(self) -> dict[str, Any]:
        return {}


# ----------------------------------------------------------------------------- JAX


def jax_models(fam: Family, *, dtype=None, upsample: str = "subpixel", conv_impl: str = "auto"):
    """(G, D) of ``fam`` from ``gan_jax.models``, as ``gan_jax.families.classic.build_models`` builds them."""
    from gan_jax import models

    ncls = fam.num_classes if fam.conditional else 0
    if fam.arch == "dcgan":
        g = models.DCGANGenerator(image_shape=fam.image_shape, width=fam.g_width, upsample=upsample, dtype=dtype, num_classes=ncls, conv_impl=conv_impl)
        d = models.DCGANDiscriminator(
            width=fam.d_width, batch_norm=fam.d_batch_norm, dtype=dtype, num_classes=ncls if fam.conditioning == "concat" else 0,
            spectral_norm=fam.d_spectral_norm, conv_impl=conv_impl,
        )
        return g, d
    if dtype is not None or upsample != "subpixel":
        raise ValueError(f"{fam.arch}: no dtype / upsample options")
    if fam.arch == "mlp":
        g = models.MLPGenerator(output_shape=fam.image_shape, hidden=fam.g_hidden, output_activation="tanh", batch_norm=True, num_classes=ncls)
        return g, models.MLPDiscriminator(hidden=fam.d_hidden, num_classes=ncls)
    if fam.arch == "sngan":
        g = models.SNGANGenerator(image_shape=fam.image_shape, width=fam.g_width, num_classes=ncls if fam.conditioning == "projection" else 0)
        d = models.SNGANDiscriminator(width=fam.d_width, spectral_norm=fam.d_spectral_norm, num_classes=ncls if fam.conditioning == "projection" else 0)
        return g, d
    raise ValueError(f"unknown arch {fam.arch!r}")


def jax_spec(fam: Family):
    from gan_jax import steps
    from gan_jax.regularizers import gradient_penalty

    fam = with_default_ema(fam)
    penalties = (steps.Penalty("gp", gradient_penalty, fam.gp_weight),) if fam.gp_weight else ()
    return steps.ClassicSpec(
        z_dim=fam.z_dim, loss=fam.loss, n_critic=fam.n_critic, ema=steps.EMA(fam.ema_decay, rampup=fam.ema_rampup) if fam.ema_decay else None,
        num_classes=fam.num_classes if fam.conditional else 0, d_penalties=penalties,
    )


#: family -> (recipe, float32 state): one initialisation per family, shared by its variants
_INIT_CACHE: dict[Family, tuple[Any, Any]] = {}


def _init_fn(fam: Family, g, d, box: list):
    from gan_jax import steps

    def init(rng):
        recipe, state = steps.classic_gan(
            generator=g, discriminator=d, g_tx=steps.adam(fam.lr_g, *fam.betas), d_tx=steps.adam(fam.lr_d, *fam.betas),
            spec=jax_spec(fam), data_shape=fam.image_shape, rng=rng, name=fam.name,
        )
        box.append(recipe)
        return state

    return init


def _swap_modules(state, g, d):
    nets = dict(state.nets)
    nets["G"], nets["D"] = nets["G"].replace(module=g), nets["D"].replace(module=d)
    return state.replace(nets=nets)


def _same_shapes(a, b) -> bool:
    """Same array leaves (paths, shapes, dtypes); the static fields (modules, optimizers) may differ."""
    import jax

    la, lb = jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves_with_path(b)
    return len(la) == len(lb) and all(pa == pb and x.shape == y.shape and x.dtype == y.dtype for (pa, x), (pb, y) in zip(la, lb))


def jax_gan(fam: Family, **model_kw):
    """(recipe, state) of ``fam``: ``gan_jax.steps.classic_gan`` on ``jax_models(fam, **model_kw)``.

    The state is built once per family under ``jax.jit`` (one XLA compilation instead of ~150
    op-by-op ones: half the CPU time of a quick run's set-up) with the float32 default models
    and copied for every variant; a variant's models (bfloat16, nn.ConvTranspose) have the same
    parameter and collection trees (checked with ``jax.eval_shape``; else it is initialised
    anew) and go into the copy's static ``module`` fields.
    """
    import jax

    g, d = jax_models(fam, **model_kw)
    if fam not in _INIT_CACHE:
        box: list = []
        state = jax.jit(_init_fn(fam, *jax_models(fam), box))(jax.random.key(0))
        _INIT_CACHE[fam] = (box[0], state)
    recipe, state0 = _INIT_CACHE[fam]
    if model_kw:
        box = []
        shapes = jax.eval_shape(_init_fn(fam, g, d, box), jax.random.key(0))
        if not _same_shapes(shapes, state0):  # pragma: no cover -- the gan_jax models keep their trees
            state = jax.jit(_init_fn(fam, g, d, box))(jax.random.key(0))
            return box[-1], state
    state = jax.tree.map(lambda x: x.copy(), state0)  # every variant donates its own copy
    return recipe, _swap_modules(state, g, d)


def jax_abstract_gan(fam: Family, **model_kw):
    """(recipe, state shapes) of ``fam`` (``jax.eval_shape``: nothing is computed), for lowering only."""
    import jax

    g, d = jax_models(fam, **model_kw)
    box: list = []
    shapes = jax.eval_shape(_init_fn(fam, g, d, box), jax.random.key(0))
    return box[0], shapes


def jax_batch(fam: Family, batch: int, lead: tuple[int, ...] = ()):
    """A fixed random batch: x float32 in [-1, 1] (HWC), y int32 labels for conditional families."""
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    k = (fam.n_critic,) if fam.n_critic > 1 else ()
    out = {"x": jnp.asarray(rng.uniform(-1, 1, lead + k + (batch, *fam.image_shape)), jnp.float32)}
    if fam.conditional:
        out["y"] = jnp.asarray(rng.integers(0, fam.num_classes, lead + k + (batch,)), jnp.int32)
    return out


def jax_param_counts(fam: Family, **model_kw) -> dict[str, int]:
    """G's and D's parameter counts from ``jax.eval_shape`` of their ``init`` (nothing computed)."""
    import jax
    import jax.numpy as jnp

    g, d = jax_models(fam, **model_kw)
    y = jnp.zeros((1,), jnp.int32) if fam.conditional else None
    vg = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((1, fam.z_dim)), y, train=False))
    vd = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((1, *fam.image_shape)), y, train=False))
    return {"g": sum(math.prod(x.shape) for x in jax.tree.leaves(vg["params"])), "d": sum(math.prod(x.shape) for x in jax.tree.leaves(vd["params"]))}


def _flops(cost) -> float | None:
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    if not cost:
        return None
    value = cost.get("flops")
    return float(value) if value is not None and value >= 0 else None


def uses_reference_convs(fam: Family, platform_name: str) -> bool:
    """Whether the default models run ``lax.conv`` (the reference FLOP count) on this platform:
    only the DCGAN layers have CPU-specific (Winograd) formulations -- and the translation models
    (``FastConv`` / ``FastUpConv2x`` in ``gan_jax.models.translation``)."""
    if isinstance(fam, Translation):
        return platform_name != "cpu"
    if isinstance(fam, BUILT_KINDS):  # lax.conv everywhere (gan_jax.models.stylegan2 / biggan / spectral)
        return True
    return fam.arch != "dcgan" or platform_name != "cpu"


def reference_flops(fam: Family, batch: int, mode: str) -> tuple[float | None, str]:
    """XLA's FLOP count of the float32 step with ``conv_impl="xla"`` (``mode``: compiled or lowered;
    translation models: always the step lowered for cuda, ``translation_reference_flops``)."""
    if isinstance(fam, Translation):
        return translation_reference_flops(fam, batch)
    if isinstance(fam, BUILT_KINDS):
        return built_reference_flops(fam, batch, mode)
    import jax

    from gan_jax import engine

    recipe, shapes = jax_abstract_gan(fam, conv_impl="xla")
    lowered = jax.jit(engine.train_step_fn(recipe)).lower(shapes, jax_batch(fam, batch))
    lowered_src = "xla cost_analysis of the lowered (pre-optimisation) float32 step, conv_impl=xla"
    if mode == "lowered":
        return _flops(lowered.cost_analysis()), lowered_src
    flops = _flops(lowered.compile().cost_analysis())
    if flops is None:  # a backend whose compiled cost analysis has no "flops" entry
        return _flops(lowered.cost_analysis()), lowered_src + " (the compiled executable reported no flops)"
    return flops, "xla cost_analysis of the compiled float32 step, conv_impl=xla"


class JaxVariant(Variant):
    framework = "jax"

    def __init__(self, name: str, fam: Family, batch: int, k: int, platform_name: str = "cpu"):
        self.name, self.fam, self.batch, self.k = name, fam, batch, k
        self.dtype = "bfloat16" if "bf16" in name else "float32"
        self.scan = name.startswith("scan")
        self.upsample = "conv_transpose" if name.endswith("conv_transpose") else "subpixel"
        self.platform = platform_name
        # nn.ConvTranspose makes the step several times slower on XLA:CPU: one step per block there
        self.steps_per_block = 1 if (self.upsample == "conv_transpose" and platform_name == "cpu") else k
        self.fixed_block = self.scan
        if fam.arch != "dcgan" and (self.dtype != "float32" or self.upsample != "subpixel"):
            self.unsupported = (
                f"no {'bf16' if self.dtype != 'float32' else 'conv_transpose'}: gan_jax's {fam.arch.upper()} models have no "
                f"{'dtype' if self.dtype != 'float32' else 'upsample'} field (only DCGAN's do)"
            )

    def setup(self) -> None:
        import jax
        import jax.numpy as jnp

        from gan_jax import engine, steps

        self._jax = jax
        dtype = jnp.bfloat16 if self.dtype == "bfloat16" else None
        kw = {"dtype": dtype, "upsample": self.upsample} if self.fam.arch == "dcgan" else {}
        recipe, state = jax_gan(self.fam, **kw)
        self.recipe = recipe
        self.n_params = {"g": engine.param_count(state.nets["G"].params), "d": engine.param_count(state.nets["D"].params)}
        t0 = time.perf_counter()
        if self.scan:
            batch = jax_batch(self.fam, self.batch, (self.k,))
            step_fn = engine.train_step_fn(recipe)
            fn = jax.jit(lambda s, xs: jax.lax.scan(step_fn, s, xs), donate_argnums=0)
            compiled = fn.lower(state, batch).compile()
            self._call = lambda s, i: compiled(s, batch)
        else:
            batch = jax_batch(self.fam, self.batch)
            train_step = steps.make_train_step(recipe)
            compiled = train_step.variant(recipe.active_at(0)).lower(state, batch).compile()
            # the library's step object; its jit finds the executable compiled above in its cache
            self._call = lambda s, i: train_step(s, batch, step=i)
        self.compile_s = time.perf_counter() - t0
        self.xla_flops = _flops(compiled.cost_analysis())
        self._state, self._i = state, 0

    def block(self, steps: int | None = None) -> None:
        state = self._state
        calls = 1 if self.scan else (steps or self.steps_per_block)
        for _ in range(calls):
            state, metrics = self._call(state, self._i)
            self._i += 1
        self._jax.block_until_ready((state, metrics))
        self._state = state

    def info(self) -> dict[str, Any]:
        compile_s = getattr(self, "compile_s", None)
        out = {"compile_s": round(compile_s, 3) if compile_s is not None else None, "n_params_g": self.n_params["g"], "n_params_d": self.n_params["d"]}
        if self.fam.arch == "dcgan":
            out["upsample"] = self.upsample
        if getattr(self, "xla_flops", None) is not None:
            out["xla_flops_own"] = self.xla_flops
            if self.scan:
                out["xla_flops_own_note"] = "the whole scanned call's count (XLA's cost analysis counts a while loop's body once: about one step)"
        return out


# ----------------------------------------------------------------------------- PyTorch


class TorchVariant(Variant):
    framework = "torch"

    def __init__(self, name: str, fam: Family | int, width: int | None = None, batch: int = 64, k: int = 4, *, device: str = "cpu",
                 compile_backend: str = "inductor", sn_updates: str = "real_pass"):
        if isinstance(fam, int):  # (name, image size, width, batch, k): the DCGAN call of benchmarks/conv_cpu.py
            fam = get_family(f"dcgan{fam}", width)
        self.name, self.fam, self.batch, self.k = name, fam, batch, k
        self.dtype = "bfloat16" if "bf16" in name else "float32"
        self.steps_per_block = k
        self.fixed_block = False
        self.device = device
        self.compile = name.startswith("compile")
        self.compile_backend = compile_backend
        self.sn_updates = sn_updates

    def setup(self) -> None:
        import torch

        from torch_models import TorchGAN

        self.gan = TorchGAN(self.fam, device=self.device, compile=self.compile, compile_backend=self.compile_backend,
                            autocast_bf16=self.dtype == "bfloat16", sn_updates=self.sn_updates)
        self.n_params = self.gan.n_params
        gen = torch.Generator().manual_seed(0)
        h, w, c = self.fam.image_shape
        k = self.fam.n_critic
        self.reals = self.gan.prepare(torch.rand(k, self.batch, c, h, w, generator=gen) * 2 - 1)
        self.labels = torch.randint(0, self.fam.num_classes, (k, self.batch), generator=gen).to(self.device) if self.fam.conditional else None
        self.compile_s = None

    def block(self, steps: int | None = None) -> None:
        for _ in range(steps or self.steps_per_block):
            self.gan.step(self.reals, self.labels)
        self.gan.sync()

    def info(self) -> dict[str, Any]:
        out = {"n_params_g": self.n_params["g"], "n_params_d": self.n_params["d"]}
        if self.compile:
            out["compile_backend"] = self.compile_backend
            if self.fam.gp_weight:
                out["gp_eager_under_compile"] = True
        if self.fam.d_spectral_norm:
            out["sn_updates"] = self.sn_updates  # real_pass: as gan_jax; every_forward: PyTorch's default schedule
        return out


# ----------------------------------------------------------------------------- image translation


@dataclasses.dataclass(frozen=True)
class Translation:
    """An image-translation model of the benchmark: ``gan_jax.families.translation``'s pix2pix or
    CycleGAN at one image size, with that builder's paper defaults (``"auto"`` fields); read by
    both sides (``torch_translation.build_networks`` takes it too). ``scaled(width)`` multiplies
    ngf and ndf by width / 64."""

    name: str
    #: "pix2pix" (U-Net G, BatchNorm, BCE + L1) or "cyclegan" (2 ResNet G + 2 D, InstanceNorm, LSGAN + cycle + identity)
    method: str
    image_size: int
    channels_a: int = 3
    channels_b: int = 3
    ngf: int = 64
    ndf: int = 64
    d_layers: int = 3
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    l1_weight: float = 100.0
    cycle_weight: float = 10.0
    identity_weight: float = 0.5
    pool_size: int = 50
    experiment: str = ""
    width_scale: float = 1.0
    #: a step is one update of every network, on one batch of each domain
    n_critic: int = 1

    @property
    def arch(self) -> str:
        return "unet" if self.method == "pix2pix" else "resnet"

    @property
    def norm(self) -> str:
        return "batch" if self.method == "pix2pix" else "instance"

    @property
    def gan_loss(self) -> str:
        return "vanilla" if self.method == "pix2pix" else "lsgan"

    @property
    def unet_depth(self) -> int:
        return round(math.log2(self.image_size))

    @property
    def n_blocks(self) -> int:
        return 9 if self.image_size >= 256 else 6  # gan_jax.families.translation's "auto" (the paper's)

    @property
    def dropout(self) -> float:
        return 0.5 if self.method == "pix2pix" else 0.0

    def scaled(self, width: int | None) -> "Translation":
        if width is None or width == 64:
            return self
        f = width / 64
        return dataclasses.replace(self, ngf=max(1, round(self.ngf * f)), ndf=max(1, round(self.ndf * f)), width_scale=f)

    def sizes(self) -> dict:
        out = {"arch": self.arch, "method": self.method, "image_size": self.image_size, "channels": [self.channels_a, self.channels_b],
               "g_width": self.ngf, "d_width": self.ndf, "d_layers": self.d_layers, "norm": self.norm}
        out.update({"unet_depth": self.unet_depth, "dropout": self.dropout} if self.method == "pix2pix" else {"n_blocks": self.n_blocks})
        return out

    def recipe(self) -> dict:
        out = {"loss": self.gan_loss, "n_critic": 1, "lr": [self.lr, self.lr], "betas": list(self.betas), "experiment": self.experiment}
        if self.method == "pix2pix":
            out.update(l1_weight=self.l1_weight, conditional=True, pool_size=0)
        else:
            out.update(cycle_weight=self.cycle_weight, identity_weight=self.identity_weight if self.channels_a == self.channels_b else 0.0,
                       pool_size=self.pool_size)
        return out


TRANSLATION_MODELS: dict[str, Translation] = {
    "pix2pix64": Translation("pix2pix64", "pix2pix", 64, experiment="(pix2pix at 64x64: U-Net depth 6, the reference's 3-layer D; pix2pix_cifar10_edges is 32x32 with a 1-layer D)"),
    "pix2pix256": Translation("pix2pix256", "pix2pix", 256, experiment="(the pix2pix paper's 256x256 setting: unet_256, depth 8)"),
    "cyclegan64": Translation("cyclegan64", "cyclegan", 64, experiment="(CycleGAN at 64x64, 6 blocks; cyclegan_mnist_mnistm is 32x32 without identity)"),
    "cyclegan256": Translation("cyclegan256", "cyclegan", 256, experiment="cyclegan_folder"),
}
#: the variants a translation model has (the others give a "skipped" line), and its default list
TRANSLATION_VARIANTS = ("jit", "eager", "compile")
TRANSLATION_NOTES = (
    "step = one update of every network on one batch (pix2pix: D on (a, G(a)) and (a, b), then G; CycleGAN: both G, then both D on "
    "pooled fakes); images_per_sec = batch / seconds_per_step (pairs for pix2pix, one image of each domain for CycleGAN); "
    "flops_per_step: XLA's count of the float32 jax step with lax.conv convolutions, the same for every line of a model"
)


def get_model(name: str, width: int | None = None):
    """A classic family (``gan_families.get_family``), a translation model or a StyleGAN2 / BigGAN
    row (``STYLEGAN2_MODELS``, ``BIGGAN_MODELS``), scaled to ``width``."""
    if name in TRANSLATION_MODELS:
        return TRANSLATION_MODELS[name].scaled(width)
    if name in STYLEGAN2_MODELS:
        return STYLEGAN2_MODELS[name].scaled(width)
    if name in BIGGAN_MODELS:
        return BIGGAN_MODELS[name].scaled(width)
    return get_family(name, width)


def jax_translation_config(tr: Translation):
    """The ``Config`` that ``gan_jax.families.translation.build`` turns into ``tr`` (constant lr: ``decay_steps=0``)."""
    from gan_jax.config import Config, DataConfig, TrainConfig
    from gan_jax.families.translation import ModelConfig, RecipeConfig

    model = ModelConfig(g_arch="auto", ngf=tr.ngf, ndf=tr.ndf, d_layers=tr.d_layers, norm="auto", unet_depth=0, n_blocks=0,
                        dropout=0.5, test_dropout=True)
    recipe = RecipeConfig(method=tr.method, gan_loss="auto", l1_weight=tr.l1_weight, gan_weight=1.0, conditional=True,
                          cycle_weight=tr.cycle_weight, identity_weight=tr.identity_weight if tr.channels_a == tr.channels_b else 0.0,
                          pool_size=tr.pool_size, lr=tr.lr, b1=tr.betas[0], b2=tr.betas[1], decay_steps=0)
    return Config(experiment=tr.name, family="translation", data=DataConfig(name=f"benchmark:{tr.name}", image_size=tr.image_size),
                  model=model, recipe=recipe, train=TrainConfig(seed=0))


def _translation_dataset(tr: Translation):
    """What ``build`` reads of a dataset: its name and ``translation`` info (shapes, paired)."""
    import types

    s = tr.image_size
    info = types.SimpleNamespace(shape_a=(s, s, tr.channels_a), shape_b=(s, s, tr.channels_b), paired=tr.method == "pix2pix")
    return types.SimpleNamespace(name=f"benchmark:{tr.name}", translation=info)


def _translation_init(tr: Translation, box: list):
    from gan_jax.families import translation

    def init():
        recipe, state = translation.build(jax_translation_config(tr), _translation_dataset(tr))
        box.append(recipe)
        return state

    return init


#: XLA options for compiling the translation models' *initialisation* (run once, never timed): its
#: optimised CPU compilation takes ~16 s at width 4 (the forward pass flax's init traces, with the
#: Winograd convolutions), 2 s without LLVM's optimisations; the values are the same random draws
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def jax_translation(tr: Translation):
    """(recipe, state) of ``tr`` from ``gan_jax.families.translation.build`` (its init under
    ``jax.jit``: one compilation, with ``INIT_COMPILER_OPTIONS`` where the backend takes them)."""
    import jax

    box: list = []
    lowered = jax.jit(_translation_init(tr, box)).lower()
    try:
        init = lowered.compile(INIT_COMPILER_OPTIONS)
    except Exception:  # noqa: BLE001 -- a backend without these options: the default compilation
        init = lowered.compile()
    return box[0], init()


def jax_translation_batch(tr: Translation, batch: int):
    """A fixed random batch ``{"a", "b"}``: float32 in [-1, 1], NHWC (``to_float`` passes floats through)."""
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    s = tr.image_size
    return {"a": jnp.asarray(rng.uniform(-1, 1, (batch, s, s, tr.channels_a)), jnp.float32),
            "b": jnp.asarray(rng.uniform(-1, 1, (batch, s, s, tr.channels_b)), jnp.float32)}


def jax_translation_param_counts(tr: Translation) -> dict[str, int]:
    """Parameters of all generators / all discriminators (``jax.eval_shape``: nothing computed)."""
    import jax

    from gan_jax import engine

    box: list = []
    shapes = jax.eval_shape(_translation_init(tr, box))
    return _gd_counts({k: engine.param_count(n.params) for k, n in shapes.nets.items()})


def _gd_counts(per_net: dict[str, int]) -> dict[str, int]:
    return {"g": sum(n for k, n in per_net.items() if k.startswith("G")), "d": sum(n for k, n in per_net.items() if k.startswith("D"))}


def translation_reference_flops(tr: Translation, batch: int) -> tuple[float | None, str]:
    """XLA's count of the float32 step lowered for ``cuda`` (pre-optimisation HLO, nothing compiled):
    there ``FastConv`` / ``FastUpConv2x`` lower to ``lax.conv`` (their Winograd / col2im forms are
    the CPU branch of ``lax.platform_dependent``), the reference convolutions. Works on a CPU-only machine."""
    import jax

    from gan_jax import engine

    box: list = []
    shapes = jax.eval_shape(_translation_init(tr, box))
    traced = jax.jit(engine.train_step_fn(box[0])).trace(shapes, jax_translation_batch(tr, batch))
    lowered = traced.lower(lowering_platforms=("cuda",))
    return _flops(lowered.cost_analysis()), "xla cost_analysis of the float32 step lowered for cuda (lax.conv; pre-optimisation HLO)"


class TranslationJaxVariant(JaxVariant):
    """``jit`` of a translation recipe: ``gan_jax.engine.make_train_step(recipe)``, one call per step."""

    def __init__(self, name: str, tr: Translation, batch: int, k: int, platform_name: str = "cpu"):
        self.name, self.fam, self.batch, self.k = name, tr, batch, k
        self.dtype = "bfloat16" if "bf16" in name else "float32"
        self.scan, self.upsample, self.platform = False, "subpixel", platform_name
        self.steps_per_block, self.fixed_block = k, False
        if name not in TRANSLATION_VARIANTS:
            self.unsupported = (f"translation models: jax variant jit only, not {name} (gan_jax's translation models have no dtype "
                                "field; no scan variant for them here)")

    def setup(self) -> None:
        import jax

        from gan_jax import engine

        self._jax = jax
        recipe, state = jax_translation(self.fam)
        self.recipe = recipe
        self.n_params_nets = {k: engine.param_count(n.params) for k, n in state.nets.items()}
        self.n_params = _gd_counts(self.n_params_nets)
        batch = jax_translation_batch(self.fam, self.batch)
        t0 = time.perf_counter()
        train_step = engine.make_train_step(recipe)
        compiled = train_step.variant(recipe.active_at(0)).lower(state, batch).compile()
        self._call = lambda s, i: train_step(s, batch, step=i)
        self.compile_s = time.perf_counter() - t0
        self.xla_flops = _flops(compiled.cost_analysis())
        self._state, self._i = state, 0

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.pop("upsample", None)
        out["n_params_nets"] = self.n_params_nets
        return out


class TranslationTorchVariant(Variant):
    """``torch_translation``'s pix2pix / CycleGAN step: ``eager`` or ``compile`` (every network in ``torch.compile``)."""

    framework = "torch"

    def __init__(self, name: str, tr: Translation, batch: int, k: int, *, device: str = "cpu", compile_backend: str = "inductor"):
        self.name, self.fam, self.batch, self.k = name, tr, batch, k
        self.dtype = "bfloat16" if "bf16" in name else "float32"
        self.steps_per_block, self.fixed_block = k, False
        self.device, self.compile, self.compile_backend = device, name.startswith("compile"), compile_backend
        if name not in TRANSLATION_VARIANTS:
            self.unsupported = f"translation models have the torch variants eager and compile only (float32; no {name})"

    def setup(self) -> None:
        import numpy as np
        import torch

        from torch_translation import make_trainer, n_params

        self.trainer = make_trainer(self.fam, device=self.device, compile=self.compile, compile_backend=self.compile_backend)
        self.n_params_nets = {k: n_params(m) for k, m in self.trainer.nets.items()}
        self.n_params = self.trainer.n_params
        # the jax batch's values, NCHW
        batch = jax_translation_batch(self.fam, self.batch)
        self.a, self.b = (torch.from_numpy(np.asarray(batch[k]).transpose(0, 3, 1, 2).copy()).to(self.device) for k in ("a", "b"))
        self.compile_s = None

    def block(self, steps: int | None = None) -> None:
        for _ in range(steps or self.steps_per_block):
            self.trainer.step(self.a, self.b)
        self.trainer.sync()

    def info(self) -> dict[str, Any]:
        out = {"n_params_g": self.n_params["g"], "n_params_d": self.n_params["d"], "n_params_nets": self.n_params_nets}
        if self.compile:
            out["compile_backend"] = self.compile_backend
        return out


# ----------------------------------------------------------------------------- StyleGAN2 and BigGAN


@dataclasses.dataclass(frozen=True)
class StyleGAN2Bench:
    """A StyleGAN2 row: ``gan_jax.families.stylegan2.build`` with ``preset`` at ``image_size`` px,
    unconditional, no augmentation; ``--width W`` multiplies the preset's ``channel_base`` and
    ``channel_max`` by W / 64 (``width_scale``). The preset's batch-dependent values (auto:
    minibatch-std group min(batch, 4), R1 gamma, EMA) come from the family at the row's batch
    (``settings``); the PyTorch side reads them from there too."""

    name: str
    image_size: int
    preset: str
    experiment: str = ""
    channels: int = 3
    width_scale: float = 1.0
    #: a step is one update of each network (Gmain, Dmain) on one real batch
    n_critic: int = 1
    arch: str = "stylegan2"

    def scaled(self, width: int | None) -> "StyleGAN2Bench":
        if width is None or width == 64:
            return self
        return dataclasses.replace(self, width_scale=width / 64)

    def config(self, batch: int):
        """The family ``Config`` of this row at ``batch`` (widths scaled)."""
        from gan_jax.config import Config, DataConfig, TrainConfig
        from gan_jax.families import stylegan2 as fam
        from gan_jax.models.stylegan2 import network_resolution

        def make(channel_base: int = 0, channel_max: int = 512):
            return Config(experiment=self.name, family="stylegan2", data=DataConfig(name=f"benchmark:{self.name}", image_size=self.image_size),
                          model=fam.ModelConfig(preset=self.preset, channel_base=channel_base, channel_max=channel_max),
                          recipe=fam.RecipeConfig(augment="none"), train=TrainConfig(batch_size=batch, seed=0))

        if self.width_scale == 1.0:
            return make()
        full = fam._resolved(make(), network_resolution(self.image_size))["channel_base"]
        return make(max(1, round(full * self.width_scale)), max(1, round(512 * self.width_scale)))

    def dataset(self):
        import types

        s = self.image_size
        return types.SimpleNamespace(name=f"benchmark:{self.name}", data_shape=(s, s, self.channels), num_classes=0, is_image=True)


@dataclasses.dataclass(frozen=True)
class BigGANBench:
    """A BigGAN row: ``gan_jax.families.classic.build`` with ``model.arch="biggan"`` (class-conditional,
    projection D); ``--width W`` multiplies ``g_width`` / ``d_width`` (the channel unit ``ch``) by W / 64.
    Also the ``fam`` of ``torch_models.TorchGAN`` (the fields its step reads)."""

    name: str
    image_size: int
    num_classes: int
    g_width: int
    d_width: int
    z_dim: int
    shared_dim: int = 128
    attention: tuple[int, ...] = ()
    hierarchical: bool = True
    init: str = "ortho"
    loss: str = "hinge"
    n_critic: int = 1
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.999)
    ema_decay: float = 0.9999
    ema_rampup: float = 0.0
    ema_start: int = 0
    experiment: str = ""
    channels: int = 3
    width_scale: float = 1.0
    arch: str = "biggan"
    conditioning: str = "projection"
    gp_weight: float = 0.0
    d_spectral_norm: bool = True

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    @property
    def conditional(self) -> bool:
        return True

    def scaled(self, width: int | None) -> "BigGANBench":
        if width is None or width == 64:
            return self
        f = width / 64
        return dataclasses.replace(self, g_width=max(1, round(self.g_width * f)), d_width=max(1, round(self.d_width * f)), width_scale=f)

    def sizes(self) -> dict:
        return {"arch": "biggan", "image_size": self.image_size, "z_dim": self.z_dim, "g_width": self.g_width, "d_width": self.d_width,
                "shared_dim": self.shared_dim, "attention": list(self.attention), "hierarchical": self.hierarchical, "init": self.init}

    def recipe(self) -> dict:
        return {"loss": self.loss, "n_critic": self.n_critic, "conditioning": "projection", "num_classes": self.num_classes,
                "d_spectral_norm": True, "g_spectral_norm": True, "lr": [self.lr_g, self.lr_d], "betas": list(self.betas),
                "ema": [self.ema_decay, self.ema_rampup], "ema_start": self.ema_start, "experiment": self.experiment}

    def config(self, batch: int):
        from gan_jax.config import Config, DataConfig, TrainConfig
        from gan_jax.families.classic import ModelConfig, RecipeConfig

        model = ModelConfig(arch="biggan", z_dim=self.z_dim, g_width=self.g_width, d_width=self.d_width, conditioning="projection",
                            biggan_shared_dim=self.shared_dim, biggan_attention=tuple(self.attention), biggan_hierarchical=self.hierarchical,
                            biggan_init=self.init)
        recipe = RecipeConfig(loss=self.loss, n_critic=self.n_critic, lr_g=self.lr_g, lr_d=self.lr_d, b1=self.betas[0], b2=self.betas[1],
                              ema_decay=self.ema_decay, ema_rampup=self.ema_rampup, ema_start=self.ema_start)
        return Config(experiment=self.name, data=DataConfig(name=f"benchmark:{self.name}", image_size=self.image_size), model=model,
                      recipe=recipe, train=TrainConfig(batch_size=batch, seed=0))

    def dataset(self):
        import types

        return types.SimpleNamespace(name=f"benchmark:{self.name}", data_shape=self.image_shape, num_classes=self.num_classes, is_image=True)


STYLEGAN2_MODELS: dict[str, StyleGAN2Bench] = {
    # stylegan2-ada-pytorch --cfg=cifar: widths 512 at every resolution, 2 mapping layers, orig D, mbstd 32, no pl / mixing
    "stylegan2-32": StyleGAN2Bench("stylegan2-32", 32, "cifar", experiment="stylegan2_cifar10"),
    # --cfg=auto at 64 px: widths min(16384 / res, 512), resnet D, mbstd min(batch, 4), pl 2, mixing 0.9 (stylegan2_folder without ADA)
    "stylegan2-64": StyleGAN2Bench("stylegan2-64", 64, "auto", experiment="stylegan2_folder (augment none)"),
}
BIGGAN_MODELS: dict[str, BigGANBench] = {
    # experiments/biggan_cifar10.py (StudioGAN's CIFAR-10 BigGAN)
    "biggan-32": BigGANBench("biggan-32", 32, 10, g_width=96, d_width=48, z_dim=80, attention=(16,), n_critic=5, betas=(0.5, 0.999),
                             ema_start=1000, experiment="biggan_cifar10"),
    # BigGAN-PyTorch scripts/launch_BigGAN_bs256x8.sh (ImageNet 128): ch 96 / 96, z 120 in 6 chunks, attention at 64,
    # 1 D step per G step, Adam G 1e-4 / D 4e-4 (0, 0.999), EMA 0.9999 from step 20,000
    "biggan-128": BigGANBench("biggan-128", 128, 1000, g_width=96, d_width=96, z_dim=120, attention=(64,), n_critic=1, lr_g=1e-4, lr_d=4e-4,
                              ema_start=20000, experiment="(BigGAN-PyTorch launch_BigGAN_bs256x8.sh, ImageNet 128; no experiment here)"),
}
#: the variants these rows have (the others give a "skipped" line), and their default list
BUILT_VARIANTS = ("jit", "eager", "compile")
BUILT_KINDS = (StyleGAN2Bench, BigGANBench)
STYLEGAN2_NOTES = (
    "step = Gmain + Dmain (a step index where no lazy phase runs): one G update (softplus(-D(G(z)))) and one D update on one real "
    "batch; images_per_sec = batch / seconds_per_step; seconds_per_step_lazy = the step with every lazy phase too (Gmain, Greg "
    "(path length, if pl_weight), Dmain, Dreg (R1)), a step index divisible by g_reg_every and d_reg_every; flops_per_step: XLA's "
    "count of the float32 jax main step, the same for every line of a model"
)
BIGGAN_NOTES = (
    "step = n_critic D updates (each on its own real batch and labels: real + G(z, y) fake, hinge) + 1 G update (labels of the last "
    "batch) + G's EMA and its BatchNorm statistics pass; images_per_sec = batch * n_critic / seconds_per_step (real images); "
    "flops_per_step: XLA's count of the float32 jax step, the same for every line of a model"
)
_SETTINGS_CACHE: dict[tuple, dict] = {}


def _built_build(m, batch: int):
    from gan_jax.families import classic, stylegan2

    family = stylegan2 if isinstance(m, StyleGAN2Bench) else classic
    return family.build(m.config(batch), m.dataset())


def _built_init(m, batch: int, box: list):
    def init():
        recipe, state = _built_build(m, batch)
        box.append(recipe)
        return state

    return init


def _recipe_spec(recipe):
    """The ``StyleGAN2Spec`` the recipe's phases were built with (``functools.partial(..., spec=...)``)."""
    for p in recipe.phases:
        spec = getattr(p.loss, "keywords", {}).get("spec")
        if spec is not None:
            return spec
    raise RuntimeError(f"recipe {recipe.name!r}: no phase carries its spec")


def stylegan2_settings(m: StyleGAN2Bench, batch: int) -> dict[str, Any]:
    """What the JAX build of ``m`` at ``batch`` is (``jax.eval_shape``: nothing computed): the networks'
    sizes (from the built modules), the recipe's regularisation / mixing settings (its
    ``StyleGAN2Spec``) and the preset's lr and EMA; the PyTorch side is built from this."""
    key = (m, batch)
    if key not in _SETTINGS_CACHE:
        import jax

        from gan_jax.families import stylegan2 as fam
        from gan_jax.models.stylegan2 import channels_at, network_resolution

        box: list = []
        shapes = jax.eval_shape(_built_init(m, batch, box))
        g, d, spec = shapes.nets["G"].module, shapes.nets["D"].module, _recipe_spec(box[0])
        res = network_resolution(m.image_size)
        config = m.config(batch)
        resolved = fam._resolved(config, res)
        r = config.recipe
        _SETTINGS_CACHE[key] = {
            "resolution": res, "channels": m.channels, "z_dim": g.z_dim, "w_dim": g.w_dim, "mapping_layers": g.mapping_layers,
            "channel_base": g.channel_base, "channel_max": g.channel_max, "d_architecture": d.architecture, "mbstd_group": d.mbstd_group,
            "mbstd_group_effective": min(d.mbstd_group, batch), "mbstd_channels": d.mbstd_channels, "num_classes": g.num_classes,
            "lr": resolved["lr"], "betas": (r.b1, r.b2), "r1_gamma": spec.r1_gamma, "d_reg_every": spec.d_reg_every,
            "pl_weight": spec.pl_weight, "g_reg_every": spec.g_reg_every, "pl_batch_shrink": spec.pl_batch_shrink, "pl_decay": spec.pl_decay,
            "style_mixing": spec.style_mixing, "w_avg_beta": spec.w_avg_beta, "ema_kimg": resolved["ema_kimg"],
            "ema_rampup": resolved["ema_rampup"], "augment": spec.augment,
            "widths": {str(2**i): channels_at(2**i, g.channel_base, g.channel_max) for i in range(2, res.bit_length())},
        }
    return _SETTINGS_CACHE[key]


def built_sizes_recipe(m, batch: int) -> tuple[dict, dict]:
    """The JSON line's size and recipe fields of a StyleGAN2 / BigGAN row."""
    if isinstance(m, BigGANBench):
        return m.sizes(), m.recipe()
    s = stylegan2_settings(m, batch)
    sizes = {"arch": "stylegan2", "image_size": m.image_size, "preset": m.preset, "z_dim": s["z_dim"], "w_dim": s["w_dim"],
             "mapping_layers": s["mapping_layers"], "channel_base": s["channel_base"], "channel_max": s["channel_max"], "widths": s["widths"],
             "d_architecture": s["d_architecture"], "mbstd_group": s["mbstd_group"],
             "mbstd_group_effective": s["mbstd_group_effective"], "mbstd_channels": s["mbstd_channels"]}
    recipe = {"loss": "nonsaturating", "n_critic": 1, "lr": [s["lr"], s["lr"]], "betas": list(s["betas"]), "r1_gamma": s["r1_gamma"],
              "d_reg_every": s["d_reg_every"], "pl_weight": s["pl_weight"], "g_reg_every": s["g_reg_every"],
              "pl_batch_shrink": s["pl_batch_shrink"], "style_mixing": s["style_mixing"], "ema_kimg": s["ema_kimg"],
              "ema_rampup": s["ema_rampup"], "augment": s["augment"], "experiment": m.experiment}
    return sizes, recipe


def jax_built(m, batch: int):
    """(recipe, state) of a StyleGAN2 / BigGAN row from its family's ``build`` (init under ``jax.jit``, ``INIT_COMPILER_OPTIONS``)."""
    import jax

    box: list = []
    lowered = jax.jit(_built_init(m, batch, box)).lower()
    try:
        init = lowered.compile(INIT_COMPILER_OPTIONS)
    except Exception:  # noqa: BLE001 -- a backend without these options
        init = lowered.compile()
    return box[0], init()


def jax_built_batch(m, batch: int):
    """A fixed random batch: x float32 in [-1, 1] (NHWC), BigGAN: + int32 labels; a leading n_critic axis when n_critic > 1."""
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    k = (m.n_critic,) if m.n_critic > 1 else ()
    s = m.image_size
    out = {"x": jnp.asarray(rng.uniform(-1, 1, k + (batch, s, s, m.channels)), jnp.float32)}
    if isinstance(m, BigGANBench):
        out["y"] = jnp.asarray(rng.integers(0, m.num_classes, k + (batch,)), jnp.int32)
    return out


def built_reference_flops(m, batch: int, mode: str) -> tuple[float | None, str]:
    """XLA's count of the float32 main step (no lazy phase), lowered from shapes (``mode``: compiled or lowered)."""
    import jax

    from gan_jax import engine

    box: list = []
    shapes = jax.eval_shape(_built_init(m, batch, box))
    lowered = jax.jit(engine.train_step_fn(box[0])).lower(shapes, jax_built_batch(m, batch))
    if mode == "lowered":
        return _flops(lowered.cost_analysis()), "xla cost_analysis of the lowered (pre-optimisation) float32 main step"
    return _flops(lowered.compile().cost_analysis()), "xla cost_analysis of the compiled float32 main step"


def built_analytic_flops(m, batch: int, modconv: str = "grouped") -> dict[str, Any]:
    if isinstance(m, StyleGAN2Bench):
        import torch_stylegan2

        return torch_stylegan2.analytic_step_flops(stylegan2_settings(m, batch), batch, modconv)
    import torch_biggan

    return torch_biggan.analytic_step_flops(m, batch)


def _main_indices(is_lazy: Callable[[int], bool]):
    """Step indices at which no lazy phase runs (1, 2, 3, 5, ... for g_reg_every 4)."""
    i = 0
    while True:
        i += 1
        if not is_lazy(i):
            yield i


class BuiltJaxVariant(JaxVariant):
    """``jit`` of a StyleGAN2 / BigGAN recipe from its family's ``build``: ``engine.make_train_step(recipe)``,
    one call per step at step indices where no lazy phase runs; with lazy phases (StyleGAN2) and
    ``--lazy-step on`` each block ends with one call at step 0's variant (every lazy phase), timed
    on its own (``seconds_per_step_lazy``; not in ``seconds_per_step``)."""

    def __init__(self, name: str, m, batch: int, k: int, platform_name: str = "cpu", lazy_step: bool = True):
        self.name, self.fam, self.batch, self.k = name, m, batch, k
        self.dtype = "float32"
        self.scan, self.upsample, self.platform = False, "subpixel", platform_name
        self.steps_per_block, self.fixed_block = k, False
        self.want_lazy = lazy_step
        if name not in BUILT_VARIANTS:
            self.unsupported = (f"{m.arch} rows: jax variant jit only, not {name} (gan_jax's {m.arch} models have no dtype field; "
                                "no scan variant for them here)")

    def setup(self) -> None:
        import jax

        from gan_jax import engine

        self._jax = jax
        recipe, state = jax_built(self.fam, self.batch)
        self.recipe = recipe
        self.n_params = {"g": engine.param_count(state.nets["G"].params), "d": engine.param_count(state.nets["D"].params)}
        batch = jax_built_batch(self.fam, self.batch)
        train_step = engine.make_train_step(recipe)
        lazy = recipe.active_at(0)
        self.lazy_phases = [p.name for p in recipe.phases if p.name in lazy] if self.want_lazy else []  # phase order
        t0 = time.perf_counter()
        compiled = train_step.variant(frozenset()).lower(state, batch).compile()
        self.compile_s = time.perf_counter() - t0
        self.xla_flops = _flops(compiled.cost_analysis())
        self.xla_flops_lazy = None
        if self.lazy_phases:
            t0 = time.perf_counter()
            lazy = train_step.variant(recipe.active_at(0)).lower(state, batch).compile()
            self.compile_lazy_s = time.perf_counter() - t0
            self.xla_flops_lazy = _flops(lazy.cost_analysis())
        self._call = lambda s, i: train_step(s, batch, step=i)
        self._indices = _main_indices(lambda i: bool(recipe.active_at(i)))
        self._state, self.lazy_times = state, []

    def block(self, steps: int | None = None) -> float:
        jax, state, metrics = self._jax, self._state, None
        t0 = time.perf_counter()
        for _ in range(steps or self.steps_per_block):
            state, metrics = self._call(state, next(self._indices))
        jax.block_until_ready((state, metrics))
        t_main = time.perf_counter() - t0
        if self.lazy_phases:
            t0 = time.perf_counter()
            state, metrics = self._call(state, 0)
            jax.block_until_ready((state, metrics))
            self.lazy_times.append(time.perf_counter() - t0)
        self._state = state
        return t_main

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.pop("upsample", None)
        out.update(_lazy_info(self))
        if self.lazy_phases:
            out["compile_lazy_s"] = round(self.compile_lazy_s, 3)
            out["xla_flops_lazy_own"] = self.xla_flops_lazy
        return out


def _lazy_info(v) -> dict[str, Any]:
    if not getattr(v, "lazy_phases", None):
        return {"lazy_phases": [], "seconds_per_step_lazy": None}
    t = v.lazy_times
    return {"lazy_phases": list(v.lazy_phases), "seconds_per_step_lazy": round(statistics.median(t), 6) if t else None,
            "seconds_per_step_lazy_all": [round(x, 6) for x in t]}


class BuiltTorchVariant(Variant):
    """PyTorch side of a StyleGAN2 row (``torch_stylegan2.TorchStyleGAN2``) or a BigGAN row
    (``torch_models.TorchGAN`` on ``torch_biggan``'s networks): ``eager`` or ``compile``."""

    framework = "torch"

    def __init__(self, name: str, m, batch: int, k: int, *, device: str = "cpu", compile_backend: str = "inductor",
                 sn_updates: str = "real_pass", modconv: str = "grouped", lazy_step: bool = True):
        self.name, self.fam, self.batch, self.k = name, m, batch, k
        self.dtype = "float32"
        self.steps_per_block, self.fixed_block = k, False
        self.device, self.compile, self.compile_backend = device, name.startswith("compile"), compile_backend
        self.sn_updates, self.modconv, self.want_lazy = sn_updates, modconv, lazy_step
        if name not in BUILT_VARIANTS:
            self.unsupported = f"{m.arch} rows have the torch variants eager and compile only (float32; no {name})"

    def setup(self) -> None:
        import numpy as np
        import torch

        data = jax_built_batch(self.fam, self.batch)  # the jax batch's values, NCHW
        x = np.asarray(data["x"])
        self.reals = torch.from_numpy(np.moveaxis(x, -1, -3).copy()).to(self.device)
        if isinstance(self.fam, StyleGAN2Bench):
            from torch_stylegan2 import TorchStyleGAN2

            self.gan = TorchStyleGAN2(stylegan2_settings(self.fam, self.batch), device=self.device, modconv=self.modconv, compile=self.compile,
                                      compile_backend=self.compile_backend)
            self.labels = None
            self.lazy_phases = [p for p in self.gan.phases_at(0) if p in ("Greg", "Dreg")] if self.want_lazy else []
            self._indices = _main_indices(lambda i: len(self.gan.phases_at(i)) > 2)
            self._step = lambda i: self.gan.step(self.reals, i)
        else:
            import torch_biggan
            from torch_models import TorchGAN

            self.gan = TorchGAN(self.fam, device=self.device, compile=self.compile, compile_backend=self.compile_backend,
                                sn_updates=self.sn_updates, build=torch_biggan.build_models)
            self.labels = torch.from_numpy(np.asarray(data["y"]).astype(np.int64)).to(self.device)
            self.lazy_phases = []
            self._indices = _main_indices(lambda i: False)
            self._step = lambda i: self.gan.step(self.reals, self.labels)
        self.n_params = self.gan.n_params
        self.compile_s, self.lazy_times = None, []

    def block(self, steps: int | None = None) -> float:
        t0 = time.perf_counter()
        for _ in range(steps or self.steps_per_block):
            self._step(next(self._indices))
        self.gan.sync()
        t_main = time.perf_counter() - t0
        if self.lazy_phases:
            t0 = time.perf_counter()
            self._step(0)
            self.gan.sync()
            self.lazy_times.append(time.perf_counter() - t0)
        return t_main

    def info(self) -> dict[str, Any]:
        out = {"n_params_g": self.n_params["g"], "n_params_d": self.n_params["d"], **_lazy_info(self)}
        if self.compile:
            out["compile_backend"] = self.compile_backend
            out["regularisers_eager_under_compile"] = isinstance(self.fam, StyleGAN2Bench)
        if isinstance(self.fam, StyleGAN2Bench):
            out["modconv"] = self.modconv
        else:
            out["sn_updates"] = self.sn_updates
            out["spectral_norm_impl"] = "torch.nn.utils.parametrizations.spectral_norm"
        return out


# ----------------------------------------------------------------------------- driver


def _versions() -> dict[str, Any]:
    import flax
    import jax
    import jaxlib
    import optax
    import torch

    out = {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__, "optax": optax.__version__, "torch": torch.__version__}
    if torch.cuda.is_available():
        out.update(torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return out


def _error(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}"
    return msg if len(msg) < 2000 else msg[:1000] + " ... " + msg[-900:]


def parse_peaks(text: str | None) -> dict[str, float]:
    """``"989"`` (every dtype) or ``"float32=67,bfloat16=989"`` -> {dtype or "*": TFLOP/s}."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            key, value = part.split("=", 1)
            key = {"fp32": "float32", "f32": "float32", "bf16": "bfloat16"}.get(key.strip(), key.strip())
            out[key] = float(value)
        else:
            out["*"] = float(part)
    return out


def _make_variant(name: str, fam, batch: int, args, platform_name: str) -> Variant:
    if isinstance(fam, BUILT_KINDS):
        lazy = args.lazy_step == "on"
        if name in JAX_VARIANTS:
            return BuiltJaxVariant(name, fam, batch, args.scan_k, platform_name, lazy_step=lazy)
        return BuiltTorchVariant(name, fam, batch, args.scan_k, device=args.device, compile_backend=args.torch_compile_backend,
                                 sn_updates=args.torch_sn_updates, modconv=args.stylegan2_modconv, lazy_step=lazy)
    if isinstance(fam, Translation):
        if name in JAX_VARIANTS:
            return TranslationJaxVariant(name, fam, batch, args.scan_k, platform_name)
        return TranslationTorchVariant(name, fam, batch, args.scan_k, device=args.device, compile_backend=args.torch_compile_backend)
    if name in JAX_VARIANTS:
        return JaxVariant(name, fam, batch, args.scan_k, platform_name)
    return TorchVariant(name, fam, None, batch, args.scan_k, device=args.device, compile_backend=args.torch_compile_backend,
                        sn_updates=args.torch_sn_updates)


def run_group(model: str, batch: int, width: int | None, variants: list[str], args, common: dict[str, Any], emit: Callable[[dict], None]) -> None:
    import jax

    fam = get_model(model, width)
    if getattr(args, "n_critic", None) and isinstance(fam, BigGANBench):  # a smoke-test knob: fewer unrolled D updates to compile
        fam = dataclasses.replace(fam, n_critic=args.n_critic)
    platform_name = jax.devices()[0].platform
    t_group = time.time()
    deadline = t_group + args.time_budget if args.time_budget else None
    sizes, recipe = built_sizes_recipe(fam, batch) if isinstance(fam, BUILT_KINDS) else (fam.sizes(), fam.recipe())
    base = {
        "bench": "step_throughput", "model": model, **sizes, "width": width or 64, "batch": batch,
        "real_batches_per_step": fam.n_critic, **recipe, **common,
    }
    if isinstance(fam, Translation):
        base["notes"] = TRANSLATION_NOTES
    elif isinstance(fam, BUILT_KINDS):
        base["notes"] = STYLEGAN2_NOTES if isinstance(fam, StyleGAN2Bench) else BIGGAN_NOTES
        if isinstance(fam, BigGANBench) and fam.n_critic != BIGGAN_MODELS[model].n_critic:
            base["n_critic_override"] = f"--n-critic {fam.n_critic} (the row's: {BIGGAN_MODELS[model].n_critic})"
    peaks = parse_peaks(args.peak_tflops)
    all_v: list[Variant] = []
    live: list[Variant] = []
    stopped: str | None = None  # a SIGTERM arrived: nothing new starts
    budget: str | None = None  # the time budget is used up: no new variant is built, rounds stop after the first
    for name in variants:
        v = _make_variant(name, fam, batch, args, platform_name)
        v.head = {**base, "framework": v.framework, "variant": name, "dtype": v.dtype}
        v.times, v.error, v.skipped, v.warmup_s = [], None, None, []
        all_v.append(v)
        if v.unsupported:
            v.skipped = v.unsupported
            continue
        if name.startswith("compile") and args.quick and not args.quick_compile:
            v.skipped = "torch.compile is skipped in --quick mode (its C++ build takes longer than the quick run; use --quick-compile)"
            continue
        if _STOP["requested"] and not stopped:
            stopped = "stopped (signal) before this variant was built"
        if stopped or budget:
            v.skipped = stopped or budget
            continue
        if deadline and time.time() > deadline:
            v.skipped = budget = f"time budget ({args.time_budget} s) used up before this variant was built"
            continue
        try:
            with _interruptible():
                v.setup()
                for _ in range(args.warmup):  # warm-up (for torch.compile the first one compiles)
                    t0 = time.perf_counter()
                    n = 1 if (args.block_target_s and not v.fixed_block) else v.steps_per_block
                    ret = v.block(n)  # StyleGAN2 / BigGAN rows: the time of the block's main steps
                    v.warmup_s.append((ret if ret is not None else time.perf_counter() - t0) / n)
                if getattr(v, "lazy_times", None):
                    v.lazy_warmup_s, v.lazy_times = v.lazy_times, []
            if args.block_target_s and not v.fixed_block and v.warmup_s:
                v.steps_per_block = max(1, min(args.max_block_steps, round(args.block_target_s / max(v.warmup_s[-1], 1e-6))))
        except Stop as e:
            v.skipped = stopped = f"stopped ({e}) while building / warming up"
            continue
        except Exception as e:  # noqa: BLE001 -- report, don't crash (torch.compile needs a C++ toolchain)
            v.error = _error(e)
            continue
        live.append(v)
        print(f"# {model} b{batch} {v.framework}/{name}: set up, warm-up {[round(t, 3) for t in v.warmup_s]} s/step, {v.steps_per_block} steps/block",
              file=sys.stderr, flush=True)

    counts = {(v.n_params["g"], v.n_params["d"]) for v in all_v if getattr(v, "n_params", None)}
    load_start = _loadavg()
    t_start = time.time()
    try:
        for r in range(args.reps):
            if _STOP["requested"]:
                stopped = stopped or f"stopped (signal) after {r} of {args.reps} rounds"
            if stopped:
                break
            if deadline and r > 0 and time.time() > deadline:
                budget = f"time budget ({args.time_budget} s): {r} of {args.reps} rounds"
                break
            for v in live:
                if v.error:
                    continue
                try:
                    with _interruptible():
                        t0 = time.perf_counter()
                        ret = v.block()
                        dt = ret if ret is not None else time.perf_counter() - t0
                    v.times.append(dt / v.steps_per_block)
                except Stop:
                    raise
                except Exception as e:  # noqa: BLE001
                    v.error = _error(e)
            print(f"# {model} b{batch} round {r + 1}/{args.reps}: " + ", ".join(f"{v.name} {v.times[-1]:.4f}" for v in live if v.times),
                  file=sys.stderr, flush=True)
    except Stop as e:
        stopped = f"stopped ({e}) during the rounds"
    load_end = _loadavg()
    # the model's FLOP count: the float32 jit step with reference convolutions
    flops, flops_source = None, None
    if args.flops != "off":
        ref = next((v for v in live if v.framework == "jax" and v.name == "jit"), None)
        try:
            if ref is not None and uses_reference_convs(fam, platform_name) and ref.xla_flops:
                flops, flops_source = ref.xla_flops, "xla cost_analysis of the compiled float32 jit step (this run's jax jit variant)"
            elif not (stopped or budget):
                with _interruptible():
                    flops, flops_source = reference_flops(fam, batch, args.flops)
        except Stop as e:
            stopped = f"stopped ({e}) while counting FLOPs"
        except Exception as e:  # noqa: BLE001
            flops_source = f"failed: {_error(e)}"
    analytic = None
    try:
        if isinstance(fam, BUILT_KINDS):
            analytic = built_analytic_flops(fam, batch, args.stylegan2_modconv)
        elif isinstance(fam, Translation):
            import torch_translation

            analytic = torch_translation.analytic_step_flops(fam, batch)
        else:
            import torch_models

            analytic = torch_models.analytic_step_flops(fam, batch)
    except Stop as e:  # (not inside an interruptible section: cannot happen; kept for safety)
        stopped = f"stopped ({e})"
    except Exception as e:  # noqa: BLE001
        print(f"# analytic FLOP count failed: {_error(e)}", file=sys.stderr)

    for v in all_v:
        rec = {**v.head}
        if v.times:
            sps = statistics.median(v.times)
            rec.update(
                images_per_sec=round(batch * fam.n_critic / sps, 3),
                g_steps_per_sec=round(1.0 / sps, 4),
                seconds_per_step=round(sps, 6),
                seconds_per_step_min=round(min(v.times), 6),
                seconds_per_step_all=[round(t, 6) for t in v.times],
            )
        else:
            rec.update(images_per_sec=None, g_steps_per_sec=None, seconds_per_step=None)
        if v.skipped:
            rec["skipped"] = v.skipped
        if v.error:
            rec["error"] = v.error
        if (stopped or budget) and v.times and len(v.times) < args.reps:
            rec["note"] = stopped or budget
        rec.update(
            reps=len(v.times),
            steps_per_rep=v.steps_per_block,
            scan_k=v.k if v.framework == "jax" and v.name.startswith("scan") else None,
            warmup_s=[round(t, 4) for t in v.warmup_s],
            **(v.info() if getattr(v, "n_params", None) else {}),
            n_params_match=len(counts) == 1 if counts else None,
            flops_per_step=flops,
            flops_source=flops_source,
            flops_per_step_analytic=analytic["flops_per_step"] if analytic else None,
        )
        if analytic and analytic.get("formula"):  # translation, StyleGAN2, BigGAN models
            rec["flops_per_step_analytic_formula"] = analytic["formula"]
        if analytic and analytic.get("formula_lazy"):  # StyleGAN2: the step with every lazy phase
            rec.update(flops_per_step_lazy_analytic=analytic["flops_per_step_lazy"], flops_per_step_lazy_analytic_formula=analytic["formula_lazy"])
        if getattr(v, "lazy_phases", None) and getattr(v, "lazy_times", None):
            rec["images_per_sec_lazy"] = round(batch * fam.n_critic / statistics.median(v.lazy_times), 3)
        if flops and v.times:
            achieved = flops / rec["seconds_per_step"] / 1e12
            peak = peaks.get(v.dtype, peaks.get("*"))
            rec.update(achieved_tflops=round(achieved, 6), peak_tflops=peak, peak_source=args.peak_source if peak else None,
                       mfu=round(achieved / peak, 6) if peak else None)
        rec.update(loadavg_start=load_start, loadavg_end=load_end, measure_wall_s=round(time.time() - t_start, 2), group_wall_s=round(time.time() - t_group, 2))
        emit(rec)
    if _STOP["requested"]:
        raise Stop(stopped or "signal")


def _install_import_blocker(names: tuple[str, ...]) -> None:
    """Make these top-level packages look absent (the GPU machine has no grain / tfds): ``None`` in
    ``sys.modules`` fails ``import`` and makes ``importlib.util.find_spec`` return None, as for a
    package that is not installed (torch._dynamo probes for tensorflow that way)."""
    for name in names:
        if sys.modules.get(name) is not None:
            raise RuntimeError(f"--forbid-imports: {name} is already imported")
        sys.modules[name] = None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="dcgan64,dcgan32",
                   help=f"comma list of {list(MODELS) + list(TRANSLATION_MODELS) + list(STYLEGAN2_MODELS) + list(BIGGAN_MODELS)}, or 'all' (the "
                        f"classic families), 'translation', 'stylegan2' or 'biggan' (those groups; a group name may appear in the list)")
    p.add_argument("--batch", default="64", help="comma list of batch sizes")
    p.add_argument("--width", type=int, default=None, help="scale every width / hidden size by W/64 (default 64: the experiments' sizes)")
    p.add_argument("--reps", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up blocks per variant (excluded)")
    p.add_argument("--scan-k", type=int, default=4, help="steps per scanned call, and steps per timed block")
    p.add_argument("--block-target-s", type=float, default=0.0, help="size each variant's block to about this many seconds (0: --scan-k steps)")
    p.add_argument("--max-block-steps", type=int, default=50)
    p.add_argument("--variants", default=None, help=f"comma list of {JAX_VARIANTS + TORCH_VARIANTS}, or 'all' (default: {','.join(DEFAULT_VARIANTS)}; --quick: {QUICK_MODELS})")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu (JAX_PLATFORMS=cpu) or cuda (JAX_PLATFORMS=cuda, torch on cuda:0)")
    p.add_argument("--threads", type=int, default=None, help="restrict the process to N cores (default: all)")
    p.add_argument("--omp-wait-policy", choices=("default", "passive", "active"), default="default",
                   help="set OMP_WAIT_POLICY for PyTorch's OpenMP threads before torch is imported (default: leave the environment alone)")
    p.add_argument("--tf32", choices=("default", "on", "off"), default="default",
                   help="float32 matmuls/convolutions on a GPU: leave both frameworks' defaults, or force TF32 on / off in both")
    p.add_argument("--cudnn-benchmark", choices=("on", "off"), default="on",
                   help="torch.backends.cudnn.benchmark on a GPU (on: cuDNN picks its fastest algorithms in the warm-up, as XLA autotunes at compile time)")
    p.add_argument("--torch-compile-backend", default="inductor", help="torch.compile backend of the compile variants (aot_eager: no code generation)")
    p.add_argument("--lazy-step", choices=("on", "off"), default="on",
                   help="StyleGAN2 rows: also time the step with every lazy phase (Greg, Dreg) once per block (seconds_per_step_lazy)")
    p.add_argument("--n-critic", type=int, default=None,
                   help="BigGAN rows: D updates per step instead of the row's (a smoke-test knob: each is unrolled in the compiled step)")
    p.add_argument("--stylegan2-modconv", choices=("grouped", "scaled"), default="grouped",
                   help="PyTorch StyleGAN2's modulated convolution: the reference's fused grouped convolution or its scaled (fused_modconv=False) path")
    p.add_argument("--torch-sn-updates", choices=("real_pass", "every_forward"), default="real_pass",
                   help="PyTorch spectral norm: power iteration on D's real pass only (as gan_jax) or on every training-mode forward (PyTorch's default)")
    p.add_argument("--flops", choices=("compiled", "lowered", "off"), default=None, help="how to count the reference FLOPs when the jit variant cannot be used (default compiled; --quick: lowered)")
    p.add_argument("--peak-tflops", default=None, help="peak TFLOP/s for MFU: one number or per dtype, e.g. float32=67,bfloat16=989")
    p.add_argument("--peak-source", default=None, help="where the peak comes from (recorded in the JSON)")
    p.add_argument("--time-budget", type=float, default=None, help="soft limit in seconds per (model, batch) group")
    p.add_argument("--forbid-imports", default=None, help=f"comma list of packages whose import must fail (e.g. {','.join(FORBID_DEFAULT)})")
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    p.add_argument("--quick", action="store_true", help="batch 8, width 8, 2 rounds: dcgan32 (jit, eager) + mlp_cgan_mnist (jit, scan, eager); no torch.compile")
    p.add_argument("--quick-compile", action="store_true", help="with --quick: keep the torch.compile variant")
    args = p.parse_args(argv)

    if args.forbid_imports:
        _install_import_blocker(tuple(x for x in args.forbid_imports.split(",") if x))
    if args.threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
    if args.quick:
        args.batch, args.width, args.reps = "8", 8, 2
        if args.models == p.get_default("models"):
            args.models = ",".join(QUICK_MODELS)
        args.flops = args.flops or "lowered"
    args.flops = args.flops or "compiled"
    groups = {"all": list(MODELS), "translation": list(TRANSLATION_MODELS), "stylegan2": list(STYLEGAN2_MODELS), "biggan": list(BIGGAN_MODELS)}
    models = [x for m in args.models.split(",") if m for x in groups.get(m, [m])]
    if args.variants is None:
        per_model = {m: list(QUICK_MODELS.get(m, QUICK_VARIANTS)) if args.quick else list(DEFAULT_VARIANTS) for m in models}
        per_model.update({m: list(TRANSLATION_VARIANTS) for m in models if m in TRANSLATION_MODELS})
        per_model.update({m: list(BUILT_VARIANTS) for m in models if m in STYLEGAN2_MODELS or m in BIGGAN_MODELS})
    else:
        chosen = list(JAX_VARIANTS + TORCH_VARIANTS) if args.variants == "all" else [v for v in args.variants.split(",") if v]
        per_model = {m: chosen for m in models}
    unknown = sorted({v for vs in per_model.values() for v in vs} - set(JAX_VARIANTS + TORCH_VARIANTS))
    known = MODELS + tuple(TRANSLATION_MODELS) + tuple(STYLEGAN2_MODELS) + tuple(BIGGAN_MODELS)
    if unknown or any(m not in known for m in models):
        p.error(f"unknown variants {unknown} or models {[m for m in models if m not in known]}")

    os.environ.setdefault("JAX_PLATFORMS", "cpu" if args.device == "cpu" else "cuda")
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import jax
    import torch

    if args.device == "cpu":
        torch.set_num_threads(threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = args.cudnn_benchmark == "on"
    if args.tf32 != "default":
        on = args.tf32 == "on"
        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if on else "float32")
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on
    dev = jax.devices()[0]
    common = {
        "device": {
            "jax": str(dev.device_kind), "jax_platform": dev.platform,
            "torch": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
            "cpu": _cpu_name(), "cores": os.cpu_count(),
        },
        "threads": {"jax": threads, "torch": torch.get_num_threads()},
        "versions": _versions(),
        "precision": {
            "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            "torch_float32_matmul_precision": torch.get_float32_matmul_precision(),
            "torch_cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "torch_cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "torch_cudnn_benchmark": torch.backends.cudnn.benchmark,
        },
        "quick": args.quick,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "XLA_FLAGS", "JAX_PLATFORMS",
                                               "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "JAX_COMPILATION_CACHE_DIR",
                                               "TORCHINDUCTOR_CACHE_DIR")},
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "notes": "step = n_critic D updates (each on its own real batch: real + G(z) fake [+ GP]) + 1 G update (fresh z) + G's EMA "
                 "(+ its BatchNorm statistics pass); images_per_sec = batch * n_critic / seconds_per_step (real images), "
                 "g_steps_per_sec = 1 / seconds_per_step; flops_per_step: the model's XLA count (float32, lax.conv), the same for every line of a model",
    }
    out = open(args.out, "a") if args.out else None

    def emit(rec: dict) -> None:
        line = json.dumps(rec)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    signal.signal(signal.SIGTERM, _on_sigterm)
    rc = 0
    try:
        for model in models:
            for batch in (int(b) for b in args.batch.split(",")):
                run_group(model, batch, args.width, per_model[model], args, common, emit)
    except Stop as e:
        print(f"# stopped: {e}", file=sys.stderr, flush=True)
        rc = 124
    finally:
        if out:
            out.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
