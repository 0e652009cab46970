"""Every long job shows a bar with an ETA on stderr, none with --quiet, and never a byte of it on stdout.

The commands run in-process (``helpers.run_cli``, stdout and stderr captured apart) on the smallest
settings that still reach each bar: a GAN of a few steps on the bundled digits, the quick saddle
with its pictures left out. `gankit bench`'s bar is checked in tests/test_bench.py, whose CLI
tests run it anyway; whether each theory experiment's bar counts its steps exactly, beside that
experiment's quick run (tests/test_theory_*.py).

stderr is not a terminal here, so tqdm draws a bar when it opens and wipes it when it closes
(``leave=False``); the opening draw, ``NAME:   0%|``, is what these tests look for.
"""

import json

import pytest
import torch

from gankit.config import apply_overrides, load_preset
from gankit.errors import UserError
from gankit.progress import progress_bar
from gankit.train import train
from helpers import run_cli

BAR = "%|"  # tqdm's bar with a known total: "desc:  40%|####      | 4/10 [00:01<00:02, 3.2step/s]"
TINY_MLP = ["--set", "z_dim=4", "--set", "G.hidden=[16]", "--set", "D.hidden=[16]", "--set", "train.batch=16",
            "--set", "train.threads=1", "--set", "train.precision=fp32"]


def _has_bar(err: str, desc: str) -> bool:
    return f"{desc}: " in err and BAR in err


# ------------------------------------------------------------------------------------------ the helper


def test_bar_writes_to_stderr_only_and_wipes_its_line(capsys):
    with progress_bar(3, "job") as bar:
        bar.update(3)
    out, err = capsys.readouterr()
    assert out == ""
    assert _has_bar(err, "job") and "step/s" in err
    assert err.endswith("\r") and err.rsplit("\r", 2)[-2].strip() == ""  # closed: the line is blanked


def test_disabled_bar_writes_nothing(capsys):
    with progress_bar(3, "job", enabled=False) as bar:
        bar.update(3)
    assert capsys.readouterr() == ("", "")


def test_an_error_inside_a_bar_leaves_a_clean_line_for_the_message(capsys):
    with pytest.raises(UserError):
        with progress_bar(10, "job") as bar:
            bar.update(4)
            raise UserError("something the user did")
    err = capsys.readouterr().err
    assert _has_bar(err, "job") and err.endswith("\r") and err.rsplit("\r", 2)[-2].strip() == ""


# ------------------------------------------------------------------------------------------ commands


@pytest.fixture(scope="module")
def anomaly_run(tmp_path_factory):
    """`gankit anomaly fit` without --quiet on a GAN of 3 steps and an encoder of 3; (run dir, stdout, stderr)."""
    out = tmp_path_factory.mktemp("anomaly")
    args = ["anomaly", "fit", "--data", "digits", "--normal-classes", "0", "--steps", "3", "--encoder-steps", "3",
            "--out", str(out)] + TINY_MLP
    return _run_module_cli(args), out


def _run_module_cli(args):
    """run_cli for a module-scoped fixture: capture stdout and stderr apart without capsys."""
    import contextlib
    import io

    from gankit.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def test_anomaly_fit_shows_the_gan_bar_then_the_encoder_bar(anomaly_run):
    (code, out, err), _ = anomaly_run
    assert code == 0, err
    assert _has_bar(err, "encoder") and err.count(BAR) >= 2  # the engine's bar, then the encoder's
    assert BAR not in out and "wrote" in out


def test_anomaly_fit_quiet_shows_none(tmp_path, capsys):
    args = ["anomaly", "fit", "--data", "digits", "--normal-classes", "0", "--steps", "2", "--encoder-steps", "2",
            "--out", str(tmp_path), "--quiet"] + TINY_MLP
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert BAR not in err and "wrote" in out


