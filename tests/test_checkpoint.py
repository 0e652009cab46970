import os

import pytest
import torch

from gankit.checkpoint import load_checkpoint, save_checkpoint
from gankit.errors import UserError


def test_round_trip_and_atomic_leftovers(tmp_path):
    state = {"step": 5, "G": {"w": torch.arange(4.0)}, "rng": torch.get_rng_state()}
    save_checkpoint(tmp_path / "c.pt", state)
    back = load_checkpoint(tmp_path / "c.pt")
    assert back["step"] == 5 and torch.equal(back["G"]["w"], torch.arange(4.0))
    assert torch.equal(back["rng"], state["rng"])
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind


def test_directory_means_its_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})
    assert load_checkpoint(tmp_path)["step"] == 1


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_code_running_checkpoint_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "gankit-checkpoint", "version": 1, "payload": _RunsCode()}, path)
    with pytest.raises(UserError, match="refusing to load"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"hello, not a checkpoint")
    with pytest.raises(UserError, match="is not a gankit checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="no 'gankit-checkpoint' marker"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(UserError, match="has no checkpoint.pt"):
        load_checkpoint(tmp_path)


def test_the_system_of_a_checkpoint_new_and_of_gankit_0_1(tmp_path):
    from gankit.checkpoint import system_of

    assert system_of({"system": "cyclegan", "config": {}}) == "cyclegan"
    assert system_of({"config": {"model": "vae"}}) == "vae"  # a VAE checkpoint of gankit 0.1: no system field
    assert system_of({"config": {"preset": "quick-mlp"}}) == "gan"  # a GAN checkpoint of gankit 0.1


def test_sampling_an_image_to_image_run_says_what_to_use_in_one_line(tmp_path, capsys):
    from helpers import run_cli

    from gankit.translate import train_translation

    tiny = {"g_base": 4, "d_base": 4, "g_depth": 2, "n_train": 64, "batch": 8, "threads": 1}
    run_dir = train_translation("pix2pix", {**tiny, "steps": 2}, out=tmp_path, progress=False).run_dir
    code, _, err = run_cli(["sample", str(run_dir), "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "is a pix2pix image-to-image run" in err and "gankit translate apply" in err
    assert not (tmp_path / "x.png").exists()
