"""Text GANs: the oracle, the sequence models, SeqGAN's policy gradient, Gumbel-softmax, the
stages of a run, resume after SIGKILL, and the CLI's text paths (real oracle and poems files)."""

from __future__ import annotations

import itertools
import json
import os
import pickle
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import checkpoint
from gan_jax.cli import main
from gan_jax.config import UserError, read_config
from gan_jax.data import DatasetError, get_dataset
from gan_jax.data.oracle import ORACLE_KEYS, oracle_model, read_oracle_file
from gan_jax.engine import Phase, Recipe
from gan_jax.experiment import build_state
from gan_jax.models.text import LSTMGenerator, SeqGANDiscriminator, gumbel_straight_through
from gan_jax.recipes.text import beta_schedule, mean_nll, rollout_rewards, switch_at

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO.parent / "shared" / "datasets"
needs_data = pytest.mark.skipif(not (DATA_DIR / "seqgan_oracle.npz").is_file(), reason="needs ../shared/datasets")


def _np_oracle_logp(params: dict, tokens: np.ndarray) -> np.ndarray:
    """The oracle's per-token log-likelihoods written from the equations of the data README (float64)."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    sig = lambda z: 1 / (1 + np.exp(-z))
    n, length = tokens.shape
    h = np.zeros((n, 32))
    c = np.zeros((n, 32))
    x = np.broadcast_to(p["embedding"][0], (n, 32))
    out = np.zeros((n, length))
    for t in range(length):
        i = sig(x @ p["Wi"] + h @ p["Ui"] + p["bi"])
        f = sig(x @ p["Wf"] + h @ p["Uf"] + p["bf"])
        o = sig(x @ p["Wo_gate"] + h @ p["Uo_gate"] + p["bo_gate"])
        cc = np.tanh(x @ p["Wc"] + h @ p["Uc"] + p["bc"])
        c = f * c + i * cc
        h = o * np.tanh(c)
        logits = h @ p["W_out"] + p["b_out"]
        logits = logits - logits.max(1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        out[:, t] = logp[np.arange(n), tokens[:, t]]
        x = p["embedding"][tokens[:, t]]
    return out


@pytest.fixture(scope="module")
def oracle():
    return get_dataset("seqgan_oracle", data_dir=str(DATA_DIR))


@needs_data
def test_oracle_floor_and_uniform(oracle):
    info = oracle.text
    model = oracle_model()
    stream = oracle.stream(10_000, 0)
    own = np.asarray(next(stream)["x"])
    assert own.shape == (10_000, 20) and info.held_out.shape == (10_000, 20)
    assert abs(mean_nll(model, info.oracle, own) - 5.75) < 0.05
    uniform = np.random.default_rng(0).integers(0, 5000, (10_000, 20)).astype(np.int32)
    assert abs(mean_nll(model, info.oracle, uniform) - 11.43) < 0.05
    # the JAX oracle is the README's equations
    np.testing.assert_allclose(np.asarray(model.apply({"params": info.oracle}, jnp.asarray(own[:50]), method=model.log_prob)),
                               _np_oracle_logp(info.oracle, own[:50]), atol=2e-4)


@needs_data
def test_oracle_pkl_is_read_safely(tmp_path, oracle):
    arrays = [np.asarray(oracle.text.oracle[k]) for k in ORACLE_KEYS]
    (tmp_path / "target_params_py3.pkl").write_bytes(pickle.dumps(arrays))
    got = read_oracle_file(tmp_path / "target_params_py3.pkl")
    for k in ORACLE_KEYS:
        np.testing.assert_array_equal(got[k], oracle.text.oracle[k])

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(DatasetError, match="only numpy arrays"):
        read_oracle_file(tmp_path / "evil.pkl")
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(UserError, match="LantaoYu/SeqGAN"):
        get_dataset("seqgan_oracle", data_dir=str(tmp_path / "nothing"))


def test_teacher_forced_nll_is_the_sum_of_sampling_log_probs():
    """log_prob of sampled tokens = the log-probabilities the sampler drew them with (step by step)."""
    g = LSTMGenerator(vocab_size=7, emb_dim=4, hidden_dim=5, seq_len=6)
    params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 6), jnp.int32))["params"]
    toks = np.asarray(g.apply({"params": params}, jax.random.split(jax.random.PRNGKey(1), 32), method=g.sample))
    assert toks.shape == (32, 6) and toks.min() >= 0 and toks.max() < 7
    logp = np.asarray(g.apply({"params": params}, jnp.asarray(toks), method=g.log_prob))
    # step by step: the distribution of token t given the sampled prefix
    for t in range(6):
        prefix = np.zeros((32, 6), np.int32)
        prefix[:, :t] = toks[:, :t]
        full = np.asarray(jax.nn.log_softmax(g.apply({"params": params}, jnp.asarray(prefix)), -1))[:, t]
        np.testing.assert_allclose(full[np.arange(32), toks[:, t]], logp[:, t], atol=1e-5)
    assert np.isclose(-logp.mean(), mean_nll(g, params, toks), atol=1e-6)


def test_sampling_frequencies_follow_the_softmax():
    g = LSTMGenerator(vocab_size=5, emb_dim=3, hidden_dim=3, seq_len=1, init_std=1.0)
    params = g.init(jax.random.PRNGKey(3), jnp.zeros((1, 1), jnp.int32))["params"]
    toks = np.asarray(g.apply({"params": params}, jax.random.split(jax.random.PRNGKey(0), 40_000), method=g.sample))[:, 0]
    probs = np.asarray(jax.nn.softmax(g.apply({"params": params}, jnp.zeros((1, 1), jnp.int32))[0, 0]))
    freq = np.bincount(toks, minlength=5) / len(toks)
    assert np.all(np.abs(freq - probs) <= 4 * np.sqrt(probs * (1 - probs) / len(toks)) + 1e-3), (freq, probs)


def test_rollouts_keep_their_prefix():
    g = LSTMGenerator(vocab_size=11, emb_dim=4, hidden_dim=4, seq_len=8)
    params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"]
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, 11, (3, 8)), jnp.int32)
    seen = []

    def d_logits(x):
        seen.append(x)
        return jnp.zeros(x.shape[0])

    rewards = rollout_rewards(g, params, d_logits, tokens, jax.random.split(jax.random.PRNGKey(1), 3), num_rollouts=4)
    assert rewards.shape == (3, 8)
    np.testing.assert_allclose(np.asarray(rewards), 0.5)
    done = np.asarray(seen[0]).reshape(4, 7, 3, 8)
    for r, gi, b in itertools.product(range(4), range(7), range(3)):
        np.testing.assert_array_equal(done[r, gi, b, : gi + 1], np.asarray(tokens)[b, : gi + 1])
    # the completions are random: rollouts of the shortest prefix differ
    assert len({tuple(done[r, 0, 0]) for r in range(4)}) > 1


def test_reinforce_gradient_equals_the_exact_gradient_of_the_expected_reward():
    """SeqGAN's estimator -E[sum_t log G(x_t|x_<t) Q_t] with MC rollouts vs the gradient of
    sum_x G(x) R(x) over all 3^3 sequences (R = sigmoid of a fixed table of D logits)."""
    v, length = 3, 3
    g = LSTMGenerator(vocab_size=v, emb_dim=3, hidden_dim=4, seq_len=length, init_std=0.5)
    params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, length), jnp.int32))["params"]
    table = jnp.asarray(np.random.default_rng(0).normal(0, 2, v**length), jnp.float32)
    index = lambda x: jnp.sum(x * (v ** jnp.arange(length - 1, -1, -1)), -1)
    d_logits = lambda x: table[index(x)]
    everything = jnp.asarray(list(itertools.product(range(v), repeat=length)), jnp.int32)

    def expected_reward(p):
        logp = jnp.sum(g.apply({"params": p}, everything, method=g.log_prob), 1)
        return jnp.sum(jnp.exp(logp) * jax.nn.sigmoid(d_logits(everything)))

    exact = jax.grad(expected_reward)(params)
    n = 20_000
    keys = jax.random.split(jax.random.PRNGKey(1), n)
    x = g.apply({"params": params}, keys, method=g.sample)
    q = rollout_rewards(g, params, d_logits, x, jax.random.split(jax.random.PRNGKey(2), n), num_rollouts=8)
    estimate = jax.grad(lambda p: jnp.mean(jnp.sum(g.apply({"params": p}, x, method=g.log_prob) * q, 1)))(params)
    a = np.concatenate([np.ravel(l) for l in jax.tree.leaves(exact)])
    b = np.concatenate([np.ravel(l) for l in jax.tree.leaves(estimate)])
    assert np.linalg.norm(a - b) < 0.1 * np.linalg.norm(a), (np.linalg.norm(a - b), np.linalg.norm(a))


def test_gumbel_straight_through_is_one_hot_with_the_relaxed_gradient():
    g = LSTMGenerator(vocab_size=6, emb_dim=3, hidden_dim=4, seq_len=5)
    params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 5), jnp.int32))["params"]
    keys = jax.random.split(jax.random.PRNGKey(1), 8)
    w = jax.random.normal(jax.random.PRNGKey(2), (8, 5, 6))
    toks, hard = g.apply({"params": params}, keys, 3.0, straight_through=True, method=g.sample_gumbel)
    toks2, soft = g.apply({"params": params}, keys, 3.0, method=g.sample_gumbel)
    np.testing.assert_array_equal(np.asarray(toks), np.asarray(toks2))
    np.testing.assert_array_equal(np.asarray(hard), np.asarray(jax.nn.one_hot(toks, 6)))
    np.testing.assert_array_equal(np.asarray(jnp.argmax(soft, -1)), np.asarray(toks))
    np.testing.assert_allclose(np.asarray(soft.sum(-1)), 1.0, atol=1e-5)
    # a linear function of the samples: the straight-through gradient is the relaxed one
    f = lambda p, st: jnp.sum(w * g.apply({"params": p}, keys, 3.0, straight_through=st, method=g.sample_gumbel)[1])
    for a, b in zip(jax.tree.leaves(jax.grad(f)(params, True)), jax.tree.leaves(jax.grad(f)(params, False))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    st = gumbel_straight_through(jnp.asarray([1]), jnp.asarray([[0.2, 0.5, 0.3]]))
    np.testing.assert_allclose(np.asarray(st), [[0.0, 1.0, 0.0]], atol=1e-7)


def test_beta_schedule_and_optimizer_switch():
    assert float(beta_schedule(0, 1000.0, 100, "exp")) == pytest.approx(1.0)
    assert float(beta_schedule(50, 1000.0, 100, "exp")) == pytest.approx(1000**0.5, rel=1e-5)
    assert float(beta_schedule(200, 1000.0, 100, "exp")) == pytest.approx(1000.0)
    assert float(beta_schedule(50, 11.0, 100, "linear")) == pytest.approx(6.0)
    import optax

    tx = switch_at(2, optax.sgd(1.0), optax.sgd(10.0))
    p = {"w": jnp.zeros(())}
    s = tx.init(p)
    steps = []
    for _ in range(4):
        u, s = tx.update({"w": jnp.ones(())}, s, p)
        steps.append(float(u["w"]))
    assert steps == [-1.0, -1.0, -10.0, -10.0]


def test_gradient_clipping_of_g_and_d_and_its_bad_values(tmp_path, capsys):
    from gan_jax.config import apply_overrides, load_experiment

    path = _letters(tmp_path)
    sets = [s for s in _tiny(path, "gumbel") if s != "--set"]
    _, _, state = build_state(apply_overrides(load_experiment("relgan_oracle"), sets + ["recipe.pretrain_d_steps=0"]))
    # a gradient of global norm 10 enters Adam's first moment clipped to norm 5: mu = (1 - b1) * g / 2
    for name in ("G", "D"):
        net = state.nets[name]
        leaves, tree = jax.tree.flatten(net.params)
        leaves = [jnp.full(leaves[0].shape, 10.0 / np.sqrt(leaves[0].size))] + [jnp.zeros_like(x) for x in leaves[1:]]
        _, opt = net.tx.update(jax.tree.unflatten(tree, leaves), net.opt_state, net.params)
        mus = [np.asarray(x) for x in jax.tree.leaves(opt) if getattr(x, "shape", None) == leaves[0].shape]
        assert any(np.allclose(m, 0.1 * 5.0 / np.sqrt(leaves[0].size), rtol=1e-5) for m in mus), name
    assert main(["train", "relgan_oracle", "--workdir", str(tmp_path / "c"), *_tiny(path, "gumbel"), "--set", "recipe.d_grad_clip=-1"]) == 2
    err = capsys.readouterr().err
    assert "recipe.d_grad_clip" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_seqgan_discriminator_shapes_and_relaxed_inputs():
    d = SeqGANDiscriminator(vocab_size=9, emb_dim=8, filters=((1, 3), (2, 4), (5, 2)))
    x = jnp.asarray(np.random.default_rng(0).integers(0, 9, (4, 5)), jnp.int32)
    params = d.init(jax.random.PRNGKey(0), x)
    logit, feats = d.apply(params, x, features=True)
    assert logit.shape == (4,) and feats.shape == (4, 9)
    # ids and their one-hots are the same input
    np.testing.assert_allclose(np.asarray(d.apply(params, jax.nn.one_hot(x, 9))), np.asarray(logit), rtol=1e-5, atol=1e-5)
    assert float(d.l2_loss(params["params"])) > 0


def test_phase_windows_select_variants_and_batches():
    noop = lambda ctx: (jnp.zeros(()), {})
    r = Recipe("w", (Phase("a", noop, stop=3), Phase("b", noop, start=3, stop=5), Phase("c", noop, start=5, repeats=4),
                     Phase("d", noop, start=5, every=2)), stages=(("one", 0, 3), ("two", 3, None)))
    assert [sorted(r.active_at(i)) for i in range(8)] == [["a"], ["a"], ["a"], ["b"], ["b"], ["c", "d"], ["c"], ["c", "d"]]
    assert [r.batches_at(i) for i in (0, 3, 5, 6)] == [1, 1, 4, 4]
    assert r.stage_at(2) == "one" and r.stage_at(100) == "two"
    with pytest.raises(ValueError, match="start <= stop"):
        Phase("x", noop, start=4, stop=2)


# ----------------------------------------------------------------------------- runs (driver + CLI)


def _letters(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = ["".join(rng.choice(list("abcde"), rng.integers(3, 7))) for _ in range(80)]
    path = tmp_path / "letters.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _tiny(path: Path, method: str = "seqgan") -> list[str]:
    sets = [f"data.name=text:{path}", "data.seq_len=6", "model.emb_dim=8", "model.hidden_dim=8", "model.d_emb_dim=8",
            "train.batch_size=8", "log.every=2", "log.sample_every=1000", "log.eval_samples=64", "log.num_samples=8",
            "log.tensorboard=false", "checkpoint.every=2", f"recipe.method={method}", "recipe.pretrain_g_steps=4",
            "recipe.pretrain_d_steps=2", "recipe.d_steps=2", "recipe.rollouts=2"]
    return [a for s in sets for a in ("--set", s)]


def _params(workdir: Path, step: int) -> list[np.ndarray]:
    _, _, target = build_state(read_config(workdir / "config.json"))
    return [np.asarray(x) for x in jax.tree.leaves(checkpoint.restore_state(workdir, target, step))]


def test_seqgan_sigkill_then_resume_equals_uninterrupted(tmp_path, kill_after_checkpoint):
    path = _letters(tmp_path)
    args = _tiny(path)
    ref = tmp_path / "ref"
    total = 14  # 4 MLE + 2 D pre-training + 8 adversarial steps
    assert main(["train", "seqgan_oracle_cpu", "--workdir", str(ref), "--no-progress", *args, "--set", f"train.steps={total}"]) == 0
    metrics = [json.loads(l) for l in (ref / "metrics.jsonl").read_text().splitlines()]
    assert any("loss/g_mle" in m for m in metrics) and any("reward/mean" in m for m in metrics)
    assert (ref / "samples.txt").read_text(encoding="utf-8").strip()

    workdir = tmp_path / "w"
    cmd = [sys.executable, "-m", "gan_jax.cli", "train", "seqgan_oracle_cpu", "--workdir", str(workdir), "--no-progress", *args,
           "--set", "train.steps=100000"]
    killed_at = kill_after_checkpoint(cmd, workdir, 8)
    assert 8 <= killed_at < total
    assert main(["train", "seqgan_oracle_cpu", "--workdir", str(workdir), "--no-progress", *args, "--set", f"train.steps={total}"]) == 0
    a, b = _params(workdir, total), _params(ref, total)
    assert len(a) == len(b)
    for x, y in zip(a, b):  # G, D, both Adam states, the rollout network (extra), step, rng
        np.testing.assert_array_equal(x, y)


def test_gumbel_run_sample_eval_and_bad_input(tmp_path, capsys):
    path = _letters(tmp_path)
    w = tmp_path / "g"
    assert main(["train", "relgan_oracle", "--workdir", str(w), "--no-progress", *_tiny(path, "gumbel"),
                 "--set", "recipe.pretrain_d_steps=0", "--set", "train.steps=8", "--set", "recipe.anneal_steps=4"]) == 0
    out = tmp_path / "s.txt"
    assert main(["sample", "--workdir", str(w), "--num", "5", "--out", str(out), "--prefix", "ab"]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and all(l.startswith("ab") for l in lines)
    assert main(["eval", "--workdir", str(w), "--num", "40", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"nll_gen", "bleu2", "bleu4", "self_bleu2"} <= set(result)
    # bad input: one line, exit 2
    assert main(["sample", "--workdir", str(w), "--num", "2", "--out", str(out), "--prefix", "xyz"]) == 2
    err = capsys.readouterr().err
    assert "not in the vocabulary" in err and len(err.strip().splitlines()) == 1
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert main(["train", "relgan_oracle", "--workdir", str(tmp_path / "e"), "--set", f"data.name=text:{empty}"]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "relgan_oracle", "--workdir", str(tmp_path / "l"), "--set", f"data.name=text:{path}", "--set", "data.seq_len=4"]) == 2
    err = capsys.readouterr().err
    assert "data.seq_len" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e").exists() and not (tmp_path / "l").exists()
    assert main(["train", "seqgan_oracle_cpu", "--workdir", str(tmp_path / "n"), "--set", f"data.name=text:{path}",
                 "--set", "recipe.pretrain_g_steps=10", "--set", "train.steps=10"]) == 2
    assert "no adversarial steps" in capsys.readouterr().err


@needs_data
def test_poems_mle_then_seqgan_from_it(tmp_path, capsys):
    """A couplet corpus: MLE, then SeqGAN starting from that G (recipe.init_from), then BLEU."""
    common = ["--set", f"data.dir={DATA_DIR}", "--set", "model.emb_dim=8", "--set", "model.hidden_dim=8", "--set", "model.d_emb_dim=8",
              "--set", "train.batch_size=8", "--set", "log.tensorboard=false", "--set", "log.eval_samples=32", "--set", "log.num_samples=4"]
    mle = tmp_path / "mle"
    assert main(["train", "mle_poems_zh", "--workdir", str(mle), "--no-progress", *common, "--set", "train.steps=3"]) == 0
    gan = tmp_path / "gan"
    assert main(["train", "seqgan_poems_zh", "--workdir", str(gan), "--no-progress", *common, "--set", f"recipe.init_from={mle}",
                 "--set", "recipe.pretrain_g_steps=0", "--set", "recipe.pretrain_d_steps=1", "--set", "recipe.rollouts=1",
                 "--set", "recipe.d_steps=1", "--set", "train.steps=3"]) == 0
    lines = (gan / "samples.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    assert (gan / "vocab.txt").is_file()
    assert main(["train", "seqgan_poems_zh", "--workdir", str(tmp_path / "bad"), *common, "--set", f"recipe.init_from={tmp_path}"]) == 2
    assert "holds no gan-jax run" in capsys.readouterr().err


def test_mmd_feature_matching_loss_and_step(tmp_path):
    """TextGAN-style G loss: MMD^2 ~ 0 for one set against itself, > 0 for shifted features;
    one Gumbel step with gumbel_loss=mmd runs and updates G."""
    from gan_jax.config import apply_overrides, load_experiment
    from gan_jax.engine import make_train_step
    from gan_jax.recipes.text import mmd2

    x = jax.random.normal(jax.random.PRNGKey(0), (32, 5))
    assert abs(float(mmd2(x, x))) < 1e-6
    assert float(mmd2(x, x + 2.0)) > 0.1
    sets = [s for s in _tiny(_letters(tmp_path), "gumbel") if s != "--set"]
    config = apply_overrides(load_experiment("relgan_oracle"), sets + ["recipe.gumbel_loss=mmd", "recipe.pretrain_g_steps=0",
                                                                       "recipe.pretrain_d_steps=0", "train.steps=2"])
    dataset, recipe, state = build_state(config)
    g0 = [np.asarray(l) for l in jax.tree.leaves(state.nets["G"].params)]
    stream = dataset.stream(8, 0)
    k = recipe.batches_at(0)
    batch = {"x": np.stack([next(stream)["x"] for _ in range(k)])}
    state, metrics = make_train_step(recipe)(state, batch, step=0)
    assert np.isfinite(float(metrics["loss/g"])) and float(metrics["loss/g"]) >= 0
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(g0, jax.tree.leaves(state.nets["G"].params)))
