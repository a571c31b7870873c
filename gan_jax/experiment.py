"""From a ``Config`` to core objects: the dataset, then the family's recipe and a fresh state."""

from __future__ import annotations

from gan_jax import data as data_lib
from gan_jax.config import Config, UserError, family_module
from gan_jax.engine import Recipe, TrainState


def build_dataset(config: Config) -> data_lib.Dataset:
    """The experiment's training data; every data problem surfaces as one ``UserError`` line."""
    from gan_jax.augment import AUGMENT_POLICIES

    if unknown := [p for p in config.data.augment if p not in AUGMENT_POLICIES]:
        raise UserError(f"unknown data.augment policy {unknown}; choose from {', '.join(AUGMENT_POLICIES)}")
    try:
        return data_lib.get_dataset(config.data.name, image_size=config.data.image_size, data_dir=config.data.dir or None,
                                    seq_len=config.data.seq_len, text_level=config.data.text_level,
                                    limit=config.data.limit, load_size=config.data.load_size, flip=config.data.flip)
    except UserError:
        raise
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None


def build_state(config: Config, dataset: data_lib.Dataset | None = None) -> tuple[data_lib.Dataset, Recipe, TrainState]:
    """Dataset, recipe and freshly initialised state of an experiment (seeded by ``train.seed``)."""
    dataset = dataset or build_dataset(config)
    recipe, state = family_module(config.family).build(config, dataset)
    return dataset, recipe, state