@pytest.mark.parametrize("method", ["fanogan", "anogan"])
def test_anomaly_score_bar_and_quiet(anomaly_run, method, capsys):
    _, parent = anomaly_run
    run = str(next(parent.glob("*/anomaly.pt")).parent)
    args = ["anomaly", "score", run, "test:0-9", "--method", method, "--anogan-steps", "2"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert _has_bar(err, method) and BAR not in out
    assert out.splitlines()[0] == "i,index,label,score" and len(out.splitlines()) >= 11
    code, quiet_out, err = run_cli(args + ["--quiet"], capsys)
    assert code == 0 and BAR not in err and "ms per image" in err  # the timing line stays
    assert quiet_out == out  # the same scores, bar or not


def test_sample_bar_and_quiet(anomaly_run, tmp_path, capsys):
    _, parent = anomaly_run
    run = str(next(parent.glob("*/anomaly.pt")).parent)
    code, out, err = run_cli(["sample", run, "-n", "30", "--out", str(tmp_path / "s.npz")], capsys)
    assert code == 0 and _has_bar(err, "generate") and BAR not in out, err
    code, out, err = run_cli(["sample", run, "--seeds", "0-4", "--out", str(tmp_path / "s.png")], capsys)
    assert code == 0 and _has_bar(err, "generate"), err
    code, out, err = run_cli(["sample", run, "-n", "30", "--out", str(tmp_path / "q.npz"), "--quiet"], capsys)
    assert code == 0 and err == "" and "wrote 30 samples" in out


def test_augment_bars_and_quiet(tmp_path, capsys):
    cfg = apply_overrides(load_preset("quick-mlp"), ["data.name=digits", "c_dim=10", "z_dim=4", "G.hidden=[16]",
                                                     "D.hidden=[16]", "train.steps=2", "train.batch=16",
                                                     "train.threads=1", "train.precision=fp32"])
    run = str(train(cfg, out=tmp_path / "runs", progress=False, report=False).run_dir)
    code, out, err = run_cli(["augment", run, "--n", "20", "--out", str(tmp_path / "aug")], capsys)
    assert code == 0, err
    assert _has_bar(err, "generate") and _has_bar(err, "write") and BAR not in out  # draw, then write the PNGs
    code, out, err = run_cli(["augment", run, "--n", "20", "--out", str(tmp_path / "aug.npz"), "--quiet"], capsys)
    assert code == 0 and err == "" and "wrote 20 labelled samples" in out


@pytest.fixture
def saddle_without_pictures(monkeypatch):
    """gankit theory saddle --quick, its pictures not drawn (they take the seconds); the bar still counts frames."""
    from gankit.theory import saddle

    def animate(sim, alt, path_gif, frames, bar=None):
        path_gif.write_bytes(b"")
        bar.update(frames)

    monkeypatch.setattr(saddle, "_animate", animate)
    monkeypatch.setattr(saddle, "_plot_panels", lambda paths, descent, verdicts, png, dpi: png.write_bytes(b""))


def test_theory_json_stdout_parses_with_the_bar_on_stderr(saddle_without_pictures, tmp_path, capsys):
    code, out, err = run_cli(["theory", "saddle", "--quick", "--json", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert _has_bar(err, "saddle: drawing") and json.loads(out)["name"] == "saddle"


def test_theory_quiet_shows_no_bar(saddle_without_pictures, tmp_path, capsys):
    code, out, err = run_cli(["theory", "saddle", "--quick", "--json", "--quiet", "--out", str(tmp_path)], capsys)
    assert code == 0 and err == "" and json.loads(out)["name"] == "saddle"


def test_library_calls_show_no_bar_unless_asked(capsys):
    """progress defaults to False in Python: the API and the rest of the tests stay silent."""
    from gankit.generate import generate
    from gankit.models import build_generator

    G = build_generator(apply_overrides(load_preset("quick-mlp"), ["z_dim=4", "G.hidden=[8]"]), (1, 8, 8))
    generate(G, 5)
    assert capsys.readouterr() == ("", "")
    torch.manual_seed(0)
    generate(G, 5, progress=True)
    assert _has_bar(capsys.readouterr().err, "generate")


def test_translate_apply_bar_and_quiet(tmp_path, capsys):
    from gankit.translate import train_translation

    r = train_translation("pix2pix", ["g_base=4", "d_base=4", "g_depth=2", "n_train=32", "batch=4", "threads=1",
                                      "steps=1"], out=tmp_path, progress=False)
    capsys.readouterr()
    code, out, err = run_cli(["translate", "apply", str(r.run_dir), "task:test", "--out", str(tmp_path / "a.npz")],
                             capsys)
    assert code == 0 and _has_bar(err, "translate") and "img/s" in err and BAR not in out, err
    code, out, err = run_cli(["translate", "apply", str(r.run_dir), "task:test", "--out", str(tmp_path / "b.npz"),
                              "--quiet"], capsys)
    assert code == 0 and err == "" and out.strip() == f"wrote {tmp_path / 'b.npz'}"
    code, _, err = run_cli(["translate", "apply", str(r.run_dir), "task:test", "--out", str(tmp_path / "c.png")],
                           capsys)
    assert code == 2 and "expected a folder or a .npz file" in err and len(err.strip().splitlines()) == 1
