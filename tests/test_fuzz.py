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
    # more config values: every kind of check validate() makes
    ["train", "--set", "train.precision=fp16"], ["train", "--set", "G.arch=transformer"],
    ["train", "--set", "loss.reg_every=0"], ["train", "--set", "train.ema=1.0"],
    ["train", "--set", "train.ema=0.5", "--set", "train.ema_kimg=1"], ["train", "--set", "loss.augment=rotate"],
    ["train", "--set", "loss.ada_target=0.6"], ["train", "--set", "c_dim=-1"], ["train", "--set", "z_dist=cauchy"],
    ["train", "--set", "D.pac=0"], ["train", "--set", "D.mbd=-1"], ["train", "--set", "optim.name=lbfgs"],
    ["train", "--set", "train.d_steps=0"], ["train", "--set", "train.log_every=0"],
    ["train", "--set", "data.name=nosuchset"], ["train", "--set", "optim.lr_decay=0.5"],
    ["train", "--set", "train.batch=100000"], ["train", "--set", "D.norm=layer"], ["train", "--set", "G.out=relu"],
    ["train", "--set", "loss.clip=-1"], ["train", "--set", "train.seed=x"], ["train", "--set", "G.hidden=7"],
    ["train", "--set", "train.steps=NaN"], ["train", "--set", "data.toy_n=0"],
    ["train", "--set", "D.arch=resnet", "--set", "D.blocks=0"],
    ["train", "--set", "loss.d_loss=rpgan"], ["train", "--set", "train.grid=0"],
    # sample, eval: options
    ["sample", R, "--seed", "x", "--out", f"{T}/x.png"], ["sample", R, "-n", "abc"],
    ["sample", R, "--device", "tpu", "--out", f"{T}/x.png"], ["sample", R, "--seeds", "0-99999999999"],
    ["invert", R, "test:0-99999999999"],
    ["eval", R, "--features", "inception", "--inception-weights", f"{T}/missing.pth"], ["eval", R, "-n", "0"],
    ["eval", R, "--device", "tpu"], ["eval", f"{T}/junk.pt"], ["eval", f"{T}/a_file"],
    ["eval", R, "--metrics", ""], ["eval", f"{T}/s.npy", "--data", "nosuchset"],
    # the apps: counts, modes, ranges, outputs
    ["invert", R, "test:0", "--steps", "0"], ["invert", R, "test:0", "--restarts", "0"],
    ["invert", R, "test:0", "--features", "nope"], ["invert", R, "test:0", "--method", "nope"],
    ["invert", R, "test:0", "--out", f"{T}/z.png"], ["invert", R, "test:0", "--prior-weight", "-1"],
    ["invert", R, "test:5-2"], ["invert", R, "nosplit:0"],
    ["interpolate", R, "--between-real", "0", "999999"], ["interpolate", R, "--pairs", "0"],
    ["interpolate", R, "--mode", "nope"], ["interpolate", R, "--between", "1", "2", "--between-real", "0", "1"],
    ["interpolate", R, "--out", f"{T}/a_file/x.png"],
    ["arithmetic", R], ["arithmetic", R, "--plus", "seed:x"], ["arithmetic", R, "--plus", "seed:1", "--n", "-1"],
    ["arithmetic", R, "--plus", "seed:1", "--noise", "-1"], ["arithmetic", R, "--plus", "real:test:999999"],
    ["arithmetic", R, "--plus", "seed:1", "--out", f"{T}/x.gif"],
    ["augment", R, "--n", "0", "--out", f"{T}/aug0.npz"], ["export", R, "--format", "nope"],
    ["report", f"{T}/a_file"], ["compare", f"{T}/missing"], ["theory", "collapse", "--out", f"{T}/a_file"],
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
