"""Algorithm 1 of Goodfellow et al. (2014): k steps of D, then one step of G.

    for each training step:
        for k = d_steps times:
            x_real ~ data (a fresh minibatch of m examples), z ~ p_z (fresh noise)
            update D by descending  -[log D(x) + log(1 - D(G(z)))]
        z ~ p_z (fresh noise)
        update G by descending the G loss (non-saturating -log D(G(z)) by default)
        update G_ema

With ``model = "vae"`` the same loop trains a variational autoencoder instead (Kingma & Welling
2014; gankit.models.vae): each step is one gradient step on the negative ELBO of a fresh minibatch,
G is the decoder and the encoder E takes D's place in the checkpoint (as "E", "opt_E").

The whole loop is the one function :func:`train`; everything it needs to continue (weights,
optimizer moments, RNG states, the minibatch order) is in one checkpoint, so a resumed run ends
bitwise where an uninterrupted one would (on the CPU).

Example:
    >>> from gankit.config import load_preset, apply_overrides
    >>> from gankit.train import train
    >>> cfg = apply_overrides(load_preset("ring8"), ["train.steps=20", "data.toy_n=2000"])
    >>> result = train(cfg, out="/tmp/gankit-doctest", progress=False)
    >>> result.step
    20
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gankit import checkpoint as ckpt
from gankit import distributed
from gankit.config import RunConfig, save_json, to_dict, from_dict, validate
from gankit.data import build_dataset
from gankit.errors import TrainingDiverged, UserError
from gankit.losses import D_LOSSES, G_LOSSES, gradient_penalty, r1_penalty
from gankit.models import MinibatchDiscrimination, build_discriminator, build_generator, sample_z
from gankit.models.vae import build_encoder, vae_loss
from gankit.stats import StatsLog
from gankit.training.runtime import (StopFlag, adam_or_sgd, grad_norm, lr_at, native_bf16, next_run_dir,  # noqa: F401
                                     resolve_device, resolve_precision, set_threads)
from gankit.training.sampler import BatchSampler
from gankit.viz import save_samples


@dataclass
class TrainResult:
    run_dir: Path  # where config.json, stats.jsonl, grids and checkpoint.pt live
    step: int  # training steps completed
    interrupted: bool  # True if stopped by Ctrl-C / SIGTERM before cfg.train.steps
    checkpoint: Path  # the last checkpoint written
    samples: Path | None  # the last sample picture written
    G: nn.Module | None = None  # the trained networks as this process holds them (G_ema: the average drawn from)
    D: nn.Module | None = None  # a VAE run: its encoder E
    G_ema: nn.Module | None = None


def labels_for(cfg: RunConfig, data) -> torch.Tensor:
    """The data's labels for a conditional run (c_dim > 0); UserError if it has none or too many classes."""
    if data.y is None:
        raise UserError(f"c_dim = {cfg.c_dim} asks for a conditional GAN but the data {data.name!r} has no labels")
    top = int(data.y.max()) + 1
    if top > cfg.c_dim:
        raise UserError(f"c_dim = {cfg.c_dim} but the data {data.name!r} has labels up to {top - 1}; set c_dim={top}")
    return data.y.long()


def random_labels(n: int, c_dim: int, generator: torch.Generator, device: torch.device) -> torch.Tensor | None:
    """Labels for generated samples, uniform over the classes (None when unconditional)."""
    if not c_dim:
        return None
    return torch.randint(c_dim, (n,), generator=generator, device=device)  # [n]


