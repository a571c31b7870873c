"""Experiment configuration (driver side: the core never sees these objects).

An experiment is a Python file in ``experiments/`` (shipped inside the package as
``gan_jax.experiments``) with a ``get_config() -> Config`` whose docstring says what it
reproduces, the command and the expected result. ``load_experiment`` finds it by name or path;
``apply_overrides`` applies ``--set section.field=value`` with type checking.

Sections: ``data``, ``train`` (steps, batch, seed, parallelism), ``log`` and ``checkpoint`` are
shared by every family; ``model`` and ``recipe`` belong to the config's ``family`` (a module of
``gan_jax.families``): a new family brings its own two dataclasses and its recipe builder.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.resources
import importlib.util
import json
import typing
from pathlib import Path
from typing import Any


#: the resolved config of a run, in its workdir
CONFIG_FILE = "config.json"


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
    #: text data: tokens per sequence (0 = the data's own: 20 for the oracle, the longest line otherwise)
    seq_len: int = 0
    #: text:PATH data: "char" or "word" (whitespace-separated) tokens
    text_level: str = "char"
    #: image data: train on a fixed random N examples of the split only (limited-data runs; 0 = all)
    limit: int = 0
    #: folders:/folder_pairs: data: training images are loaded at load_size x load_size and every
    #: batch is randomly cropped to image_size (pix2pix/CycleGAN's resize_and_crop; 0 = off)
    load_size: int = 0
    #: folders:/folder_pairs: data: random horizontal flips of training images (p = 0.5)
    flip: bool = False


@dataclasses.dataclass
class TrainConfig:
    steps: int = 2000
    #: global batch size (per real batch; a step may read several, e.g. one per critic update)
    batch_size: int = 64
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
    #: samples for the metrics logged with each sample grid (text, translation) and for the toy
    #: data's mode coverage at the end; 0: no metrics during training
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


DEFAULT_FAMILY = "classic"


def family_module(name: str):
    """The ``gan_jax.families`` module of a family (its config dataclasses and builder)."""
    from gan_jax.families import FAMILIES

    if name not in FAMILIES:
        raise UserError(f"unknown family {name!r}; choose one of {', '.join(sorted(FAMILIES))}")
    return importlib.import_module(FAMILIES[name])


@dataclasses.dataclass
class Config:
    experiment: str = "custom"
    #: the GAN family: which ``model`` and ``recipe`` sections this config has (``gan_jax.families``)
    family: str = DEFAULT_FAMILY
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    #: the family's model section (default: the family's ``ModelConfig()``)
    model: Any = None
    #: the family's recipe section: losses, optimizers, regularisers (default: ``RecipeConfig()``)
    recipe: Any = None
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)

    def __post_init__(self):
        fam = family_module(self.family)
        if self.model is None:
            self.model = fam.ModelConfig()
        if self.recipe is None:
            self.recipe = fam.RecipeConfig()
        for section, cls in (("model", fam.ModelConfig), ("recipe", fam.RecipeConfig)):
            if type(getattr(self, section)) is not cls:
                raise UserError(f"config.{section} of family {self.family!r} must be a {cls.__module__}.{cls.__name__}, "
                                f"got {type(getattr(self, section)).__name__}")


EXPERIMENTS_PACKAGE = "gan_jax.experiments"


def list_experiments() -> list[str]:
    """The experiments shipped with gan_jax (``experiments/`` = the ``gan_jax.experiments`` package)."""
    try:
        files = importlib.resources.files(EXPERIMENTS_PACKAGE).iterdir()
    except ModuleNotFoundError:
        return []
    return sorted(f.name[:-3] for f in files if f.name.endswith(".py") and not f.name.startswith("_"))


def load_experiment(name_or_path: str) -> Config:
    """``get_config()`` of the shipped experiment ``NAME``, or of a config file given by path."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        if name_or_path not in list_experiments():
            raise UserError(f"unknown experiment {name_or_path!r}; available: {', '.join(list_experiments()) or 'none'}")
        module = importlib.import_module(f"{EXPERIMENTS_PACKAGE}.{name_or_path}")
        where = f"experiment {name_or_path}"
    else:
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        spec = importlib.util.spec_from_file_location(f"gan_jax_experiment_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        where = str(path)
    if not hasattr(module, "get_config"):
        raise UserError(f"{where} has no get_config() function")
    config = module.get_config()
    if not isinstance(config, Config):
        raise UserError(f"{where}: get_config() must return gan_jax.config.Config, got {type(config).__name__}")
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
        if path == ["family"]:
            raise UserError("--set family=... is not supported: the family decides the model and recipe sections; "
                            "start from an experiment of that family")
        target = config
        for part in path[:-1]:
            if not dataclasses.is_dataclass(target) or part not in {f.name for f in dataclasses.fields(target)}:
                raise UserError(f"--set: unknown config key {key!r}")
            target = getattr(target, part)
        hints = typing.get_type_hints(type(target)) if dataclasses.is_dataclass(target) else {}
        field = path[-1]
        if field not in hints or dataclasses.is_dataclass(getattr(target, field)):
            raise UserError(f"--set: unknown config key {key!r}")
        setattr(target, field, _parse(value.strip(), hints[field], key))
    return config


def to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)


def from_dict(d: dict, cls: type = Config) -> Any:
    hints = typing.get_type_hints(cls)
    if cls is Config:  # the family decides the types of the model and recipe sections
        fam = family_module(d.get("family", DEFAULT_FAMILY))
        hints = {**hints, "model": fam.ModelConfig, "recipe": fam.RecipeConfig}
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
    except UserError as e:
        raise UserError(f"cannot read config {path}: {e}") from None
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"cannot read config {path}: {e} (written by another gan_jax version?)") from None
