"""The training driver's promises, on real Orbax checkpoints on disk with tiny models.

- SIGKILL at any point, then the same command: the parameters at the last step equal an
  uninterrupted run's, bit for bit (also when the kill lands inside an async save), for a
  recipe with a lazy phase (R1 every 4 steps as phase Dreg) and a running statistic in the
  state's ``extra`` (historical parameter averages);
- a linear learning-rate schedule: resuming after a crash equals the uninterrupted run, and
  resuming with a different ``train.steps`` (which would move the schedule's end) is refused;
- logged metrics are the means over the logging window;
- SIGTERM: a checkpoint is saved and the process exits cleanly, then resumes exactly;
- retention keeps the latest K *and* the best by a metric, never dropping the newest;
- a run saved on 8 (forced CPU) devices restores and continues on 1;
- NaN/inf stops the run naming the first bad step, keeping the last good checkpoint;
- TensorBoard event files, JSONL, config and sample grids land in the workdir.
"""

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from gan_jax import checkpoint
from gan_jax.checkpoint import Checkpointer
from gan_jax.cli import main
from gan_jax.config import Config, UserError, apply_overrides, load_experiment, read_config
from gan_jax.data import Dataset, get_dataset
from gan_jax.experiment import build_state
from gan_jax.train import TrainingDiverged, train_and_evaluate

REPO = Path(__file__).resolve().parent.parent
# A DCGAN on the embedded digits: G's BatchNorm state and its EMA copy, Adam, the data iterator,
# a lazy R1 phase (Dreg, every 4 steps: R1 needs a D without BatchNorm) and historical averages
# in the state's extra all resume.
DIGITS = ["--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "data.image_size=16", "--set", "train.batch_size=16",
          "--set", "log.every=10", "--set", "log.sample_every=1000", "--set", "log.num_samples=16", "--set", "log.tensorboard=false",
          "--set", "model.d_batch_norm=false", "--set", "recipe.r1_gamma=1.0", "--set", "recipe.d_reg_every=4",
          "--set", "recipe.hist_weight=0.001", "--set", "data.augment="]
#: the interrupted runs are resumed to this step and compared with an uninterrupted run of it
KILL_STEPS = 60
#: the children that get killed are started with more steps than that, so they never finish before
#: the kill however fast the machine (train.steps may change on resume under a constant lr)
CHILD_STEPS = 100000


def _config(extra: list[str], experiment: str = "dcgan_digits") -> Config:
    return apply_overrides(load_experiment(experiment), [a for a in extra if a != "--set"])


def _params(workdir: Path, step: int | None = None) -> list[np.ndarray]:
    _, _, target = build_state(read_config(workdir / "config.json"))
    state = checkpoint.restore_state(workdir, target, step)
    # every network's params, collections, optimizer state, EMA params and collections; extra; step; rng
    return [np.asarray(x) for x in jax.tree.leaves(state)]


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _spawn(workdir: Path, args: list[str], env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gan_jax.cli", "train", "dcgan_digits", "--workdir", str(workdir), "--no-progress", *args,
           "--set", f"train.steps={CHILD_STEPS}"]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the child")
        time.sleep(0.002)


