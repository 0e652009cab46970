"""gankit eval: metric fields, recorded protocol, applicability, and agreement with direct calls."""

import json

import pytest
import torch

from gankit.cli import main
from gankit.config import apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.errors import UserError
from gankit.evaluate import evaluate, parse_metrics
from gankit.generate import generate, load_generator
from gankit.metrics import frechet_distance, mode_coverage, parzen_evaluate
from gankit.train import train


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    cfg = apply_overrides(load_preset("ring8"), ["train.steps=150", "train.batch=64", "data.toy_n=3000",
                                                 "G.hidden=[32,32]", "D.hidden=[32,32]"])
    return train(cfg, out=tmp_path_factory.mktemp("ring"), progress=False).run_dir


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    cfg = apply_overrides(load_preset("quick-mlp"), ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8",
                                                 "train.steps=30", "train.batch=32"])
    return train(cfg, out=tmp_path_factory.mktemp("digits"), progress=False).run_dir


def test_modes_and_raw_fid_match_direct_computation(ring_run):
    res = evaluate(ring_run, metrics="modes,fid", n=3000, seed=5)
    G, cfg, info = load_generator(ring_run)
    x = generate(G, 3000, seed=5)
    direct = mode_coverage(x[:2500], torch.tensor(info["centers"]), info["std"])
    assert res["modes"]["modes_covered"] == direct["modes_covered"] and res["modes"]["n_samples"] == 2500
    assert res["modes"]["high_quality"] == pytest.approx(direct["high_quality"])
    real = build_dataset(cfg.data, "test").x  # 3,000 points: under the 10,000 cap, so all are used
    assert res["fid"]["value"] == pytest.approx(frechet_distance(x, real), rel=1e-9)
    assert res["fid"]["features"] == "raw" and res["fid"]["n_real"] == 3000
    assert res["fid"]["protocol"]["seed"] == 5 and res["fid"]["protocol"]["split"] == "test"


def test_results_are_recorded_with_their_protocol(ring_run):
    evaluate(ring_run, metrics=["modes"], n=2600, seed=1)
    evaluate(ring_run, metrics=["modes"], n=2600, seed=2)
    lines = [json.loads(rec) for rec in (ring_run / "metric-modes.jsonl").read_text().splitlines()]
    assert [rec["protocol"]["seed"] for rec in lines[-2:]] == [1, 2]
    assert all(rec["metric"] == "modes" and rec["protocol"]["n_generated"] == 2600 for rec in lines[-2:])
    assert lines[-1]["protocol"]["step"] == 150


def test_parzen_follows_the_protocol_on_pixels(digits_run):
    res = evaluate(digits_run, metrics=["parzen"], n=500, seed=0, record=False)["parzen"]
    G, cfg, _ = load_generator(digits_run)
    x = generate(G, 500, seed=0).flatten(1)
    test = build_dataset(cfg.data, "test").x.flatten(1)
    perm = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))
    half = len(perm) // 2
    direct = parzen_evaluate(x, test[perm[:half]], test[perm[half:]], from_minus1=True)
    assert res["mean"] == pytest.approx(direct["mean"]) and res["sigma"] == direct["sigma"]
    assert res["space"] == "[0, 1] pixels" and res["n_valid"] == half and res["n_test"] == len(test) - half
    assert len(res["sigmas_tried"]) == 10 and min(res["sigmas_tried"]) == pytest.approx(0.1)


def test_inapplicable_metric_says_why(digits_run, capsys):
    res = evaluate(digits_run, metrics=["modes"], n=100, record=False)
    assert "no known mode centres" in res["modes"]["skipped"]
    assert not (digits_run / "metric-modes.jsonl").exists()


def test_ndb_fields(digits_run):
    res = evaluate(digits_run, metrics=["ndb"], n=1000, record=False)["ndb"]
    assert res["k"] == min(100, 1438 // 50) and 0 <= res["ndb"] <= res["k"] and 0 <= res["js"] <= 1
    assert res["ndb_over_k"] == pytest.approx(res["ndb"] / res["k"])


def test_cli_json_and_errors(ring_run, capsys):
    try:
        main(["eval", str(ring_run), "--metrics", "modes,fid", "-n", "2500", "--json", "--no-record"])
    except SystemExit as e:
        assert e.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"modes", "fid"} and {"modes_covered", "n_modes", "high_quality", "kl"} <= set(out["modes"])
    with pytest.raises(UserError, match="known metrics: parzen"):
        parse_metrics("fid,isx")
    with pytest.raises(SystemExit) as e:
        main(["eval", str(ring_run), "--metrics", "bogus"])
    assert e.value.code == 2 and "unknown metric bogus" in capsys.readouterr().err


