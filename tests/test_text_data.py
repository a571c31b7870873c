"""Text datasets (vocabulary, files, held-out split, poems) and BLEU / Self-BLEU."""

import random
from pathlib import Path

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from gan_jax.data.errors import DatasetError
from gan_jax.data.text import (PAD, TEXT_DATASETS, TextInfo, Vocab, encode_lines, load_lines, split_held_out,
                               text_dataset, tokenize)
from gan_jax.metrics.text import bleu, self_bleu, text_bleu_metrics

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
needs_poems = pytest.mark.skipif(not (SHARED / "poems_zh_5.txt").is_file(), reason=f"no poems_zh_5.txt in {SHARED}")


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_tokenize_levels():
    assert tokenize("  ab c \n", "char") == ["a", "b", " ", "c"]
    assert tokenize("  the  cat sat\n", "word") == ["the", "cat", "sat"]
    with pytest.raises(DatasetError) as e:
        tokenize("x", "byte")
    assert "byte" in _one_line(e)


@pytest.mark.parametrize("level, lines", [
    ("char", ["abca", "b a", "兰叶春葳蕤，桂华秋皎洁"]),
    ("word", ["the cat sat", "the dog", "a cat"]),
])
def test_vocab_round_trip(tmp_path, level, lines):
    tokenized = [tokenize(line, level) for line in lines]
    vocab = Vocab.build(tokenized, level)
    assert vocab.tokens[0] == "<pad>" and len(vocab) == 1 + len({t for line in tokenized for t in line})
    for line, tokens in zip(lines, tokenized):
        ids = vocab.encode(tokens)
        assert PAD not in ids
        assert vocab.decode(ids + [PAD, ids[0]]) == line  # decoding stops at the first PAD
    vocab.save(tmp_path / "vocab.txt")
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").split("\n")[:2] == [f"#level={level}", "<pad>"]
    loaded = Vocab.load(tmp_path / "vocab.txt")
    assert loaded == vocab and loaded.tokens == vocab.tokens and loaded.level == level


def test_vocab_order_by_frequency_then_token():
    vocab = Vocab.build([["b", "a", "c", "c"], ["b", "d"]], "char")
    assert vocab.tokens == ("<pad>", "b", "c", "a", "d")


def test_vocab_unknown_token():
    vocab = Vocab.build([["a", "b"]], "char")
    with pytest.raises(DatasetError) as e:
        vocab.encode(["a", "z"])
    assert _one_line(e) == "token 'z' is not in the vocabulary of 3 tokens"


def test_load_lines_skips_blank_lines(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("ab\n\n  \ncd e\r\n", encoding="utf-8")
    assert load_lines(path, "char") == [["a", "b"], ["c", "d", " ", "e"]]
    assert load_lines(path, "word") == [["ab"], ["cd", "e"]]


def test_load_lines_errors(tmp_path):
    with pytest.raises(DatasetError) as e:
        load_lines(tmp_path / "missing.txt", "char")
    assert "does not exist" in _one_line(e)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        load_lines(empty, "char")
    assert _one_line(e) == f"text file {empty} is empty"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(DatasetError) as e:
        load_lines(latin, "char")
    assert "not valid UTF-8" in _one_line(e)


def test_encode_lines_pads_and_rejects_long_lines():
    lines = [["a", "b"], ["b"], ["a", "b", "a", "b"], ["a", "a", "a"]]
    vocab = Vocab.build(lines, "char")
    tokens = encode_lines(lines[:2], vocab, 3)
    assert tokens.dtype == np.int32 and tokens.shape == (2, 3)
    np.testing.assert_array_equal(tokens, [vocab.encode(["a", "b"]) + [PAD], vocab.encode(["b"]) + [PAD, PAD]])
    with pytest.raises(DatasetError) as e:
        encode_lines(lines, vocab, 2)
    message = _one_line(e)
    assert "line 3 has 4 tokens" in message and "seq_len 2" in message and "2 of 4 lines" in message
    assert "--set data.seq_len=4" in message


def test_split_held_out_deterministic_disjoint_covering():
    train, held = split_held_out(105)
    assert len(held) == round(10.5) and len(train) == 105 - len(held)
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(105))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(held) > 0)
    again = split_held_out(105)
    assert np.array_equal(train, again[0]) and np.array_equal(held, again[1])
    assert not np.array_equal(held, split_held_out(105, seed=1)[1])
    assert len(split_held_out(3)[1]) == 1  # at least one line held out