def _finished_steps(workdir: Path) -> list[int]:
    d = workdir / "checkpoints"
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run the interrupted ones must reproduce."""
    workdir = tmp_path_factory.mktemp("ref") / "w"
    args = [*DIGITS, "--set", f"train.steps={KILL_STEPS}", "--set", "checkpoint.every=5"]
    assert main(["train", "dcgan_digits", "--workdir", str(workdir), "--no-progress", *args]) == 0
    return workdir, args


def test_sigkill_then_resume_equals_uninterrupted(reference, tmp_path):
    ref, args = reference
    workdir = tmp_path / "w"
    proc = _spawn(workdir, args)
    _wait_for(lambda: any(s >= 20 for s in _finished_steps(workdir)), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(_finished_steps(workdir))
    assert killed_at < KILL_STEPS, f"the child got to step {killed_at} before the kill landed; rerun (the machine was very slow to poll)"
    assert main(["train", "dcgan_digits", "--workdir", str(workdir), "--no-progress", *args]) == 0
    _assert_same(_params(workdir, KILL_STEPS), _params(ref, KILL_STEPS))
    # the metrics log has each step once, as if never interrupted
    steps = [json.loads(l)["step"] for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, KILL_STEPS + 1, 10))


def test_sigkill_during_async_save_leaves_a_restorable_latest(reference, tmp_path):
    """Checkpoint every step, so a save is in flight almost all the time; kill when a
    temporary (unfinished) checkpoint directory is visible."""
    ref, args = reference
    args = [*args, "--set", "checkpoint.every=1", "--set", "checkpoint.keep=2"]
    for attempt in range(5):
        workdir = tmp_path / f"w{attempt}"
        proc = _spawn(workdir, args)
        ckdir = workdir / "checkpoints"

        def saving():
            return ckdir.is_dir() and len(_finished_steps(workdir)) >= 1 and any("tmp" in p.name for p in ckdir.iterdir())

        _wait_for(saving, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if any("tmp" in p.name for p in ckdir.iterdir()):
            break
    else:
        pytest.fail("never caught a save in flight")
    latest = checkpoint.latest_step(workdir)
    assert latest is not None and latest < KILL_STEPS
    _params(workdir, latest)  # restorable
    assert main(["train", "dcgan_digits", "--workdir", str(workdir), "--no-progress", *args]) == 0
    assert not any("tmp" in p.name for p in ckdir.iterdir())  # leftovers cleaned up
    _assert_same(_params(workdir, KILL_STEPS), _params(ref, KILL_STEPS))


def test_sigterm_saves_and_exits_cleanly_then_resumes(reference, tmp_path):
    ref, args = reference
    workdir = tmp_path / "w"
    proc = _spawn(workdir, args)
    _wait_for(lambda: any(s >= 10 for s in _finished_steps(workdir)), proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    line = [l for l in err.splitlines() if "stopped by SIGTERM" in l]
    assert line, err
    stopped = int(line[0].split("at step ")[1].split(";")[0])
    assert stopped < KILL_STEPS and stopped in _finished_steps(workdir)  # the stop step was saved
    assert not (workdir / "report.json").exists()
    assert main(["train", "dcgan_digits", "--workdir", str(workdir), "--no-progress", *args]) == 0
    _assert_same(_params(workdir, KILL_STEPS), _params(ref, KILL_STEPS))


def test_keep_latest_and_best_never_drops_the_newest(tmp_path):
    config = _config([*DIGITS, "--set", "train.steps=6", "--set", "checkpoint.every=1", "--set", "checkpoint.keep=2",
                      "--set", "checkpoint.best_metric=score", "--set", "checkpoint.keep_best=1", "--set", "checkpoint.best_mode=min"])

    def evaluator(state):  # best at step 2, worse afterwards
        return {"score": abs(float(jax.device_get(state.step)) - 2.0)}

    train_and_evaluate(config, tmp_path / "w", progress=False, evaluator=evaluator)
    assert _finished_steps(tmp_path / "w") == [2, 5, 6]
    evals = [json.loads(l) for l in (tmp_path / "w" / "metrics.jsonl").read_text().splitlines() if "eval/score" in l]
    assert [e["step"] for e in evals] == [1, 2, 3, 4, 5, 6]


def test_best_metric_unknown_is_a_user_error(tmp_path):
    config = _config([*DIGITS, "--set", "train.steps=2", "--set", "checkpoint.every=1", "--set", "checkpoint.best_metric=nope"])
    with pytest.raises(UserError, match="best_metric='nope'"):
        train_and_evaluate(config, tmp_path / "w", progress=False, evaluator=lambda s: {"score": 1.0})


class _NaNAt:
    """Toy points that turn NaN from batch ``bad`` on (and are resumable like every stream)."""

    def __init__(self, stream, bad):
        self.stream, self.bad, self.n = stream, bad, 0

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self.stream)
        self.n += 1
        if self.n >= self.bad:
            batch = {**batch, "x": np.full_like(batch["x"], np.nan)}
        return batch

    def get_state(self):
        return {"inner": self.stream.get_state(), "n": self.n}

    def set_state(self, s):
        self.stream.set_state(s["inner"])
        self.n = s["n"]


def test_nan_stops_naming_the_step_and_keeps_last_good_checkpoint(tmp_path):
    ring = get_dataset("ring")
    poisoned = Dataset(name="ring", data_shape=ring.data_shape, num_classes=0, is_image=False,
                       stream=lambda b, s, **kw: _NaNAt(ring.stream(b, s, **kw), bad=5))
    config = _config(["train.steps=20", "train.batch_size=16", "model.g_hidden=16,16", "model.d_hidden=16,16", "checkpoint.every=2",
                      "log.every=3", "log.sample_every=1000", "log.tensorboard=false", "recipe.r1_gamma=0"], "toy_ring")
    with pytest.raises(TrainingDiverged, match=r"non-finite values at step 5 \(.*loss/d=nan.*\); stopped at step 6.*last good checkpoint is step 4"):
        train_and_evaluate(config, tmp_path / "w", progress=False, dataset=poisoned)
    assert _finished_steps(tmp_path / "w") == [2, 4]
    assert all(np.isfinite(p).all() for p in _params(tmp_path / "w"))


def _events(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars from TensorBoard event files (TFRecord framing of Event protos)."""
    from tensorboardX.proto import event_pb2

    out: dict[str, list] = {}
    for f in sorted(logdir.glob("events.out.tfevents.*")):
        data, i = f.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                if v.HasField("simple_value"):
                    out.setdefault(v.tag, []).append((event.step, v.simple_value))
                elif v.HasField("image"):
                    out.setdefault(v.tag, []).append((event.step, None))
    return out


