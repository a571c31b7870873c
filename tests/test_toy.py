"""The first proof that the engine learns: a short toy-ring run covers most modes."""

from gan_jax.config import apply_overrides, load_experiment
from gan_jax.train import train_and_evaluate


def test_short_ring_run_covers_modes(tmp_path):
    config = apply_overrides(load_experiment("toy_ring"), ["train.steps=1500", "log.sample_every=1500", "log.every=500"])
    report = train_and_evaluate(config, tmp_path / "ring", progress=False)[1].report
    assert report["num_modes"] == 8
    assert report["modes_covered"] >= 6, report
    assert (tmp_path / "ring" / "samples.png").is_file()
