"""Experiment configuration (driver side: the core never sees these objects).

An experiment is a Python file in ``experiments/`` with a ``get_config() -> Config``
whose docstring says what it reproduces, the command and the expected result.
``load_experiment`` finds it by name or path; ``apply_overrides`` applies
``--set section.field=value`` with type checking against the dataclass fields.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import typing
from pathlib import Path
from typing import Any


class UserError(Exception):
    """Bad input from the user: the CLI prints the message on one line and exits with 2."""


@dataclasses.dataclass
class DataConfig:
    #: a name in ``gan_jax.data.DATASETS``
    name: str = "digits"
    #: image datasets are resized to image_size x image_size
    image_size: int = 32
    #: local data directory (offline files, see gan_jax.data); "" = $GAN_JAX_DATA_DIR, else the TFDS default
    dir: str = ""
    #: DiffAugment policy applied to D's inputs, items from gan_jax.augment.AUGMENT_POLICIES,
    #: e.g. --set data.augment=color,translation,cutout; () = none
    augment: tuple[str, ...] = ()


@dataclasses.dataclass
class ModelConfig:
    #: "dcgan", "mlp" or "sngan" (SNGAN ResNet, 32/48/64 px)
    arch: str = "dcgan"
    z_dim: int = 100
    #: DCGAN channel widths (ngf / ndf)
    g_width: int = 64
    d_width: int = 64
    d_batch_norm: bool = True
    #: DCGAN upsampling: "subpixel" (fast everywhere, exact) or "conv_transpose"
    g_upsample: str = "subpixel"
    #: BatchNorm in the MLP generator's hidden layers
    g_batch_norm: bool = False
    #: MLP hidden layer sizes
    g_hidden: tuple[int, ...] = (256, 256)
    d_hidden: tuple[int, ...] = (256, 256)
    #: spectral normalisation of every D layer (dcgan, sngan)
    d_spectral_norm: bool = False
    #: class conditioning: "none"; "concat" (one-hot concatenated to z and to D's input:
    #: mlp, dcgan); "projection" (conditional BatchNorm in G + projection D: sngan);
    #: "acgan" (G conditioned as above, D with an auxiliary classifier head: dcgan, sngan)
    conditioning: str = "none"


@dataclasses.dataclass
class TrainConfig:
    steps: int = 2000
    #: global batch size (per critic step)
    batch_size: int = 64
    #: a name in ``gan_jax.losses.LOSSES``
    loss: str = "nonsaturating"
    n_critic: int = 1
    #: separate learning rates for G and D (TTUR, Heusel et al. 2017)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    #: "constant" or "linear" (decay to 0 at the last step)
    lr_schedule: str = "constant"
    b1: float = 0.5
    b2: float = 0.999
    ema_decay: float = 0.999
    label_smoothing: float = 0.0
    pack: int = 1
    #: WGAN-GP weight (lambda; 0 = off)
    gp_weight: float = 0.0
    #: R1 gamma (the penalty is gamma/2 * E||grad D(x)||^2; 0 = off)
    r1_gamma: float = 0.0
    #: "adam", "optimistic_adam" or "rmsprop" (for both G and D)
    optimizer: str = "adam"
    #: WGAN-GP: penalise only gradient norms above 1
    gp_one_sided: bool = False
    #: R2 gamma (gamma/2 * E||grad D(G(z))||^2 on generated data; 0 = off)
    r2_gamma: float = 0.0
    #: DRAGAN gradient-penalty weight (lambda; 0 = off)
    dragan_weight: float = 0.0
    #: lazy regularisation: gradient penalties every N D steps with weight * N
    d_reg_every: int = 1
    #: WGAN weight clipping of D's parameters to [-c, c] (0 = off)
    weight_clip: float = 0.0
    #: BigGAN orthogonal regularisation weight on G's kernels (0 = off)
    g_ortho_weight: float = 0.0
    #: historical averaging weight for G and D (0 = off)
    hist_weight: float = 0.0
    #: instance noise std on everything D sees (0 = off), annealed linearly to 0 over
    #: instance_noise_anneal steps (0 = constant)
    instance_noise: float = 0.0
    instance_noise_anneal: int = 0
    #: ACGAN class-loss weight (used with model.conditioning=acgan)
    aux_weight: float = 1.0
    seed: int = 0
    #: "jit" (Mesh + NamedSharding) or "pmap"
    parallel: str = "jit"


@dataclasses.dataclass
class LogConfig:
    #: copy metrics to the host and log them every N steps
    every: int = 100
    #: write a sample grid every N steps (and at the end)
    sample_every: int = 500
    num_samples: int = 64
    #: toy data: samples for the mode-coverage evaluation at the end of training
    eval_samples: int = 2500
    #: also write TensorBoard event files (WORKDIR/tensorboard)
    tensorboard: bool = True


@dataclasses.dataclass
class CheckpointConfig:
    #: save every N steps (and at the end, and on SIGTERM/SIGINT); 0 = only at the end
    every: int = 500
    #: keep the latest K checkpoints ...
    keep: int = 3
    #: ... and the best ``keep_best`` by this evaluation metric (e.g. "fid_mnist"; "" = off).
    #: The metric is computed at every save; the newest checkpoints are never deleted for it.
    best_metric: str = ""
    #: "min" (FID, KID) or "max" (IS, mode coverage)
    best_mode: str = "min"
    keep_best: int = 1
    #: write checkpoints in a background thread while training continues
    async_save: bool = True


@dataclasses.dataclass
class Config:
    experiment: str = "custom"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)


def experiments_dir() -> Path:
    """The repository's ``experiments/`` folder (beside the ``gan_jax`` package)."""
    return Path(__file__).resolve().parent.parent / "experiments"


