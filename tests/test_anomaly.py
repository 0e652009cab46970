"""Anomaly detection: AnoGAN and f-AnoGAN scores, the baselines, the anomaly file and ``gankit anomaly``."""

import csv
import json

import numpy as np
import pytest
import torch

from gankit.apps.anomaly import (DIGITS_OVERRIDES, ANOMALY_NAME, anogan_score, auroc, d_features, fit, load_anomaly,
                                 parse_classes, score_anogan, score_fanogan, score_knn, score_pca)
from gankit.cli import main
from gankit.config import DataConfig, apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.models import build_discriminator, build_generator
from helpers import user_error


@pytest.fixture(scope="module")
def zero_run(tmp_path_factory):
    """A tiny GAN + encoder on the digit 0 only (the normal class); everything else is anomalous."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("anomaly")
    return fit("quick-mlp", "0", out=out, overrides=DIGITS_OVERRIDES, steps=300, encoder_steps=300)


def _digits(split):
    return build_dataset(DataConfig(name="digits"), split)


def _planted(n=40, seed=0):
    """Clearly anomalous inputs: uniform noise images in [-1, 1]."""
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_planted_anomalies_rank_above_normal_data(zero_run):
    test, train = _digits("test"), _digits("train")
    normal = test.x[test.y == 0]
    x = torch.cat([normal, _planted()])
    y = np.r_[np.zeros(len(normal)), np.ones(40)]
    m = zero_run.model
    assert auroc(y, score_fanogan(m.G, m.D, m.E, x)) > 0.9
    assert auroc(y, score_anogan(m.G, m.D, x, steps=100)) > 0.9
    normal_train = train.x[train.y == 0]
    assert auroc(y, score_pca(normal_train, x, k=8)) > 0.9
    assert auroc(y, score_knn(normal_train, x, k=5)) > 0.9
    # the normal training data are the digit 0 alone
    assert m.info["normal_classes"] == [0] and m.info["n_normal_train"] == int((train.y == 0).sum())


def test_anogan_score_formula_at_a_fixed_z():
    cfg = apply_overrides(load_preset("quick-mlp"), list(DIGITS_OVERRIDES))
    torch.manual_seed(0)
    G, D = build_generator(cfg, (1, 8, 8)).eval(), build_discriminator(cfg, (1, 8, 8)).eval()
    x, z = _digits("test").x[:5], torch.randn(5, cfg.z_dim)
    with torch.no_grad():
        gz = G(z)
        feat = lambda t: D.net[:-1](t.flatten(1))  # the MLP D's penultimate layer, by hand  # noqa: E731
        residual = (x - gz).abs().flatten(1).sum(1)
        disc = (feat(x) - feat(gz)).abs().sum(1)
        expected = 0.9 * residual + 0.1 * disc
        got, r, d = anogan_score(G, D, x, z, lam=0.1, parts=True)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(r, residual)
    torch.testing.assert_close(d, disc)
    torch.testing.assert_close(d_features(D, x), feat(x))
    # the search lowers the score from its start (a z drawn with the same seed) and reports its last z
    score, res, dis, z_last = score_anogan(G, D, x, steps=50, seed=3, parts=True)
    start = torch.randn(5, cfg.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (score < anogan_score(G, D, x, start)).all()
        torch.testing.assert_close(anogan_score(G, D, x, z_last), score)


def test_d_features_refuse_a_conditional_d():
    cfg = apply_overrides(load_preset("quick-mlp"), list(DIGITS_OVERRIDES) + ["c_dim=10"])
    D = build_discriminator(cfg, (1, 8, 8))
    user_error(lambda: d_features(D, torch.zeros(2, 1, 8, 8)), "unconditional")


def test_encoder_file_round_trip(zero_run):
    assert zero_run.anomaly == zero_run.run_dir / ANOMALY_NAME and zero_run.anomaly.is_file()
    state = torch.load(zero_run.anomaly, weights_only=True)
    assert state["format"] == "gankit-anomaly" and state["kappa"] == 1.0
    loaded = load_anomaly(zero_run.run_dir)
    x = _digits("test").x[:20]
    m = zero_run.model
    device = next(m.E.parameters()).device  # fit leaves the nets where they trained (a GPU where present)
    with torch.no_grad():
        torch.testing.assert_close(loaded.E(x), m.E(x.to(device)).cpu(), rtol=1e-4, atol=1e-5)  # CPU vs GPU sums
    torch.testing.assert_close(score_fanogan(loaded.G, loaded.D, loaded.E, x), score_fanogan(m.G, m.D, m.E, x),
                               rtol=1e-4, atol=1e-5)
    assert loaded.info["normal_classes"] == [0] and loaded.info["data"]["name"] == "digits"


def test_bad_options():
    user_error(lambda: parse_classes("0,x"), "--normal-classes")
    assert parse_classes("3,1,1") == [1, 3] and parse_classes(None) is None
    user_error(lambda: fit("quick-mlp", "0,12", out="/tmp/never", overrides=DIGITS_OVERRIDES), "unknown class 12")
    user_error(lambda: fit("quick-mlp", list(range(10)), out="/tmp/never", overrides=DIGITS_OVERRIDES), "every class")
    user_error(lambda: load_anomaly("/nonexistent-run"), ANOMALY_NAME)


def _run(args, capsys):
    code = 0
    try:
        main(args)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_scores_and_files(zero_run, tmp_path, capsys):
    run = str(zero_run.run_dir)
    code, out, err = _run(["anomaly", "score", run, "test:0-9"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "i,index,label,score" and len(lines) >= 11
    code, out, err = _run(["anomaly", "score", run, "test:all", "--out", str(tmp_path / "s.csv")], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert len(rows) == len(_digits("test")) and "AUROC" in out
    auc = float(out.split("AUROC ")[1].split()[0])
    assert auc > 0.8  # digit 0 is normal: the nine other digits of the test split are the anomalies
    npy = tmp_path / "noise.npy"
    np.save(npy, ((_planted(5).numpy() + 1) / 2).astype(np.float32))
    code, out, err = _run(["anomaly", "score", run, str(npy), "--method", "anogan", "--anogan-steps", "20",
                           "--out", str(tmp_path / "s.json")], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["method"] == "anogan" and len(data["rows"]) == 5 and data["auroc"] is None


@pytest.mark.parametrize("args, fragment", [
    (["anomaly", "fit", "--data", "digits", "--normal-classes", "0,12", "--steps", "1"], "unknown class 12"),
    (["anomaly", "fit", "--data", "digits", "--normal-classes", "a,b", "--steps", "1"], "--normal-classes"),
    (["anomaly", "score", "RUN", "bogus:1"], "IMAGES 'bogus:1': no such file or folder"),
    (["anomaly", "score", "RUN", "test:3-1"], "the end is before the start"),
    (["anomaly", "score", "RUN", "test:5000"], "out of range"),
    (["anomaly", "score", "RUN", "test:all", "--out", "s.txt"], ".csv or .json"),
])
def test_cli_bad_input_is_one_line_exit_2(zero_run, tmp_path, capsys, args, fragment):
    args = [str(zero_run.run_dir) if a == "RUN" else a for a in args]
    if args[1] == "fit":
        args += ["--out", str(tmp_path)]
    code, out, err = _run(args, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