def test_tensorboard_jsonl_and_samples(tmp_path):
    workdir = tmp_path / "w"
    assert main(["train", "dcgan_digits", "--workdir", str(workdir), "--no-progress", *DIGITS, "--set", "log.tensorboard=true",
                 "--set", "train.steps=4", "--set", "log.every=2", "--set", "log.sample_every=2"]) == 0
    events = _events(workdir / "tensorboard")
    assert [s for s, _ in events["loss/d"]] == [2, 4]
    jsonl = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [round(v, 5) for _, v in events["loss/g"]] == [round(l["loss/g"], 5) for l in jsonl]
    assert [s for s, _ in events["samples"]] == [2, 4]
    assert sorted(p.name for p in (workdir / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert read_config(workdir / "config.json").train.steps == 4


EIGHT_DEVICE_TRAIN = """
import sys, numpy as np, jax
from gan_jax.config import apply_overrides, load_experiment
from gan_jax.train import train_and_evaluate
assert jax.device_count() == 8, jax.devices()
config = apply_overrides(load_experiment("toy_ring"), sys.argv[2:])
state, _ = train_and_evaluate(config, sys.argv[1], progress=False)
np.savez(sys.argv[1] + ".npz", *[np.asarray(x) for x in jax.tree.leaves(state)])
"""
TOY = ["train.batch_size=16", "model.g_hidden=16,16", "model.d_hidden=16,16", "checkpoint.every=2", "log.every=2",
       "log.sample_every=1000", "log.tensorboard=false", "log.eval_samples=200"]


def test_save_on_8_devices_restore_and_continue_on_1(tmp_path):
    workdir = tmp_path / "w8"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", EIGHT_DEVICE_TRAIN, str(workdir), "train.steps=4", "recipe.lr_schedule=constant", *TOY],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    saved = np.load(str(workdir) + ".npz")
    assert jax.device_count() == 1
    _, _, target = build_state(read_config(workdir / "config.json"))
    state = checkpoint.restore_state(workdir, target)
    restored = jax.tree.leaves(state)
    for i, x in enumerate(restored):
        np.testing.assert_array_equal(np.asarray(x), saved[f"arr_{i}"])
    # ... and the run goes on here, on one device (train.steps may grow on resume)
    config = apply_overrides(load_experiment("toy_ring"), ["train.steps=6", "recipe.lr_schedule=constant", *TOY])
    state, result = train_and_evaluate(config, workdir, progress=False)
    assert result.resumed_from == 4 and result.step == 6 and _finished_steps(workdir)[-1] == 6


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gan-jax: error: ") and "\n" not in err, err
    return err


def _snapshot(d: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in d.rglob("*")}


def test_bad_workdirs_and_checkpoints(capsys, reference, tmp_path):
    ref, args = reference
    before = _snapshot(ref)
    # a workdir holding a different run
    err = _error(capsys, ["train", "dcgan_digits", "--workdir", str(ref), "--no-progress", *args, "--set", "model.g_width=16"])
    assert "holds a different run" in err and "model.g_width: 8 -> 16" in err
    assert _error(capsys, ["train", "toy_ring", "--workdir", str(ref)]).count("different run") == 1
    assert _snapshot(ref) == before
    # a non-empty directory that is not a run
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert "not empty" in _error(capsys, ["train", "--workdir", str(other)])
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    # corrupt and partial checkpoints: clear error, nothing deleted
    import shutil

    for damage in ("corrupt", "partial"):
        work = tmp_path / damage
        shutil.copytree(ref, work)
        latest = max(_finished_steps(work))
        files = sorted(p for p in (work / "checkpoints" / str(latest) / "state").rglob("*") if p.is_file() and p.stat().st_size > 0)
        assert files
        for f in files:
            if damage == "corrupt":
                f.write_bytes(b"\0garbage" * 8)
            else:
                f.unlink()
        snap = _snapshot(work)
        for argv in (["train", "dcgan_digits", "--workdir", str(work), "--no-progress", *args],
                     ["sample", "--workdir", str(work), "--out", str(tmp_path / "x.npy")]):
            err = _error(capsys, argv)
            assert f"cannot restore checkpoint {(work / 'checkpoints' / str(latest)).resolve()}" in err, err
        assert _snapshot(work) == snap
        assert not (tmp_path / "x.npy").exists()


def test_resume_of_finished_run_is_a_no_op(reference, capsys):
    ref, args = reference
    before = _params(ref)
    assert main(["train", "dcgan_digits", "--workdir", str(ref), "--no-progress", *args]) == 0
    assert f"resumed dcgan_digits from step {KILL_STEPS}" in capsys.readouterr().out
    _assert_same(_params(ref), before)


def test_checkpointer_rejects_bad_policy(tmp_path):
    with pytest.raises(UserError, match="best_mode"):
        Checkpointer(tmp_path, best_mode="lowest")
    with pytest.raises(UserError, match="keep must be >= 1"):
        Checkpointer(tmp_path, keep=0)


@pytest.mark.parametrize("parallel", ["jit", "pmap"])
def test_extend_steps_on_resume_equals_one_longer_run(tmp_path, parallel):
    """Stop at step 4 (the run ends there), resume with train.steps=6: same as 6 steps at once."""
    overrides = ["recipe.lr_schedule=constant", f"train.parallel={parallel}", *TOY]
    short = apply_overrides(load_experiment("toy_ring"), ["train.steps=4", *overrides])
    full = apply_overrides(load_experiment("toy_ring"), ["train.steps=6", *overrides])
    train_and_evaluate(short, tmp_path / "a", progress=False)
    _, result = train_and_evaluate(full, tmp_path / "a", progress=False)
    assert result.resumed_from == 4
    train_and_evaluate(full, tmp_path / "b", progress=False)
    _assert_same(_params(tmp_path / "a"), _params(tmp_path / "b"))


def test_linear_schedule_resume_equals_uninterrupted_and_steps_are_locked(tmp_path, capsys):
    """toy_ring decays its learning rate linearly to 0 at train.steps: a crash after step 4's
    checkpoint, then the same command, equals the uninterrupted 6 steps; a resume with another
    train.steps would move the end of the schedule under the steps already taken, and is refused."""
    import shutil

    overrides = ["train.steps=6", *TOY]
    config = apply_overrides(load_experiment("toy_ring"), overrides)
    assert config.recipe.lr_schedule == "linear"
    train_and_evaluate(config, tmp_path / "a", progress=False)
    crashed = tmp_path / "b"
    shutil.copytree(tmp_path / "a", crashed)
    shutil.rmtree(crashed / "checkpoints" / "6")  # as if killed after the checkpoint of step 4
    (crashed / "report.json").unlink()
    _, result = train_and_evaluate(config, crashed, progress=False)
    assert result.resumed_from == 4 and result.step == 6
    _assert_same(_params(crashed), _params(tmp_path / "a"))
    before = _snapshot(crashed)
    err = _error(capsys, ["train", "toy_ring", "--workdir", str(crashed), "--no-progress", *[a for o in overrides for a in ("--set", o)],
                          "--set", "train.steps=8"])
    assert "train.steps=6" in err and "recipe.lr_schedule=linear" in err and "new --workdir" in err, err
    assert _snapshot(crashed) == before


def test_logged_metrics_are_window_means(tmp_path):
    """With log.every=3 the logged loss at step 3 is the mean of the three per-step losses
    (the same run logged every step), not step 3's alone."""
    base = ["train.steps=6", "recipe.lr_schedule=constant", *TOY]
    every1 = apply_overrides(load_experiment("toy_ring"), [*base, "log.every=1"])
    every3 = apply_overrides(load_experiment("toy_ring"), [*base, "log.every=3"])
    train_and_evaluate(every1, tmp_path / "a", progress=False)
    train_and_evaluate(every3, tmp_path / "b", progress=False)
    per_step = [json.loads(l) for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    windows = [json.loads(l) for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [w["step"] for w in windows] == [3, 6]
    for w, rows in zip(windows, (per_step[0:3], per_step[3:6])):
        for key in ("loss/d", "loss/g", "grad_norm/Dmain", "penalty/r1"):
            values = [r[key] for r in rows]
            assert len(set(values)) > 1, (key, values)  # the window mean differs from the last value
            np.testing.assert_allclose(w[key], np.mean(values), rtol=1e-5, err_msg=key)