def list_experiments() -> list[str]:
    d = experiments_dir()
    return sorted(p.stem for p in d.glob("*.py") if not p.stem.startswith("_")) if d.is_dir() else []


def load_experiment(name_or_path: str) -> Config:
    """``get_config()`` of ``experiments/NAME.py``, or of a config file given by path."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = experiments_dir() / f"{name_or_path}.py"
        if not path.is_file():
            raise UserError(f"unknown experiment {name_or_path!r}; available: {', '.join(list_experiments()) or 'none'}")
    elif not path.is_file():
        raise UserError(f"config file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"gan_jax_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise UserError(f"{path} has no get_config() function")
    config = module.get_config()
    if not isinstance(config, Config):
        raise UserError(f"{path}: get_config() must return gan_jax.config.Config, got {type(config).__name__}")
    return config


def _parse(value: str, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    try:
        if typ is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if typ in (int, float, str):
            return typ(value)
        if origin is tuple:
            (inner, _ellipsis) = typing.get_args(typ)
            return tuple(inner(v) for v in value.strip("()[] ").split(",") if v.strip())
    except ValueError:
        pass
    else:
        raise UserError(f"--set {key}: unsupported field type {typ}")
    name = getattr(typ, "__name__", str(typ))
    raise UserError(f"--set {key}={value}: expected {name}")


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``section.field=value`` strings, checking names and types."""
    config = from_dict(to_dict(config))  # a copy
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set expects key=value, got {item!r}")
        path = key.strip().split(".")
        target = config
        for part in path[:-1]:
            if not dataclasses.is_dataclass(target) or part not in {f.name for f in dataclasses.fields(target)}:
                raise UserError(f"--set: unknown config key {key!r}")
            target = getattr(target, part)
        hints = typing.get_type_hints(type(target)) if dataclasses.is_dataclass(target) else {}
        field = path[-1]
        if field not in hints or dataclasses.is_dataclass(hints[field]):
            raise UserError(f"--set: unknown config key {key!r}")
        setattr(target, field, _parse(value.strip(), hints[field], key))
    return config


def to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)


def from_dict(d: dict, cls: type = Config) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        typ, value = hints[f.name], d[f.name]
        if dataclasses.is_dataclass(typ):
            value = from_dict(value, typ)
        elif typing.get_origin(typ) is tuple:
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def save_config(config: Config, path: Path) -> None:
    path.write_text(json.dumps(to_dict(config), indent=2) + "\n")


def read_config(path: Path) -> Config:
    try:
        return from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"cannot read config {path}: {e}") from None
