"""Text datasets for sequence GANs (SeqGAN and kin): vocabularies, token-id arrays, held-out lines.

A text dataset is a set of lines, each a sequence of tokens (characters or words), encoded as
int32 ids padded to a fixed ``seq_len``. Id 0 is ``<pad>``: it fills a line after its end and is
also the start token the generator is fed at t = 0.

Names (``text_dataset``):

* ``text:<path>``: a UTF-8 file, one sequence per line (character level unless told otherwise).
* ``poems_zh_5``, ``poems_zh_7``: classical Chinese couplets (``poems_zh_5.txt``/``poems_zh_7.txt``
  in the data directory, e.g. ``../shared/datasets``), character level.

A fixed 10% of the lines is held out (for BLEU references and held-out likelihoods); the
vocabulary covers all lines so that held-out lines can be encoded too.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from gan_jax.data.errors import DatasetError

if TYPE_CHECKING:
    from gan_jax.data import Dataset

__all__ = ["PAD", "PAD_TOKEN", "LEVELS", "TEXT_DATASETS", "TEXT_PREFIX", "Vocab", "TextInfo", "tokenize",
           "load_lines", "encode_lines", "split_held_out", "text_dataset"]

#: id of ``<pad>``: the start token at t = 0 and the filler after a line's end
PAD = 0
PAD_TOKEN = "<pad>"
LEVELS = ("char", "word")
TEXT_DATASETS = ("poems_zh_5", "poems_zh_7")
TEXT_PREFIX = "text:"
HELD_OUT_FRACTION = 0.1
HELD_OUT_SEED = 0
_HEADER = "#level="


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise DatasetError(f"unknown text level {level!r}; choose one of {', '.join(LEVELS)}")
    return level


@dataclasses.dataclass(frozen=True)
class Vocab:
    """Token strings by id (``tokens[0]`` is ``<pad>``) and how lines are split ("char" or "word")."""

    tokens: tuple[str, ...]
    level: str
    _index: dict[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", tuple(self.tokens))
        _check_level(self.level)
        if not self.tokens or self.tokens[0] != PAD_TOKEN:
            raise DatasetError(f"a vocabulary must start with {PAD_TOKEN!r}")
        index = {t: i for i, t in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            dup = next(t for t, c in collections.Counter(self.tokens).items() if c > 1)
            raise DatasetError(f"vocabulary token {dup!r} appears more than once")
        object.__setattr__(self, "_index", index)

    @classmethod
    def build(cls, lines: Iterable[Sequence[str]], level: str) -> "Vocab":
        """Vocabulary of ``lines``: ids 1.. by descending frequency, ties by token (deterministic)."""
        counts = collections.Counter(t for line in lines for t in line)
        if PAD_TOKEN in counts:
            raise DatasetError(f"the text contains the token {PAD_TOKEN!r}, which is reserved for padding")
        ordered = sorted(counts, key=lambda t: (-counts[t], t))
        return cls((PAD_TOKEN, *ordered), level)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; a token outside the vocabulary raises ``DatasetError``."""
        try:
            return [self._index[t] for t in tokens]
        except KeyError as e:
            raise DatasetError(f"token {e.args[0]!r} is not in the vocabulary of {len(self)} tokens") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` up to the first PAD (characters joined by "", words by " ")."""
        out = []
        for i in ids:
            i = int(i)
            if i == PAD:
                break
            if not 0 < i < len(self.tokens):
                raise DatasetError(f"token id {i} is outside the vocabulary of {len(self)} tokens")
            out.append(self.tokens[i])
        return ("" if self.level == "char" else " ").join(out)

    def save(self, path: str | os.PathLike) -> None:
        """UTF-8 file: a ``#level=...`` header, then one token per line, ``<pad>`` first."""
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("\n".join([f"{_HEADER}{self.level}", *self.tokens]) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        """The vocabulary written by ``save``."""
        try:
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
        except FileNotFoundError:
            raise DatasetError(f"vocabulary file {path} does not exist") from None
        except UnicodeDecodeError:
            raise DatasetError(f"vocabulary file {path} is not valid UTF-8") from None
        lines = text.split("\n")  # not splitlines: a character token may be any non-newline character
        if lines and lines[-1] == "":
            lines.pop()
        if not lines or not lines[0].startswith(_HEADER):
            raise DatasetError(f"vocabulary file {path} does not start with a {_HEADER}char or {_HEADER}word line")
        return cls(tuple(lines[1:]), lines[0][len(_HEADER):])


def tokenize(line: str, level: str) -> list[str]:
    """Tokens of one line: every character of the stripped line ("char", inner spaces kept) or its words ("word")."""
    if _check_level(level) == "char":
        return list(line.strip())
    return line.split()


def load_lines(path: str | os.PathLike, level: str) -> list[list[str]]:
    """Token lists of the non-blank lines of a UTF-8 text file (``DatasetError`` if missing, not UTF-8 or empty)."""
    _check_level(level)
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"text file {p} does not exist") from None
    except IsADirectoryError:
        raise DatasetError(f"text file {p} is a directory, not a file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"text file {p} is not valid UTF-8 (byte {e.start}: {e.reason})") from None
    text = text.removeprefix("\ufeff")
    lines = [tokenize(line, level) for line in text.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise DatasetError(f"text file {p} is empty")
    return lines


def encode_lines(lines: Sequence[Sequence[str]], vocab: Vocab, seq_len: int) -> np.ndarray:
    """int32 (N, seq_len) ids of ``lines``, padded with PAD; a line longer than ``seq_len`` raises ``DatasetError``."""
    lengths = np.array([len(line) for line in lines], dtype=np.int64)
    too_long = np.flatnonzero(lengths > seq_len)
    if too_long.size:
        first = int(too_long[0])
        raise DatasetError(
            f"line {first + 1} has {lengths[first]} tokens, more than seq_len {seq_len} "
            f"({too_long.size} of {len(lines)} lines are too long; the longest has {lengths.max()}); "
            f"pass --set data.seq_len={lengths.max()} or cut the lines")
    out = np.full((len(lines), seq_len), PAD, dtype=np.int32)
    for row, line in zip(out, lines):
        row[: len(line)] = vocab.encode(line)
    return out


def split_held_out(n: int, fraction: float = HELD_OUT_FRACTION, seed: int = HELD_OUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) sorted indices of ``n`` items: held-out is the first round(n * fraction)
    (at least 1) of a fixed permutation from ``seed``, train the rest."""
    if n < 2:
        raise DatasetError(f"a text dataset needs at least 2 lines to hold some out, got {n}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"held-out fraction must be in (0, 1), got {fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    k = min(max(1, round(n * fraction)), n - 1)
    return np.sort(perm[k:]), np.sort(perm[:k])


@dataclasses.dataclass(frozen=True)
class TextInfo:
    """What text models and metrics need beyond the training stream."""

    vocab_size: int
    seq_len: int
    #: None for synthetic token-id data (e.g. sampled from an oracle)
    vocab: Vocab | None
    #: int32 (M, seq_len) held-out sequences
    held_out: np.ndarray
    #: parameters of an oracle model (synthetic data), set by the code that builds such data
    oracle: Any = None
    #: where the data came from, for logs and reports
    source: str = ""


def _text_path(name: str, data_dir: str | None) -> Path:
    if name.startswith(TEXT_PREFIX):
        return Path(name[len(TEXT_PREFIX):]).expanduser()
    filename = f"{name}.txt"
    path = Path(data_dir).expanduser() / filename if data_dir not in (None, "") else None
    if path is None or not path.is_file():
        where = "no data directory was given" if path is None else f"it is not in {path.parent}"
        raise DatasetError(f"dataset {name!r} needs the file {filename} ({where}); pass --set data.dir=DIR "
                           f"with the folder holding it, e.g. ../shared/datasets")
    return path


def text_dataset(name: str, *, data_dir: str | None, seq_len: int = 0, level: str | None = None) -> "Dataset":
    """The text dataset ``name`` (see the module docstring) as a ``Dataset`` with ``text`` set.

    The stream yields ``{"x": int32 (B, seq_len)}`` batches of training lines (held-out lines
    never appear), shuffled per epoch, deterministic and resumable.
    """
    from gan_jax.data import Dataset
    from gan_jax.data.arrays import ArrayStream

    if name in TEXT_DATASETS:
        if level not in (None, "char"):
            raise DatasetError(f"dataset {name!r} is character level, got level {level!r}")
        level = "char"
    elif not name.startswith(TEXT_PREFIX) or len(name) == len(TEXT_PREFIX):
        raise DatasetError(f"unknown text dataset {name!r}; available: {', '.join(TEXT_DATASETS)}, {TEXT_PREFIX}<path>")
    level = _check_level(level or "char")
    if seq_len < 0:
        raise DatasetError(f"seq_len must be >= 1 (0: the longest line), got {seq_len}")
    path = _text_path(name, data_dir)
    lines = load_lines(path, level)
    seq_len = seq_len or max(len(line) for line in lines)
    vocab = Vocab.build(lines, level)
    tokens = encode_lines(lines, vocab, seq_len)
    train_idx, held_idx = split_held_out(len(tokens))
    train, held = tokens[train_idx], tokens[held_idx]
    train.setflags(write=False)
    held.setflags(write=False)

    def stream(batch_size: int, seed: int, *, shard_index: int = 0, shard_count: int = 1) -> ArrayStream:
        shard = train[shard_index::shard_count]
        if batch_size > len(shard):
            raise DatasetError(f"batch size {batch_size} exceeds the {len(shard)} training lines of {name!r}"
                               + (f" in shard {shard_index} of {shard_count}" if shard_count > 1 else ""))
        return ArrayStream(shard, None, batch_size, seed)

    info = TextInfo(vocab_size=len(vocab), seq_len=seq_len, vocab=vocab, held_out=held, source=str(path))
    return Dataset(name=name, data_shape=(seq_len,), num_classes=0, stream=stream, is_image=False, text=info)
