import json

import pytest

from gankit.config import (RunConfig, apply_overrides, from_dict, list_presets, load_json, load_preset,
                           save_json, to_dict)
from gankit.errors import UserError


def test_required_presets_exist_with_descriptions():
    presets = list_presets()
    for name in ("quick", "quick-mlp", "paper-mnist", "tutorial-mlp", "ring8"):
        assert name in presets and presets[name]


def test_the_default_preset_is_the_conditional_dcgan_and_the_cli_uses_it(capsys):
    import json

    from helpers import run_cli

    cfg = load_preset("quick")
    assert (cfg.model, cfg.c_dim, cfg.G.arch, cfg.D.arch, cfg.D.cond) == ("gan", 10, "dcgan", "dcgan", "projection")
    assert cfg.data.name == "mnist-5k" and cfg.train.steps == 3600
    code, out, err = run_cli(["train", "--dry-run"], capsys)
    assert code == 0, err
    printed = json.loads(out[:out.rindex("}") + 1])
    assert printed["preset"] == "quick" and printed["c_dim"] == 10


def test_paper_preset_has_the_reference_numbers():
    cfg = load_preset("paper-mnist")
    assert cfg.G.hidden == (1200, 1200) and cfg.G.act == "relu" and cfg.G.out == "sigmoid"
    assert cfg.D.arch == "maxout" and cfg.D.hidden == (240, 240) and cfg.D.pieces == 5
    assert (cfg.D.dropout, cfg.D.dropout_input) == (0.5, 0.2)
    assert cfg.optim.name == "sgd" and (cfg.optim.lr_g, cfg.optim.lr_d) == (0.1, 0.05) and cfg.train.batch == 100
    assert (cfg.optim.momentum, cfg.optim.momentum_final) == (0.5, 0.7)
    assert cfg.loss.g_loss == "nonsaturating" and cfg.z_dim == 100


def test_tutorial_preset():
    cfg = load_preset("tutorial-mlp")
    assert cfg.G.hidden == (128, 256, 512, 1024) and cfg.G.norm == "batch" and cfg.G.act == "leaky_relu"
    assert cfg.D.hidden == (512, 256) and cfg.optim.lr_g == 2e-4 and (cfg.optim.beta1, cfg.optim.beta2) == (0.5, 0.999)
    assert cfg.train.batch == 64


def test_json_round_trip(tmp_path):
    cfg = apply_overrides(load_preset("paper-mnist"), ["train.steps=7", "G.hidden=[3, 4]"])
    save_json(cfg, tmp_path / "c.json")
    assert load_json(tmp_path / "c.json") == cfg
    assert from_dict(json.loads(json.dumps(to_dict(cfg)))) == cfg


def test_overrides_are_typed():
    cfg = apply_overrides(RunConfig(), ["optim.lr_g=1e-3", "train.steps=12", "data.name=digits", "z_dist=uniform"])
    assert cfg.optim.lr_g == 1e-3 and cfg.train.steps == 12 and cfg.data.name == "digits" and cfg.z_dist == "uniform"
    assert apply_overrides(RunConfig(), ["optim.lr_g=1"]).optim.lr_g == 1.0  # int accepted for float


@pytest.mark.parametrize("item,needle", [
    ("train.stepz=3", "unknown config key 'train.stepz'"),
    ("steps=3", "did you mean train.steps"),
    ("train.steps=many", "expects int"),
    ("train.steps=2.5", "expects int"),
    ("G.hidden=5", "expects a list"),
    ("loss.g_loss=wgan", "must be one of nonsaturating, minimax, wasserstein, hinge, ls"),
    ("train.compile_mode=fast", "must be one of default, reduce-overhead, max-autotune"),
    ("loss.g_loss=wasserstein", "loss.d_loss='bce' needs loss.g_loss in nonsaturating, minimax"),
    ("train.batch=0", "must be a positive integer"),
    ("D.dropout=1.5", "must lie in [0, 1)"),
    ("noequals", "expects key=value"),
])
def test_bad_overrides_are_one_clear_line(item, needle):
    with pytest.raises(UserError) as e:
        apply_overrides(RunConfig(), [item])
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(UserError, match="known presets: .*quick"):
        load_preset("nope")


def test_the_model_choices_come_from_the_systems_registry():
    from gankit.config import CHOICES, I2I_SYSTEMS
    from gankit.systems import SYSTEMS, system_class

    assert CHOICES["model"] == tuple(SYSTEMS) and set(I2I_SYSTEMS) < set(SYSTEMS)
    for name in SYSTEMS:
        assert system_class(name).__module__ == SYSTEMS[name][0]
    with pytest.raises(UserError, match="'model' must be one of " + ", ".join(SYSTEMS)):
        apply_overrides(load_preset("quick-mlp"), ["model=stylegan"])
