from pathlib import Path

import jax
import pytest

from gan_jax.config import Config, UserError, apply_overrides, from_dict, list_experiments, load_experiment, to_dict


def test_every_experiment_loads_and_builds():
    from gan_jax.experiment import build_state

    from gan_jax.experiment import build_dataset

    names = list_experiments()
    assert {"dcgan_digits", "toy_ring", "toy_grid", "seqgan_oracle", "mle_poems_zh"} <= set(names)
    data_dir = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    for name in names:
        config = load_experiment(name)
        assert config.experiment == name
        if config.family == "text":
            if not data_dir.is_dir():
                continue
            small = apply_overrides(config, ["model.emb_dim=4", "model.hidden_dim=4", "model.d_emb_dim=4", f"data.dir={data_dir}"])
        elif config.family == "stylegan2":
            # tiny widths; a folder experiment gets the embedded digits (its folder is the user's)
            small = apply_overrides(config, ["model.channel_base=64", "model.channel_max=8", "model.z_dim=8", "model.w_dim=8",
                                             *([f"data.dir={data_dir}"] if data_dir.is_dir() else []),
                                             *(["data.name=digits", "recipe.augment=ada"] if config.data.name.startswith("folder:") else [])])
        elif config.family == "translation":
            # the embedded paired digits: deriving CIFAR-10 edges / MNIST-M decodes 60k JPEGs (tests/test_translation.py
            # trains both recipes; tests/test_translation_data.py builds the datasets from small files)
            small = apply_overrides(config, ["model.ngf=4", "model.ndf=4", "data.name=digits_edges", "data.load_size=0", "data.flip=false"])
        else:
            # tiny widths keep this fast; the architecture and data are the experiment's own
            small = apply_overrides(config, ["model.g_width=8", "model.d_width=8"])
        dataset = build_dataset(small)
        # shapes only (jax.eval_shape): tests/test_experiments.py trains each recipe for real
        built = []
        state = jax.eval_shape(lambda: built.append(build_state(small, dataset)) or built[0][2])
        recipe = built[0][1]
        assert state.step.shape == () and jax.tree.leaves(state.nets[recipe.generator].params)
        if small.family != "text" or small.recipe.method != "mle":
            assert any(name.startswith("D") and jax.tree.leaves(net.params) for name, net in state.nets.items())


def test_overrides_types_and_copy():
    base = load_experiment("dcgan_digits")
    c = apply_overrides(base, ["train.steps=7", "recipe.lr_g=1e-3", "model.d_batch_norm=false", "model.g_hidden=3,4", "recipe.loss=hinge"])
    assert (c.train.steps, c.recipe.lr_g, c.model.d_batch_norm, c.model.g_hidden, c.recipe.loss) == (7, 1e-3, False, (3, 4), "hinge")
    assert base.train.steps != 7  # the original is untouched
    assert from_dict(to_dict(c)) == c
    for bad in ["train=3", "nope.steps=1", "train.steps=1.5", "model.d_batch_norm=maybe", "experiment.x=1", "recipe=1", "model=2",
                "family=classic", "train.loss=hinge"]:
        with pytest.raises(UserError):
            apply_overrides(base, [bad])


def test_config_file_by_path(tmp_path):
    p = tmp_path / "mine.py"
    p.write_text("from gan_jax.config import Config\ndef get_config():\n    return Config(experiment='mine')\n")
    assert load_experiment(str(p)).experiment == "mine"
    q = tmp_path / "bad.py"
    q.write_text("x = 1\n")
    with pytest.raises(UserError, match="no get_config"):
        load_experiment(str(q))
    with pytest.raises(UserError, match="not found"):
        load_experiment(str(tmp_path / "missing.py"))
    assert isinstance(Config(), Config)


def test_family_sections_are_typed_and_roundtrip(tmp_path):
    from gan_jax.config import family_module, read_config, save_config
    from gan_jax.families.classic import ModelConfig, RecipeConfig

    c = load_experiment("wgan_gp_cifar10")
    assert c.family == "classic" and type(c.model) is ModelConfig and type(c.recipe) is RecipeConfig
    assert c.recipe.gp_weight == 10.0 and c.recipe.n_critic == 5 and c.train.batch_size == 64
    save_config(c, tmp_path / "config.json")
    assert read_config(tmp_path / "config.json") == c
    assert Config().model == ModelConfig() and Config().recipe == RecipeConfig()
    with pytest.raises(UserError, match="must be a gan_jax.families.classic.RecipeConfig"):
        Config(recipe=ModelConfig())
    with pytest.raises(UserError, match="unknown family 'stylegan9'"):
        Config(family="stylegan9")
    with pytest.raises(UserError, match="unknown family"):
        from_dict({"family": "nope"})
    assert "linear" in family_module("classic").steps_locked(c)  # its lr decays to 0 at train.steps
    assert family_module("classic").steps_locked(load_experiment("dcgan_mnist")) == ""
    assert "linear" in family_module("classic").steps_locked(load_experiment("toy_ring"))
