"""gankit export: the written ONNX / TorchScript file, run by onnxruntime / torch.jit, equals G on the same inputs."""

import numpy as np
import pytest
import torch

from gankit.config import apply_overrides, load_preset
from gankit.export import export
from gankit.run import load_run
from gankit.train import train
from helpers import run_cli, user_error

FAST = ["train.precision=fp32", "train.threads=1", "train.batch=16", "train.log_every=2", "train.snapshot_every=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("export-runs")

    def run(preset, *extra):
        cfg = apply_overrides(load_preset(preset), FAST + list(extra))
        return train(cfg, out=out, progress=False, report=False).run_dir

    return {
        "images": run("quick-mlp", "train.steps=2", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8"),
        "conditional": run("cgan-mnist", "train.steps=2", "G.base_channels=8", "D.base_channels=8", "z_dim=8"),
        "vectors": run("ring8", "train.steps=2", "data.toy_n=200"),
        "uniform": run("gauss1d", "train.steps=2", "data.toy_n=200"),
    }


def _inputs(G, n, seed):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    return (z, torch.arange(n) % G.c_dim) if G.c_dim else (z,)


def _run_file(path, inputs):
    if str(path).endswith(".onnx"):
        import onnxruntime

        s = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in s.get_inputs()]
        return torch.from_numpy(s.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0])
    with pytest.warns(DeprecationWarning):  # torch 2.13 deprecates TorchScript; torch-fidelity still reads it
        return torch.jit.load(str(path))(*inputs)


@pytest.mark.parametrize("kind", ["images", "conditional", "vectors"])
@pytest.mark.parametrize("suffix", [".onnx", ".pth"])
def test_the_exported_file_is_G_for_any_batch_size(runs, tmp_path, kind, suffix):
    res = export(runs[kind], tmp_path / f"G{suffix}")
    G = load_run(runs[kind]).generator()
    assert res["max_abs_diff"] < 1e-4 and res["inputs"]["z"] == ["N", G.z_dim]
    assert ("c" in res["inputs"]) == bool(G.c_dim)
    for n in (1, 5, 33):  # a batch axis other than the one traced
        inputs = _inputs(G, n, seed=n)
        got = _run_file(tmp_path / f"G{suffix}", inputs)
        assert got.shape == (n, *G.data_shape) and torch.allclose(got, G(*inputs), atol=1e-5)


def test_uint8_pixels_are_torch_fidelitys_rgb_form(runs, tmp_path):
    export(runs["images"], tmp_path / "G.onnx", pixels="uint8")
    G = load_run(runs["images"]).generator()
    (z,) = _inputs(G, 6, seed=3)
    got = _run_file(tmp_path / "G.onnx", (z,))
    want = ((G(z).clamp(-1, 1) + 1) * 127.5).round()  # [6, 1, 28, 28] in [0, 255]
    assert got.dtype == torch.uint8 and got.shape == (6, 3, 28, 28)
    assert all(torch.equal(got[:, i], got[:, 0]) for i in (1, 2))  # gray repeated to RGB
    assert (got[:, :1].float() - want).abs().max() <= 1  # ONNX and torch may round a .5 differently


def test_uniform_0_1_noise_maps_to_Gs_uniform(runs, tmp_path):
    res = export(runs["uniform"], tmp_path / "G.pth", z_input="uniform_0_1")
    G = load_run(runs["uniform"]).generator()
    assert res["z_dist"] == "uniform" == G.z_dist
    u = torch.rand(9, G.z_dim, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(_run_file(tmp_path / "G.pth", (u,)), G(3 ** 0.5 * (2 * u - 1)), atol=1e-6)
    user_error(lambda: export(runs["images"], tmp_path / "x.pth", z_input="uniform_0_1"),
               "for runs with z_dist=uniform")


def test_bad_exports_are_one_line_and_write_nothing(runs, tmp_path, capsys):
    from gankit.translate import train_translation

    user_error(lambda: export(runs["images"], tmp_path / "G.txt"), "cannot tell the format", ".onnx")
    user_error(lambda: export(runs["images"], tmp_path / "G.onnx", fmt="torchscript"), "should end in .pth")
    user_error(lambda: export(runs["vectors"], tmp_path / "G.onnx", pixels="uint8"), "makes vectors of shape [2]")
    (tmp_path / "dir.onnx").mkdir()
    user_error(lambda: export(runs["images"], tmp_path / "dir.onnx"), "is a folder")
    i2i = train_translation("pix2pix", {"g_base": 4, "d_base": 4, "g_depth": 2, "n_train": 16, "batch": 4,
                                        "threads": 1, "steps": 1}, out=tmp_path / "t", progress=False).run_dir
    code, _, err = run_cli(["export", str(i2i), "--out", str(tmp_path / "p.onnx")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "translate apply" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.onnx", "t"]  # nothing written, no temp files


def test_cli_export_prints_what_it_wrote(runs, tmp_path, capsys):
    import json

    code, out, err = run_cli(["export", str(runs["conditional"]), "--out", str(tmp_path / "G.onnx"), "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["c_dim"] == 10 and res["inputs"] == {"z": ["N", 8], "c": ["N"]}
    assert res["output"]["x"] == ["N", 1, 28, 28]
    code, out, _ = run_cli(["export", str(runs["conditional"]), "--out", str(tmp_path / "G.pth")], capsys)
    assert code == 0 and "wrote" in out and "torchscript" in out and "10 classes" in out
    assert np.isfinite(res["max_abs_diff"])