def grid_labels(n: int, c_dim: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Labels of a sample grid: classes in consecutive blocks, so each class fills its own rows."""
    if not c_dim:
        return None
    return (torch.arange(n, device=device) * c_dim) // n  # [n]


def grid_columns(n: int, c_dim: int) -> int | None:
    """Columns of a grid with one row per class (when n divides evenly); None = square."""
    return n // c_dim if c_dim and n % c_dim == 0 else None


def make_optimizer(cfg: RunConfig, params, lr: float) -> torch.optim.Optimizer:
    """The optimizer of one network from ``cfg.optim`` (see :func:`gankit.training.runtime.adam_or_sgd`)."""
    o = cfg.optim
    return adam_or_sgd(o.name, params, lr, betas=(o.beta1, o.beta2), momentum=o.momentum)


def schedule(cfg: RunConfig, step: int, lr0: float) -> tuple[float, float]:
    """(lr, momentum) at ``step``: lr0 / decay^step floored at lr_min; momentum ramped linearly."""
    o = cfg.optim
    lr = lr_at(step, lr0, o.lr_decay, o.lr_min)
    ramp = min(1.0, step / o.momentum_ramp_steps) if o.momentum_ramp_steps > 0 else 1.0
    momentum = o.momentum + (o.momentum_final - o.momentum) * ramp if o.momentum_ramp_steps > 0 else o.momentum
    return lr, momentum


def scores_independently(D: nn.Module) -> bool:
    """True when D's logit for a sample (or pack) does not depend on the rest of the batch: no BatchNorm
    (batch statistics in train mode) and no minibatch discrimination. Only then may real and fake
    share one forward pass without changing what D computes."""
    return not any(isinstance(m, (nn.modules.batchnorm._BatchNorm, MinibatchDiscrimination)) for m in D.modules())


def uses_convolutions(cfg: RunConfig) -> bool:
    return cfg.G.arch == "dcgan" or cfg.D.arch == "dcgan"


def train(cfg: RunConfig | None = None, out: str | os.PathLike = "runs", resume: str | os.PathLike | None = None,
          steps: int | None = None, progress: bool = True) -> TrainResult:
    """Train a GAN by Algorithm 1 and return where its results are.

    Started by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) it trains data-parallel with
    DistributedDataParallel, each process on its slice of the global batch (see gankit.distributed);
    only rank 0 writes the run directory.

    Args:
        cfg: the run's config (ignored when resuming: the checkpoint's config is used).
        out: parent folder of the new run directory ``out/NNNNN-<preset>``.
        resume: a run directory (or checkpoint) to continue in place.
        steps: total steps to reach, overriding ``cfg.train.steps`` (e.g. to extend a resumed run).
        progress: show a progress bar on stderr.

    Returns:
        TrainResult with the run directory, steps done, whether it was interrupted, the checkpoint
        and the last sample picture.

    Raises:
        UserError: bad config, data or checkpoint.
    """
    # Resolve the config and the run directory.
    state = None
    if resume is not None:
        state = ckpt.load_checkpoint(resume)
        cfg = validate(from_dict(state["config"]))
    elif cfg is None:
        raise UserError("train() needs a config or a run directory to resume")
    if steps is not None:
        if steps <= 0:
            raise UserError(f"--steps must be a positive integer; got {steps}")
        cfg = validate(from_dict({**to_dict(cfg), "train": {**to_dict(cfg.train), "steps": steps}}))
    world, device = distributed.setup(resolve_device(cfg.train.device))
    try:
        return _train(cfg, state, resume, out, progress, world, device)
    finally:
        distributed.teardown(world)


def _train(cfg: RunConfig, state: dict | None, resume, out, progress: bool, world: distributed.World,
           device: torch.device) -> TrainResult:
    t = cfg.train
    set_threads(t.threads)
    precision = resolve_precision(t.precision, device)

    # Load data.
    data = build_dataset(cfg.data, "train")
    x_all = data.x.to(device)  # [N, *shape] in [-1, 1]
    y_all = labels_for(cfg, data).to(device) if cfg.c_dim else None  # [N] class labels
    shape = tuple(data.shape)
    channels_last = t.channels_last and uses_convolutions(cfg) and len(shape) == 3

    # Build networks and optimizers (identical on every rank: same seed). A VAE's decoder is G and its
    # encoder E plays D's part in the code below (its own optimizer, lr_d, stored as "E" / "opt_E").
    vae = cfg.model == "vae"
    if vae and world.parallel:
        raise UserError("model=vae trains in one process only; run `gankit train` without torchrun")
    d_key = "E" if vae else "D"
    torch.manual_seed(t.seed)
    G = build_generator(cfg, shape, x_mean=x_all.mean(0)).to(device)
    D = (build_encoder if vae else build_discriminator)(cfg, shape).to(device)
    if channels_last:  # NHWC: the layout oneDNN and cuDNN convolve fastest; values and state_dicts are unchanged
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_G = make_optimizer(cfg, G.parameters(), cfg.optim.lr_g)
    opt_D = make_optimizer(cfg, D.parameters(), cfg.optim.lr_d)
    # Every rank draws the global batch's indices and noise from identically seeded generators and
    # keeps its own slice `mine`: the ranks read disjoint data, and the streams (hence a checkpoint)
    # do not depend on the number of processes.
    b = t.batch
    if b * world.size > len(x_all):
        raise UserError(f"train.batch ({b}) x {world.size} processes is larger than the dataset ({len(x_all)} examples); "
                        "lower --set train.batch")
    sampler = BatchSampler(len(x_all), b * world.size, seed=t.seed + 1)
    mine = slice(world.rank * b, (world.rank + 1) * b)
    z_gen = torch.Generator(device).manual_seed(t.seed + 2)
    z_fixed = sample_z(t.grid, cfg.z_dim, cfg.z_dist, torch.Generator(device).manual_seed(t.seed + 3), device)
    c_fixed = grid_labels(t.grid, cfg.c_dim, device)  # one block of rows per class, or None
    loss_D_fn, loss_G_fn = D_LOSSES[cfg.loss.d_loss], G_LOSSES[cfg.loss.g_loss]
    probabilities = cfg.loss.d_loss == "bce"  # D(x) is a probability only in the paper's game
    gp_lambda, r1_gamma, clip = cfg.loss.gp_lambda, cfg.loss.r1_gamma, cfg.loss.clip  # 0 = off
    d_params = list(D.parameters())
    fused = t.fused_d and not vae and scores_independently(D)
    step = 0

    if state is not None:
        if tuple(state["data_shape"]) != shape:
            raise UserError(f"the data now has shape {list(shape)} but the checkpoint was trained on {list(state['data_shape'])}")
        G.load_state_dict(state["G"])
        D.load_state_dict(state[d_key])
        G_ema.load_state_dict(state["G_ema"])
        opt_G.load_state_dict(state["opt_G"])
        opt_D.load_state_dict(state[f"opt_{d_key}"])
        sampler.load_state_dict(state["sampler"])  # global: valid for any number of processes
        z_gen.set_state(state["rng"]["z"])
        torch.set_rng_state(state["rng"]["torch"])
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        z_fixed = state["z_fixed"].to(device)
        step = int(state["step"])
        run_dir = ckpt.find_checkpoint(resume).parent
    else:
        run_dir = Path(distributed.broadcast_str(world, str(next_run_dir(out, cfg.preset)) if world.main else ""))
        torch.manual_seed(t.seed + 4)  # dropout's stream, independent of the init draws above
    if world.rank > 0:  # each rank its own dropout masks (rank 0's stream is the one checkpoints keep)
        torch.manual_seed(t.seed + 4 + 7919 * world.rank + step)
    if world.main:
        save_json(cfg, run_dir / "config.json")
    log = StatsLog(run_dir / "stats.jsonl" if world.main else None)
    log.truncate_after(step)

    # The modules each phase calls. DDP averages gradients over ranks in the backward of the D update
    # (D_par) and of the G update (G_par); the no-grad fakes of the D update and the frozen D of the G
    # update need no synchronisation and use the plain modules. torch.compile wraps the calls that
    # repeat every step; the penalties' double backward stays eager (compiled graphs do not support it).
    G_par, D_par = G, D
    if world.parallel:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        G_par, D_par = DDP(G, device_ids=ids), DDP(D, device_ids=ids)
    fast = torch.compile if t.compile else (lambda m: m)
    G_fakes, D_update, G_update, D_frozen = fast(G), fast(D_par), fast(G_par), fast(D)

    def autocast():  # bf16 matmuls and convolutions; weights, gradients and optimizer state stay fp32
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def gather_state() -> None:
        """Before a picture or a checkpoint (every rank, at the same steps): rank 0's buffers everywhere, G_ema current."""
        distributed.sync_buffers(world, G, D)
        if t.ema == 0:
            G_ema.load_state_dict(G.state_dict())

    def snapshot_state() -> dict:
        rng = {"torch": torch.get_rng_state(), "z": z_gen.get_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(device)
        return {"config": to_dict(cfg), "step": step, "data_shape": list(shape), "data_info": data.info,
                "G": G.state_dict(), d_key: D.state_dict(), "G_ema": G_ema.state_dict(),
                "opt_G": opt_G.state_dict(), f"opt_{d_key}": opt_D.state_dict(), "sampler": sampler.state_dict(),
                "rng": rng, "z_fixed": z_fixed.cpu(), "world_size": world.size}

    def save_grid() -> Path:
        with torch.no_grad():
            x = G_ema(z_fixed, c_fixed)
        path = save_samples(x, run_dir / f"samples-{step:06d}.png", real=x_all[:5000], nrow=grid_columns(t.grid, cfg.c_dim),
                            title=f"{cfg.preset}, step {step}")
        latest = run_dir / ("samples.png")
        latest.write_bytes(path.read_bytes())
        return latest

    def d_update():
        """One D update on a fresh real minibatch and fresh noise; returns (loss, logits_real, logits_fake, penalties, grad norm)."""
        idx = sampler.next()[mine]
        x_real = x_all[idx]  # [m, *shape]
        c_real = y_all[idx] if cfg.c_dim else None  # [m] labels of the real batch
        c_fake = random_labels(b * world.size, cfg.c_dim, z_gen, device)
        c_fake = None if c_fake is None else c_fake[mine]  # [m] uniform over classes, or None
        z = sample_z(b * world.size, cfg.z_dim, cfg.z_dist, z_gen, device)[mine]  # [m, z_dim]
        with autocast():
            with torch.no_grad():
                x_fake = G_fakes(z, c_fake)  # [m, *shape]
            if fused:  # one pass over [real; fake]: the same logits as two passes, in one larger matmul per layer
                logits = D_update(torch.cat([x_real, x_fake.to(x_real.dtype)]),
                                  None if c_real is None else torch.cat([c_real, c_fake]))
                logits_real, logits_fake = logits.float().chunk(2)  # [m], [m] (/ D.pac: m is a multiple of it)
            else:
                logits_real, logits_fake = D_update(x_real, c_real).float(), D_update(x_fake, c_fake).float()  # [m], [m] (/ D.pac)
            loss_D = loss_D_fn(logits_real, logits_fake)
            penalties = {}
            if gp_lambda > 0:  # eps from z's generator (whose state the checkpoint keeps), sliced like z
                eps = torch.rand(b * world.size, *([1] * len(shape)), generator=z_gen, device=device)[mine]
                penalties["gp"] = gradient_penalty(D_par, x_real, x_fake.float(), lam=gp_lambda, c=c_real, eps=eps)
            if r1_gamma > 0:
                penalties["r1"] = r1_penalty(D_par, x_real, gamma=r1_gamma, c=c_real)
            for p in penalties.values():
                loss_D = loss_D + p
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        gnorm = grad_norm(D)
        opt_D.step()
        if clip > 0:  # WGAN's weight clipping keeps the critic K-Lipschitz for some K
            with torch.no_grad():
                torch._foreach_clamp_min_(d_params, -clip)
                torch._foreach_clamp_max_(d_params, clip)
        return loss_D, logits_real, logits_fake, penalties, gnorm

    def g_update():
        """One G update on fresh noise; D's weights get no gradient. Returns (loss, grad norm)."""
        z = sample_z(b * world.size, cfg.z_dim, cfg.z_dist, z_gen, device)[mine]
        c = random_labels(b * world.size, cfg.c_dim, z_gen, device)
        c = None if c is None else c[mine]
        with autocast():
            loss_G = loss_G_fn(D_frozen(G_update(z, c), c).float())
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        gnorm = grad_norm(G)
        opt_G.step()
        return loss_G, gnorm

    def elbo_update():
        """VAE: one step of E and G together on the negative ELBO of a fresh minibatch; returns (loss, recon, kl, grad norms)."""
        x = x_all[sampler.next()[mine]]  # [m, *shape]
        eps = torch.randn(b * world.size, cfg.z_dim, generator=z_gen, device=device)[mine]  # [m, z_dim]
        with autocast():
            loss, recon, kl = vae_loss(D_update, G_update, x, eps, cfg.vae)
        opt_G.zero_grad(set_to_none=True)
        opt_D.zero_grad(set_to_none=True)
        loss.backward()
        gnorm_E, gnorm_G = grad_norm(D), grad_norm(G)
        opt_D.step()
        opt_G.step()
        return loss, recon, kl, gnorm_E, gnorm_G

    ema_params = list(G_ema.parameters())
    g_params = list(G.parameters())
    samples_path = None
    from tqdm import tqdm

    bar = tqdm(total=t.steps, initial=step, unit="step", disable=not (progress and world.main), dynamic_ncols=True,
               file=sys.stderr, desc=run_dir.name, mininterval=0.1 if sys.stderr.isatty() else 10.0)
    G.train()
    D.train()
    with StopFlag() as stop:
        stopping = False  # with several processes, a stop is agreed at the next log interval so all stop together
        while step < t.steps and not stopping:
            lr_g, mom = schedule(cfg, step, cfg.optim.lr_g)
            lr_d, _ = schedule(cfg, step, cfg.optim.lr_d)
            for opt, lr in ((opt_G, lr_g), (opt_D, lr_d)):
                for group in opt.param_groups:
                    group["lr"] = lr
                    if "momentum" in group and cfg.optim.name == "sgd":
                        group["momentum"] = mom

            if vae:  # one step on the negative ELBO
                loss, recon, kl, gnorm_E, gnorm_G = elbo_update()
            else:  # Update D k times, then G once.
                D.requires_grad_(True)
                for _ in range(t.d_steps):
                    loss_D, logits_real, logits_fake, penalties, gnorm_D = d_update()
                D.requires_grad_(False)
                loss_G, gnorm_G = g_update()

            # Update G_ema.
            if t.ema > 0:
                with torch.no_grad():
                    # Warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): early on the
                    # average would mostly hold the random initial weights, so the decay starts small.
                    beta = min(t.ema, (1 + step) / (10 + step))
                    torch._foreach_lerp_(ema_params, g_params, 1.0 - beta)
                    for b_ema, b_live in zip(G_ema.buffers(), G.buffers()):
                        b_ema.copy_(b_live)
            step += 1

            # Record statistics; they are read back to the host once per log interval.
            # D's verdicts: probabilities for the paper's bce game; raw scores (critic values) otherwise,
            # where a sigmoid of the score would mean nothing. A VAE records -ELBO (loss), recon and KL.
            if vae:
                log.add(step, loss=loss.detach(), recon=recon.detach(), kl=kl.detach(), grad_norm_E=gnorm_E,
                        grad_norm_G=gnorm_G, lr_g=lr_g)
            else:
                if probabilities:
                    verdicts = {"D_real": torch.sigmoid(logits_real.detach()).mean(), "D_fake": torch.sigmoid(logits_fake.detach()).mean()}
                else:
                    verdicts = {"score_real": logits_real.detach().mean(), "score_fake": logits_fake.detach().mean()}
                log.add(step, loss_D=loss_D.detach(), loss_G=loss_G.detach(), **verdicts,
                        grad_norm_D=gnorm_D, grad_norm_G=gnorm_G, lr_g=lr_g,
                        **{name: p.detach() for name, p in penalties.items()})
            stopping = stop.requested and not world.parallel
            if step % t.log_every == 0 or step % t.ckpt_every == 0 or step == t.steps:  # never checkpoint unchecked steps
                means = log.flush()
                stop_any, diverged = distributed.any_rank(world, stop.requested, log.first_nonfinite is not None)
                stopping = stopping or stop_any
                if diverged:
                    bar.close()
                    bad_step, name = log.first_nonfinite or (step, "a statistic on another rank")
                    kept = ckpt.CHECKPOINT_NAME + " from an earlier step" if (run_dir / ckpt.CHECKPOINT_NAME).exists() else "no checkpoint (none was due yet)"
                    raise TrainingDiverged(f"training diverged: {name} became NaN or infinite at step {bad_step} "
                                           f"(see {run_dir / 'stats.jsonl'}); kept {kept}; try a lower optim.lr_d / optim.lr_g")
                bar.set_postfix({"-ELBO": f"{means['loss']:.1f}", "recon": f"{means['recon']:.1f}", "KL": f"{means['kl']:.1f}"}
                                if vae else
                                {"loss_D": f"{means['loss_D']:.3f}", "loss_G": f"{means['loss_G']:.3f}",
                                 **({"D(x)": f"{means['D_real']:.2f}", "D(G(z))": f"{means['D_fake']:.2f}"} if probabilities
                                    else {"f(x)": f"{means['score_real']:.2f}", "f(G(z))": f"{means['score_fake']:.2f}"})},
                                refresh=False)
            bar.update(1)

            # Save image snapshot and checkpoint (rank 0; every rank reaches these steps together).
            if step % t.snapshot_every == 0:
                gather_state()
                if world.main:
                    samples_path = save_grid()
            if step % t.ckpt_every == 0 and step < t.steps:
                gather_state()
                if world.main:
                    ckpt.save_checkpoint(run_dir / ckpt.CHECKPOINT_NAME, snapshot_state())

        # Done or interrupted: write everything at the step reached.
        log.flush()
        bar.close()
        gather_state()
        if world.main:
            if samples_path is None or step % t.snapshot_every != 0:
                samples_path = save_grid()
            ckpt.save_checkpoint(run_dir / ckpt.CHECKPOINT_NAME, snapshot_state())
        distributed.barrier(world)  # the checkpoint exists before any rank returns
    return TrainResult(run_dir=run_dir, step=step, interrupted=step < t.steps,
                       checkpoint=run_dir / ckpt.CHECKPOINT_NAME, samples=samples_path, G=G, D=D, G_ema=G_ema)
