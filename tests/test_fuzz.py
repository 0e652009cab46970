"""Bad input to every command: exit 2, one line on stderr, no traceback, and the reference run's files unchanged.

Each case is a command line a user (or an attacker) might type; the reference run is trained once and its
files' checksums are compared after every case.
"""

import hashlib
import pickle

import pytest
import torch

from gankit.config import apply_overrides, load_preset
from gankit.train import train
from helpers import run_cli

R = "{run}"  # replaced by the reference run directory
T = "{tmp}"  # replaced by a scratch folder

CASES = [
    # train: config values and options
    ["train", "--set", "stepz=3"], ["train", "--set", "train.batch=0"], ["train", "--set", "train.steps=-1"],
    ["train", "--set", "z_dim=0"], ["train", "--set", "D.dropout=1.5"], ["train", "--set", "optim.beta1=1"],
    ["train", "--set", "loss.d_loss=hinge"], ["train", "--set", "train.batch=[1,2]"], ["train", "--set", "=3"],
    ["train", "--set", "G.hidden=[0]"], ["train", "--set", "data.channels=2"], ["train", "--set", "model=stylegan"],
    ["train", "--set", "optim.lr_g=-1"], ["train", "--set", "optim.lr_d=Infinity"], ["train", "--set", "z_dim=1e9"],
    ["train", "--set", "train.threads=-3"], ["train", "--set", "pix2pix.lambda_l1=3"], ["train", "--steps", "0"],
    ["train", "--preset", "nope"], ["train", "--data", f"{T}/missing"], ["train", "--config", f"{T}/missing.json"],
    ["train", "--config", f"{T}/junk.json"], ["train", "--resume", f"{T}/missing"],
    ["train", "--resume", f"{T}/junk.pt"],
    ["train", "--resume", R, "--set", "train.batch=8"], ["train", "--resume", R, "--steps", "1"],
    ["train", "--preset", "pix2pix-edges", "--data", "digits"], ["train", "--device", "tpu"],
    ["train", "--precision", "fp16"], ["train", "--out", f"{T}/a_file"],
    # sample
    ["sample", R, "-n", "0"], ["sample", R, "-n", "-5"], ["sample", R, "--out", f"{T}/x.gif"],
    ["sample", R, "--class", "3", "--out", f"{T}/x.png"], ["sample", R, "--seeds", "9-2", "--out", f"{T}/x.png"],
    ["sample", R, "--seeds", "a,b", "--out", f"{T}/x.png"], ["sample", f"{T}/missing", "--out", f"{T}/x.png"],
    ["sample", f"{T}/junk.pt", "--out", f"{T}/x.png"], ["sample", f"{T}/code.pt", "--out", f"{T}/x.png"],
    ["sample", f"{T}/other.pt", "--out", f"{T}/x.png"], ["sample", R, "--out", f"{T}/a_file/x.png"],
    ["sample", R, "-n", "999999999999", "--out", f"{T}/x.npz"],
    # eval
    ["eval", R, "--metrics", "bogus"], ["eval", R, "-n", "1"], ["eval", R, "--split", "nope"],
    ["eval", R, "--features", "nope"], ["eval", f"{T}/s.npy"], ["eval", R, "--data", f"{T}/missing"],
    # the apps
    ["invert", R, "test:99999999"], ["invert", R, "test:x"], ["invert", R, f"{T}/missing.png"],
    ["invert", R, f"{T}/junk.pt"], ["interpolate", R, "--steps", "0"], ["interpolate", R, "--out", f"{T}/x.gif"],
    ["arithmetic", R, "--plus", "nothing:1"], ["fit-encoder", R, "--steps", "0"], ["augment", R, "--n", "10",
                                                                                 "--out", f"{T}/aug.npz"],
    ["anomaly", "score", R, "test:0-9"], ["export", R, "--out", f"{T}/G.txt"], ["export", R, "--out", f"{T}/a_file"],
    ["report", f"{T}/missing"], ["theory", "fig9"], ["translate", "apply", R, "task:test", "--out", f"{T}/o"],
    ["translate", "train", "--system", "cyclegan", "--set", "cyclegan.history=-1"],
    ["translate", "train", "--preset", "quick-mlp"], ["bench", "--preset", "nope"], ["no-such-command"],
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    cfg = apply_overrides(load_preset("quick-mlp"), ["data.name=digits", "G.hidden=[16]", "D.hidden=[16]", "z_dim=4",
                                                 "train.steps=2", "train.batch=16", "train.precision=fp32"])
    run = train(cfg, out=tmp_path_factory.mktemp("ref"), progress=False, report=False).run_dir
    scratch = tmp_path_factory.mktemp("scratch")
    (scratch / "junk.pt").write_bytes(b"\x00not a checkpoint" * 10)
    (scratch / "junk.json").write_text("{nope")
    (scratch / "a_file").write_text("a file where a folder is expected")
    torch.save({"weights": torch.ones(2)}, scratch / "other.pt")  # a torch file that is not ours

    class Evil:
        def __reduce__(self):
            return (print, ("code ran on load",))

    (scratch / "code.pt").write_bytes(pickle.dumps({"format": "gankit-checkpoint", "x": Evil()}))
    import numpy as np

    np.save(scratch / "s.npy", np.zeros((4, 1, 8, 8), np.float32))
    return run, scratch


def _checksums(run):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.iterdir()) if p.is_file()}


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c)[:60] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(reference, args, capsys):
    run, scratch = reference
    before = _checksums(run)
    argv = [a.replace(R, str(run)).replace(T, str(scratch)) for a in args]
    code, out, err = run_cli(argv, capsys)
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert "code ran on load" not in out + err
    assert _checksums(run) == before, argv
