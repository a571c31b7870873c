"""SeqGAN's synthetic benchmark (Yu et al. 2017, section 4): an oracle LSTM and its samples.

The oracle is an ``LSTMGenerator`` (vocabulary 5,000, embedding and hidden 32, length 20) with
SeqGAN's published parameters, read from ``seqgan_oracle.npz`` (named arrays) or the authors'
``save/target_params_py3.pkl`` (a list of 15 arrays) in ``data.dir``. A pickle can run code, so
the ``.pkl`` goes through an unpickler that admits numpy arrays and nothing else. Neither file
ships with gan_jax (the authors' repository has no licence). ``seqgan_random`` is a seeded
random oracle (N(0, 1) parameters, as TextGAN-PyTorch builds one) that needs no file.

Data: 10,000 training and 10,000 held-out sequences sampled from the oracle at temperature 1
with fixed seeds (``ORACLE_SEEDS``), identical for every run and machine with the same jax.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from gan_jax.data.errors import DatasetError, DatasetNotFoundError

#: the 15 arrays of target_params_py3.pkl, in its order (names of seqgan_oracle.npz)
ORACLE_KEYS = ("embedding", "Wi", "Ui", "bi", "Wf", "Uf", "bf", "Wo_gate", "Uo_gate", "bo_gate", "Wc", "Uc", "bc", "W_out", "b_out")
ORACLE_FILES = ("seqgan_oracle.npz", "target_params_py3.pkl", "save/target_params_py3.pkl")
VOCAB, EMB, HIDDEN, LENGTH = 5000, 32, 32, 20
NUM_TRAIN = NUM_HELD_OUT = 10_000
#: jax PRNG seeds of the training and held-out samples
ORACLE_SEEDS = (88, 89)
ORACLE_DATASETS = ("seqgan_oracle", "seqgan_random")
WHERE = ("the SeqGAN oracle: put seqgan_oracle.npz (gan_jax's named arrays) or save/target_params_py3.pkl from "
         "https://github.com/LantaoYu/SeqGAN in a folder and pass --set data.dir=FOLDER (or use data.name=seqgan_random, "
         "a random oracle that needs no file)")


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays (and the lists/tuples holding them); refuses every other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def _shape(key: str) -> tuple[int, ...]:
    special = {"embedding": (VOCAB, EMB), "W_out": (HIDDEN, VOCAB), "b_out": (VOCAB,)}
    return special.get(key, (EMB if key[0] == "W" else HIDDEN, HIDDEN) if key[0] in "WU" else (HIDDEN,))


def _check(params: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    for k in ORACLE_KEYS:
        if k not in params:
            raise DatasetError(f"{source}: missing oracle array {k!r}")
        want = _shape(k)
        if tuple(params[k].shape) != want:
            raise DatasetError(f"{source}: oracle array {k!r} has shape {tuple(params[k].shape)}, expected {want}")
    return {k: np.asarray(params[k], np.float32) for k in ORACLE_KEYS}


def read_oracle_file(path: str | Path) -> dict[str, np.ndarray]:
    """The oracle's parameters from a ``.npz`` (named arrays) or a ``.pkl`` (the list of 15)."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                return _check(dict(f), str(path))
        with open(path, "rb") as f:
            arrays = _ArraysOnly(io.BytesIO(f.read()), encoding="latin1").load()
    except (OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as e:
        raise DatasetError(f"cannot read the SeqGAN oracle from {path}: {e}") from None
    if not isinstance(arrays, (list, tuple)) or len(arrays) != len(ORACLE_KEYS):
        raise DatasetError(f"{path}: expected a list of {len(ORACLE_KEYS)} arrays (SeqGAN's target_params), got {type(arrays).__name__}")
    return _check(dict(zip(ORACLE_KEYS, arrays)), str(path))


def find_oracle(data_dir: str | None) -> Path:
    for name in ORACLE_FILES:
        if data_dir and (Path(data_dir) / name).is_file():
            return Path(data_dir) / name
    where = f"in {data_dir}" if data_dir else "(no data.dir given)"
    raise DatasetNotFoundError(f"no SeqGAN oracle file {where}; this experiment needs {WHERE}")


def random_oracle(seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded oracle with N(0, 1) parameters (TextGAN-PyTorch's random oracle)."""
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(_shape(k)).astype(np.float32) for k in ORACLE_KEYS}


def oracle_model():
    from gan_jax.models.text import LSTMGenerator

    return LSTMGenerator(vocab_size=VOCAB, emb_dim=EMB, hidden_dim=HIDDEN, seq_len=LENGTH, start_token=0)


def _oracle_samples(params: dict[str, np.ndarray], num: int, seed: int) -> np.ndarray:
    import jax

    model = oracle_model()
    fn = jax.jit(lambda k: model.apply({"params": params}, jax.random.split(k, 1000), method=model.sample))
    base = jax.random.PRNGKey(seed)
    out = np.concatenate([np.asarray(fn(jax.random.fold_in(base, i))) for i in range(num // 1000)])
    out.setflags(write=False)
    return out


#: oracle tag -> (train, held-out) samples
_DATA: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def oracle_data(params: dict[str, np.ndarray], tag: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) oracle samples, (10,000, 20) int32 each, memoised per process by ``tag``."""
    if tag not in _DATA:
        _DATA[tag] = (_oracle_samples(params, NUM_TRAIN, ORACLE_SEEDS[0]), _oracle_samples(params, NUM_HELD_OUT, ORACLE_SEEDS[1]))
    return _DATA[tag]


def oracle_dataset(name: str, *, data_dir: str | None):
    """``seqgan_oracle`` (the published oracle, from data.dir) or ``seqgan_random`` (no file)."""
    from gan_jax.data import Dataset
    from gan_jax.data.arrays import ArrayStream
    from gan_jax.data.text import TextInfo

    if name == "seqgan_oracle":
        path = find_oracle(data_dir)
        params, tag = read_oracle_file(path), f"file:{path.resolve()}"
    else:
        params, tag, path = random_oracle(0), "random:0", "random oracle (seed 0)"
    train, held = oracle_data(params, tag)

    def stream(batch_size: int, seed: int, *, shard_index: int = 0, shard_count: int = 1) -> ArrayStream:
        x = train[shard_index::shard_count]
        if not 0 < batch_size <= len(x):
            raise DatasetError(f"batch size {batch_size} must be in [1, {len(x)}] (sequences in shard {shard_index} of {shard_count})")
        return ArrayStream(x, None, batch_size, seed)

    info = TextInfo(vocab_size=VOCAB, seq_len=LENGTH, vocab=None, held_out=held, oracle=params, source=str(path))
    return Dataset(name=name, data_shape=(LENGTH,), num_classes=0, stream=stream, is_image=False, text=info)