def test_text_file_dataset(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {i % 7} of the text\n" for i in range(30)), encoding="utf-8")
    ds = text_dataset(f"text:{path}", data_dir=None, seq_len=6, level="word")
    info = ds.text
    assert isinstance(info, TextInfo) and info.vocab.level == "word" and info.source == str(path)
    assert ds.data_shape == (6,) and not ds.is_image and not ds.is_toy and ds.num_classes == 0
    assert info.held_out.shape == (3, 6) and info.vocab_size == len(info.vocab) == 1 + 7 + 4
    assert info.vocab.decode(info.held_out[0]).endswith("of the text")
    with pytest.raises(DatasetError) as e:
        ds.stream(28, 0)
    assert "27 training lines" in _one_line(e)
    with pytest.raises(DatasetError):
        text_dataset(f"text:{path}", data_dir=None, seq_len=4, level="word")


@pytest.mark.parametrize("data_dir", [None, "/nonexistent/datasets"])
def test_poems_need_data_dir(data_dir):
    with pytest.raises(DatasetError) as e:
        text_dataset("poems_zh_5", data_dir=data_dir, seq_len=11)
    message = _one_line(e)
    assert "poems_zh_5.txt" in message and "--set data.dir=DIR" in message


def test_unknown_text_dataset():
    with pytest.raises(DatasetError) as e:
        text_dataset("poems_zh_9", data_dir=None, seq_len=11)
    assert all(name in _one_line(e) for name in TEXT_DATASETS)


@needs_poems
def test_poems_zh_5_dataset():
    ds = text_dataset("poems_zh_5", data_dir=str(SHARED), seq_len=11)
    info = ds.text
    train = ds.stream(1440, 0)  # the whole training split in one batch
    x = next(train)["x"]
    n_train, n_held = len(x), len(info.held_out)
    assert x.shape == (n_train, 11) and x.dtype == np.int32 and n_train + n_held == 1600 and n_held == 160
    assert len(np.unique(x, axis=0)) == n_train  # the batch is the whole (distinct) training split
    assert info.held_out.dtype == np.int32 and info.held_out.shape == (160, 11)
    held = {info.vocab.decode(row) for row in info.held_out}
    assert len(held) == 160 and not held & {info.vocab.decode(row) for row in x}
    for line in held:
        assert len(line) == 11 and line[5] == "，"
    assert info.vocab_size == len(info.vocab) and info.vocab.level == "char" and info.vocab.tokens[0] == "<pad>"

    a, b = ds.stream(32, 7), ds.stream(32, 7)
    first = [next(a)["x"] for _ in range(3)]
    assert all(np.array_equal(u, next(b)["x"]) for u in first)
    state = a.get_state()
    expected = [next(a)["x"] for _ in range(50)]  # crosses an epoch boundary (45 batches per epoch)
    resumed = ds.stream(32, 7)  # the same seed: the state is the position within it
    resumed.set_state(state)
    assert all(np.array_equal(u, next(resumed)["x"]) for u in expected)
    shards = [next(ds.stream(16, 0, shard_index=i, shard_count=2))["x"] for i in range(2)]
    assert not {r.tobytes() for r in shards[0]} & {r.tobytes() for r in shards[1]}


# --- BLEU -------------------------------------------------------------------------------------

def _nltk_bleu(hypotheses, references, n):
    scores = [sentence_bleu(references, h, weights=(1 / n,) * n, smoothing_function=SmoothingFunction().method1)
              for h in hypotheses]
    return sum(scores) / len(scores)


def test_bleu_identical_is_one():
    line = list("兰叶春葳蕤，桂华秋皎洁")
    for n in (2, 3, 4):
        assert bleu([line], [line, list("欣欣此生意，自尔为佳节")], n) == pytest.approx(1.0, abs=1e-15)


def test_bleu_by_hand():
    # unigrams: 3 of 4 match; bigrams: "ab" of "ab", "bx", "xd" (1/3); same length: no brevity penalty
    assert bleu([list("abxd")], [list("abcd")], 2) == pytest.approx((3 / 4 * 1 / 3) ** 0.5, rel=1e-15)
    # shorter than the reference (2 vs 4): brevity penalty exp(1 - 4/2); no bigram match: method1 gives 0.1/1
    assert bleu([list("ac")], [list("abcd")], 2) == pytest.approx(np.exp(-1) * (1 * 0.1) ** 0.5, rel=1e-15)
    assert bleu([list("zz")], [list("abcd")], 2) == 0.0  # no unigram match


def test_fast_bleu_equals_nltk():
    rng = random.Random(0)
    alphabet = "abcdefg"
    refs = [[rng.choice(alphabet) for _ in range(rng.randint(3, 12))] for _ in range(40)]
    hyps = [[rng.choice(alphabet) for _ in range(rng.randint(1, 12))] for _ in range(30)] + [refs[3], refs[4][:2]]
    samples = hyps + [hyps[0]]  # a duplicate: its Self-BLEU against the others is 1
    for n in (1, 2, 3, 4):
        assert abs(bleu(hyps, refs, n) - _nltk_bleu(hyps, refs, n)) < 1e-12
        others = [_nltk_bleu([s], [*samples[:i], *samples[i + 1:]], n) for i, s in enumerate(samples)]
        assert abs(self_bleu(samples, n) - sum(others) / len(others)) < 1e-12
    metrics = text_bleu_metrics(samples, refs)
    assert sorted(metrics) == ["bleu2", "bleu3", "bleu4", "self_bleu2", "self_bleu3", "self_bleu4"]
    assert abs(metrics["bleu3"] - _nltk_bleu(samples, refs, 3)) < 1e-12


def test_self_bleu_identical_and_disjoint():
    line = list("兰叶春葳蕤，桂华秋皎洁")
    assert self_bleu([line] * 5, 4) == pytest.approx(1.0, abs=1e-15)
    disjoint = [[chr(0x4E00 + 11 * i + j) for j in range(11)] for i in range(20)]
    assert self_bleu(disjoint, 2) == 0.0  # no shared character at all
    assert self_bleu(disjoint, 2, max_samples=5) == 0.0


def test_self_bleu_subsample_deterministic():
    rng = random.Random(1)
    samples = [[rng.choice("abcdef") for _ in range(8)] for _ in range(30)]
    assert self_bleu(samples, 3, max_samples=10, seed=0) == self_bleu(samples, 3, max_samples=10, seed=0)
    assert self_bleu(samples, 3, max_samples=10, seed=0) != self_bleu(samples, 3, max_samples=10, seed=1)