def test_inception_weights_path_is_passed_through(digits_run, tmp_path):
    with pytest.raises(UserError, match="missing.pth"):
        evaluate(digits_run, metrics=["fid"], n=10, features="inception",
                 inception_weights=str(tmp_path / "missing.pth"), record=False)
    with pytest.raises(UserError, match="--features must be digits, inception or raw"):
        evaluate(digits_run, metrics=["fid"], n=10, features="vgg", record=False)


def test_digits_features_for_a_digits_run(digits_run):
    from gankit.features import extract_features

    res = evaluate(digits_run, metrics="fid,classes", n=400, seed=3, record=False)
    G, cfg, _ = load_generator(digits_run)
    x = generate(G, 400, seed=3)
    real = build_dataset(cfg.data, "test").x
    direct = frechet_distance(extract_features("digits", x), extract_features("digits", real))
    assert res["fid"]["value"] == pytest.approx(direct, rel=1e-9) and res["fid"]["features"] == "digits"
    assert sum(res["classes"]["counts"]) == 400 and 1 <= res["classes"]["classes_covered"] <= 10


def test_any_module_can_be_the_feature_extractor(digits_run):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 6))  # 8x8 digits -> 6 features
    res = evaluate(digits_run, metrics="fid", n=300, seed=1, features=net, record=False)["fid"]
    G, cfg, _ = load_generator(digits_run)
    with torch.no_grad():
        direct = frechet_distance(net(generate(G, 300, seed=1)), net(build_dataset(cfg.data, "test").x))
    assert res["value"] == pytest.approx(direct, rel=1e-6) and res["features"] == "Sequential"


def test_eval_scores_samples_made_anywhere_like_the_run_that_made_them(digits_run, tmp_path, capsys):
    """An .npz of G's own samples scores exactly as the run does; a folder of PNGs (8-bit) nearly so."""
    import numpy as np
    from PIL import Image

    from helpers import run_cli

    metrics = "fid,pr,classes"
    from_run = evaluate(digits_run, metrics=metrics, n=400, seed=0, record=False)
    G, _, _ = load_generator(digits_run)
    x = generate(G, 400, seed=0)
    np.savez(tmp_path / "s.npz", x=x.numpy())
    from_file = evaluate(tmp_path / "s.npz", metrics=metrics, n=400, seed=0, data="digits")
    for name in ("fid", "pr", "classes"):
        a = {k: v for k, v in from_run[name].items() if k != "protocol"}
        b = {k: v for k, v in from_file[name].items() if k != "protocol"}
        assert a == b, name
    assert from_file["fid"]["protocol"]["samples"] == str(tmp_path / "s.npz")

    folder = tmp_path / "pngs"
    folder.mkdir()
    pixels = ((x[:, 0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    for i, img in enumerate(pixels):
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    code, out, err = run_cli(["eval", str(folder), "--data", "digits", "--metrics", "fid", "--json"], capsys)
    assert code == 0, err
    assert abs(json.loads(out)["fid"]["value"] - from_run["fid"]["value"]) < 0.05 * from_run["fid"]["value"] + 0.5

    for args, needle in [([str(tmp_path / "s.npz")], "--data"),
                         ([str(tmp_path / "s.npz"), "--data", "ring8"], "vector data")]:
        code, _, err = run_cli(["eval", *args, "--metrics", "fid"], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_eval_shows_progress_on_stderr_even_with_json_unless_quiet(digits_run, capsys):
    from helpers import run_cli

    code, out, err = run_cli(["eval", str(digits_run), "--metrics", "fid", "-n", "200", "--json", "--no-record"],
                             capsys)
    assert code == 0 and "fid" in json.loads(out) and "features:" in err  # stdout stays pure JSON
    code, out, err = run_cli(["eval", str(digits_run), "--metrics", "fid", "-n", "200", "--json", "--no-record",
                              "--quiet"], capsys)
    assert code == 0 and "fid" in json.loads(out) and err == ""
