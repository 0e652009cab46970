"""The VAE baseline (model = "vae"): the ELBO's terms, training, exact resume, Ctrl-C, and the GAN commands on it."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from gankit.checkpoint import load_checkpoint
from gankit.config import RunConfig, VAEConfig, apply_overrides, from_dict, load_preset, to_dict, validate
from gankit.generate import load_generator
from gankit.models import build_generator
from gankit.models.vae import build_encoder, kl_normal, recon_nll, reparameterise, vae_loss
from gankit.stats import read_stats
from gankit.train import train
from gankit.errors import UserError
from helpers import user_error
from helpers import run_cli

TINY = ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=4", "train.batch=16", "train.threads=1",
        "train.log_every=5", "train.snapshot_every=10", "train.ckpt_every=10", "train.grid=16"]


def tiny(*extra):
    return apply_overrides(load_preset("vae-mnist"), TINY + list(extra))


def test_kl_matches_the_closed_form_of_two_diagonal_gaussians():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    var = logvar.exp()
    # KL(N(mu, var) || N(0, 1)) per coordinate = log(1 / sigma) + (var + mu^2) / 2 - 1/2, summed over coordinates.
    expected = (-0.5 * logvar + (var + mu ** 2) / 2 - 0.5).sum(1)
    assert torch.allclose(kl_normal(mu, logvar), expected, atol=1e-6)
    # ... and against torch.distributions, an independent implementation.
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    assert torch.allclose(kl_normal(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1), atol=1e-5)
    assert torch.equal(kl_normal(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))  # q = prior


def test_recon_nll_is_the_log_likelihood_of_the_named_distribution():
    x = torch.tensor([[-1.0, 0.0, 1.0]])  # pixels 0, 0.5, 1 on [0, 1]
    x_hat = torch.tensor([[-0.5, 0.2, 0.6]])  # means 0.25, 0.6, 0.8
    p, t = (x_hat + 1) / 2, (x + 1) / 2
    bern = -(t * p.log() + (1 - t) * (1 - p).log()).sum(1)
    assert torch.allclose(recon_nll(x_hat, x, VAEConfig(likelihood="bernoulli")), bern, atol=1e-6)
    gauss = -torch.distributions.Normal(x_hat, 0.3).log_prob(x).sum(1)
    assert torch.allclose(recon_nll(x_hat, x, VAEConfig(likelihood="gaussian", sigma=0.3)), gauss, atol=1e-5)


def test_reparameterisation_passes_gradients_to_mu_and_logvar():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
    eps = torch.tensor([[1.5, -0.7]])
    z = reparameterise(mu, logvar, eps)
    assert torch.allclose(z, mu + (0.5 * logvar).exp() * eps)
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones(1, 2))  # dz/dmu = 1
    assert torch.allclose(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)  # dz/dlogvar = sigma eps / 2


def test_decoder_is_the_configs_generator_and_encoder_mirrors_its_discriminator():
    for arch in ("mlp", "dcgan"):
        cfg = apply_overrides(load_preset("vae-mnist"), [f"G.arch={arch}", f"D.arch={arch}", "G.base_channels=8",
                                                         "D.base_channels=8"])
        G, E = build_generator(cfg, (1, 28, 28)), build_encoder(cfg, (1, 28, 28))
        x = torch.rand(3, 1, 28, 28) * 2 - 1
        mu, logvar = E(x)
        assert mu.shape == logvar.shape == (3, cfg.z_dim)
        loss, recon, kl = vae_loss(E, G, x, torch.randn(3, cfg.z_dim), cfg.vae)
        assert torch.allclose(loss, recon + kl) and kl >= 0 and recon > 0
        loss.backward()
        assert all(p.grad is not None for p in list(E.parameters()) + list(G.parameters()))


@pytest.mark.parametrize("vae,gan", [("vae-mnist", "quick-mlp"), ("vae-dcgan-mnist", "dcgan-mnist")])
def test_each_vae_preset_has_the_nets_of_the_gan_it_is_compared_with(vae, gan):
    # docs/vae.md compares each VAE with a GAN "with the same nets": the decoder is the GAN's G, layer for layer,
    # and the encoder's body is the GAN's D body (the VAE's head is two linear maps, mu and log sigma^2).
    v, g = load_preset(vae), load_preset(gan)
    assert v.z_dim == g.z_dim and v.data == g.data and v.train.steps == g.train.steps
    shape = (1, 28, 28)
    dec, gen = build_generator(v, shape).state_dict(), build_generator(g, shape).state_dict()
    assert {k: t.shape for k, t in dec.items()} == {k: t.shape for k, t in gen.items()}
    from gankit.models import build_discriminator

    body = [tuple(t.shape) for k, t in build_encoder(v, shape).state_dict().items() if k.startswith("body.")]
    d = [tuple(t.shape) for t in build_discriminator(g, shape).state_dict().values()]
    assert body and body == d[:len(body)] and len(d) - len(body) == 2, (body, d)  # D's head: one weight, one bias


def test_a_few_steps_lower_the_negative_elbo_and_stats_are_recorded(tmp_path):
    r = train(tiny("train.steps=150"), out=tmp_path, progress=False)
    assert r.run_dir.name == "00000-vae-mnist" and r.step == 150
    rows = read_stats(r.run_dir / "stats.jsonl")
    assert [row["step"] for row in rows] == list(range(1, 151))
    for row in rows:
        assert {"loss", "recon", "kl", "grad_norm_E", "grad_norm_G", "lr_g"} <= set(row)
        assert math.isclose(row["loss"], row["recon"] + row["kl"], rel_tol=1e-4) and row["kl"] >= 0
    first = sum(row["loss"] for row in rows[:10]) / 10
    last = sum(row["loss"] for row in rows[-10:]) / 10
    assert last < 0.8 * first, (first, last)
    state = load_checkpoint(r.run_dir)
    assert {"G", "G_ema", "E"} == set(state["nets"]) and {"G", "E"} == set(state["optims"])
    for name in ("samples-000150.png", "samples.png", "config.json"):
        assert (r.run_dir / name).is_file()
    from gankit.report import write_report  # the run report reads VAE stats without a GAN's keys

    assert write_report(r.run_dir).is_file()


def _assert_same(a, b):
    assert a["step"] == b["step"]
    for part in ("G", "E", "G_ema"):
        for k in a["nets"][part]:
            assert torch.equal(a["nets"][part][k], b["nets"][part][k]), f"{part}.{k} differs"
    for opt in ("G", "E"):
        for i, s in a["optims"][opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b["optims"][opt]["state"][i][k]), f"optimizer {opt}[{i}].{k} differs"
    assert torch.equal(a["rng"]["z"], b["rng"]["z"])


@pytest.mark.parametrize("extra", [[], ["vae.likelihood=gaussian", "vae.beta=0.5", "D.dropout=0.3", "train.ema=0.9"]])
def test_resume_is_bitwise_exact(tmp_path, extra):
    full = train(tiny("train.steps=30", *extra), out=tmp_path / "full", progress=False)
    half = train(tiny("train.steps=13", *extra), out=tmp_path / "half", progress=False)
    resumed = train(resume=half.run_dir, steps=30, progress=False)
    assert resumed.run_dir == half.run_dir and resumed.step == 30
    _assert_same(load_checkpoint(full.run_dir), load_checkpoint(resumed.run_dir))
    a, b = read_stats(full.run_dir / "stats.jsonl"), read_stats(resumed.run_dir / "stats.jsonl")
    assert a == b


def test_gankit_train_sample_and_eval_on_a_vae_run(tmp_path, capsys):
    code, out, err = run_cli(["train", "--preset", "vae-mnist", "--data", "digits", "--set", "G.hidden=[32]",
                              "--set", "D.hidden=[32]", "--set", "z_dim=4", "--set", "train.batch=16",
                              "--set", "train.threads=1", "--steps", "20", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0, err
    run_dir = tmp_path / "00000-vae-mnist"
    G, cfg, _ = load_generator(run_dir)
    assert cfg.model == "vae" and G.z_dim == 4
    code, out, err = run_cli(["sample", str(run_dir), "-n", "10", "--seed", "3", "--out", str(tmp_path / "a.npz")],
                             capsys)
    assert code == 0, err
    x = np.load(tmp_path / "a.npz")["x"]
    assert x.shape == (10, 1, 8, 8) and -1 <= x.min() and x.max() <= 1
    code, out, err = run_cli(["sample", str(run_dir), "-n", "16", "--out", str(tmp_path / "g.png")], capsys)
    assert code == 0 and (tmp_path / "g.png").is_file(), err
    code, out, err = run_cli(["eval", str(run_dir), "--metrics", "fid,pr,classes", "-n", "200", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert math.isfinite(res["fid"]["value"]) and 0 <= res["pr"]["precision"] <= 1


def test_old_configs_without_model_still_load_as_gans():
    data = to_dict(load_preset("quick-mlp"))
    del data["model"], data["vae"]  # a config.json written before the VAE existed
    cfg = validate(from_dict(data))
    assert cfg.model == "gan" and cfg.vae == VAEConfig() and cfg == load_preset("quick-mlp")
    assert RunConfig().model == "gan"


@pytest.mark.parametrize("override, fragment", [
    ("model=autoencoder", "'model' must be one of gan, vae"),
    ("vae.likelihood=poisson", "'vae.likelihood' must be one of bernoulli, gaussian"),
    ("vae.beta=-1", "'vae.beta' must be >= 0"),
    ("vae.sigma=0", "'vae.sigma' must be > 0"),
    ("z_dist=uniform", "needs z_dist='normal'"),
    ("c_dim=10", "'c_dim' must be 0 for model=vae"),
    ("D.pac=2", "'D.pac' must be 1 for model=vae"),
    ("train.d_steps=2", "'train.d_steps' must be 1 for model=vae"),
    ("G.out=linear", "vae.likelihood='bernoulli' needs pixel means in [-1, 1]"),
])
def test_bad_vae_config_is_one_line_error(override, fragment):
    user_error(lambda: apply_overrides(load_preset("vae-mnist"), [override]), fragment)


def test_ctrl_c_saves_a_vae_checkpoint_that_resumes_exactly(tmp_path):
    common = ["--preset", "vae-mnist", "--data", "digits", "--set", "G.hidden=[32]", "--set", "D.hidden=[32]",
              "--set", "z_dim=4", "--set", "train.batch=16", "--set", "train.threads=1", "--set", "train.log_every=1",
              "--set", "train.ckpt_every=100000", "--set", "train.snapshot_every=100000", "--steps", "3000", "--quiet",
              "--set", "train.precision=fp32"]  # the child and this process alike, on CPUs with or without native bf16
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def gankit(*args):
        return subprocess.Popen([sys.executable, "-m", "gankit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)

    p = gankit("train", *common, "--out", str(tmp_path / "a"))
    stats = tmp_path / "a" / "00000-vae-mnist" / "stats.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (stats.exists() and len(stats.read_text().splitlines()) >= 30):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "interrupted at step" in err
    stopped = load_checkpoint(tmp_path / "a" / "00000-vae-mnist")["step"]
    assert 30 <= stopped < 3000
    # The uninterrupted reference: the same steps in one go.
    full = train(tiny("train.precision=fp32", "train.log_every=1", "train.ckpt_every=100000",
                      "train.snapshot_every=100000", f"train.steps={stopped + 20}"), out=tmp_path / "b", progress=False)
    resumed = train(resume=tmp_path / "a" / "00000-vae-mnist", steps=stopped + 20, progress=False)
    _assert_same(load_checkpoint(full.run_dir), load_checkpoint(resumed.run_dir))


def test_commands_that_need_a_discriminator_refuse_a_vae_run_in_one_line(tmp_path, capsys):
    from gankit.apps.anomaly import fit

    run_dir = train(tiny("train.steps=2"), out=tmp_path, progress=False).run_dir
    code, _, err = run_cli(["invert", str(run_dir), "test:0", "--features", "D", "--steps", "2", "--restarts", "1",
                            "--out", str(tmp_path / "z.npz")], capsys)
    assert code == 2 and "has no discriminator" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(UserError, match="anomaly detection needs a GAN"):
        fit(tiny("train.steps=2"), normal_classes=[0, 1], out=tmp_path / "a")


def test_the_run_report_draws_the_vae_losses(tmp_path):
    from gankit.report import curve_pngs, write_report

    run_dir = train(tiny("train.steps=6"), out=tmp_path, progress=False).run_dir
    rows = read_stats(run_dir / "stats.jsonl")
    titles = [t for t, _, _ in curve_pngs(rows)]
    assert titles[0] == "VAE losses" and "Gradient norms" in titles
    assert "VAE: negative ELBO" not in titles  # titles are the short names; the page shows them
    assert "VAE losses" in write_report(run_dir).read_text()
