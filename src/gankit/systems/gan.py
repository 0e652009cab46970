"""The ``gan`` system: Algorithm 1 of Goodfellow et al. (2014), k steps of D, then one step of G.

    for each training step:
        for k = d_steps times:
            x_real ~ data (a fresh minibatch of m examples), z ~ p_z (fresh noise)
            update D by descending  -[log D(x) + log(1 - D(G(z)))]
        z ~ p_z (fresh noise)
        update G by descending the G loss (non-saturating -log D(G(z)) by default)
        update G_ema

Every loss, penalty, augmentation, packing, minibatch discrimination, conditioning and EMA option of
the config is an option of this one system. A relativistic G loss (RpGAN) also reads D's logits on a
real batch in the G step: the last D update's real minibatch, as stylegan2-ada's and R3GAN's loops
reuse one real batch for every phase of an iteration. With ``loss.augment`` set, D is trained and
queried only as D(T(x)) (gankit.diffaug): every real and fake input of D, in both updates and in the
penalties, is augmented with per-sample draws, and the penalties differentiate D(T(x)) with respect
to the un-augmented x (as stylegan2-ada's R1 does). R1 and R2 come from the gradient of the D
update's own loss pass (as R3GAN's trainer computes them) unless D is compiled.

The system holds its networks, optimizers and losses and takes one step; the run directory, stats,
pictures, checkpoints, signals and DDP agreement are the engine's (:func:`gankit.training.loop.fit`).

Every rank of a DDP run draws the global batch's indices and noise from identically seeded
generators and keeps its own slice: the ranks read disjoint data, and the streams (hence a
checkpoint) do not depend on the number of processes.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from gankit import distributed
from gankit.config import RunConfig, to_dict
from gankit.errors import UserError
from gankit.diffaug import ada_adjust, apply_augment, check_policy, parse_policy, sample_params
from gankit.losses import (D_LOSSES, G_LOSSES, RELATIVISTIC_G_LOSSES, gradient_penalty, r1_penalty, r2_penalty,
                           zero_centred_penalties)
from gankit.models import MinibatchDiscrimination, build_discriminator, build_generator, sample_z
from gankit.training.runtime import adam_or_sgd, grad_norm, lr_at, resolve_precision
from gankit.training.sampler import BatchSampler
from gankit.viz import save_samples

ADA_INTERVAL = 4  # D updates between two adjustments of ADA's p (Karras et al. 2020, section 3: every 4 minibatches)

__all__ = ["GANSystem", "labels_for", "random_labels", "grid_labels", "grid_columns", "make_optimizer", "schedule",
           "scores_independently", "uses_convolutions"]


def labels_for(cfg: RunConfig, data) -> torch.Tensor:
    """The data's labels for a conditional run (c_dim > 0); UserError if it has none or too many classes."""
    if data.y is None:
        raise UserError(f"c_dim = {cfg.c_dim} asks for a conditional GAN but the data {data.name!r} has no labels; "
                        "train it unconditionally with --set c_dim=0 (or an unconditional preset such as dcgan-mnist)")
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


def ema_beta(step: int, images_per_step: int, ema: float, ema_kimg: float = 0.0, ema_rampup: float = 0.05) -> float:
    """The decay of G_ema's update after ``step`` G updates (0 at the first): G_ema <- beta G_ema + (1 - beta) G.

    With ``ema_kimg`` > 0 the average's half-life is set in images, as in stylegan2-ada
    (Karras et al. 2020; training/training_loop.py, ema_kimg and ema_rampup): half-life
    h = ema_kimg * 1000 images, at most ``ema_rampup`` times the images seen so far (0: no warm-up),
    and beta = 0.5 ** (images_per_step / h), so the weight of a step halves every h images whatever
    the batch. Otherwise ``ema`` is the decay per step, warmed up as TensorFlow's
    ExponentialMovingAverage with num_updates: min(ema, (1 + step) / (10 + step)).

    >>> round(ema_beta(10_000, 64, 0.0, ema_kimg=10), 6)  # 640k images seen: the full 10k-image half-life
    0.995574
    >>> ema_beta(100, 64, 0.0, ema_kimg=10) == 0.5 ** (64 / (0.05 * 6400))  # warm-up: h = 5% of 6,400 images
    True
    >>> round(ema_beta(3600, 64, 0.999), 6), round(3601 / 3610, 6)  # the per-step warm-up caps 0.999 at step 3,600
    (0.997507, 0.997507)
    """
    if ema_kimg > 0:
        half_life = ema_kimg * 1000.0
        if ema_rampup > 0:
            half_life = min(half_life, step * images_per_step * ema_rampup)
        return 0.5 ** (images_per_step / max(half_life, 1e-8))
    return min(ema, (1 + step) / (10 + step))


def lazy_weight(d_index: int, every: int) -> int:
    """How many times the R1 / R2 penalties count in D update number ``d_index`` (0, 1, ...) when they are taken
    lazily, once every ``every`` updates (Karras et al. 2020, "Analyzing and Improving the Image Quality of
    StyleGAN", section 4.1): ``every`` on the updates that take them, 0 on the others, so that over any
    ``every`` consecutive updates the penalty's total weight is the same as with ``every`` = 1.

    >>> [lazy_weight(i, 4) for i in range(9)]
    [4, 0, 0, 0, 4, 0, 0, 0, 4]
    >>> {lazy_weight(i, 1) for i in range(5)}
    {1}
    """
    return every if d_index % every == 0 else 0


def scores_independently(D: nn.Module) -> bool:
    """True when D's logit for a sample (or pack) does not depend on the rest of the batch: no BatchNorm
    (batch statistics in train mode) and no minibatch discrimination. Only then may real and fake
    share one forward pass without changing what D computes."""
    return not any(isinstance(m, (nn.modules.batchnorm._BatchNorm, MinibatchDiscrimination)) for m in D.modules())


def uses_convolutions(cfg: RunConfig) -> bool:
    return cfg.G.arch in ("dcgan", "resnet") or cfg.D.arch in ("dcgan", "resnet")


class GANSystem:
    """G, D and G_ema of one run, their optimizers, and one step of Algorithm 1.

    Args:
        cfg: the run's config.
        data: the training set (``gankit.data.build_dataset(cfg.data, "train")``).
        world: this process's place in a DDP run.
        device: where to train.
        state: a checkpoint to continue from (None: a fresh start).
    """

    d_key = "D"  # the name D's weights and optimizer have in the checkpoint ("E" for the VAE's encoder)
    hint = "try a lower optim.lr_d / optim.lr_g"  # advice when training diverges

    def __init__(self, cfg: RunConfig, data, world: distributed.World, device: torch.device, state: dict | None = None):
        t = cfg.train
        self.cfg, self.world, self.device, self.data = cfg, world, device, data
        self.precision = resolve_precision(t.precision, device)
        self.x_all = data.x.to(device)  # [N, *shape] in [-1, 1]
        self.y_all = labels_for(cfg, data).to(device) if cfg.c_dim else None  # [N] class labels
        self.shape = shape = tuple(data.shape)
        channels_last = t.channels_last and uses_convolutions(cfg) and len(shape) == 3

        # Build networks and optimizers (identical on every rank: same seed).
        torch.manual_seed(t.seed)
        self.G = build_generator(cfg, shape, x_mean=self.x_all.mean(0)).to(device)
        self.D = self.build_d(cfg, shape).to(device)
        if channels_last:  # NHWC: the layout oneDNN and cuDNN convolve fastest; values and state_dicts are unchanged
            self.G, self.D = self.G.to(memory_format=torch.channels_last), self.D.to(memory_format=torch.channels_last)
            self.x_all = self.x_all.contiguous(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_G = make_optimizer(cfg, self.G.parameters(), cfg.optim.lr_g)
        self.opt_D = make_optimizer(cfg, self.D.parameters(), cfg.optim.lr_d)
        b = self.b = t.batch
        if b * world.size > len(self.x_all):
            raise UserError(f"train.batch ({b}) x {world.size} processes is larger than the dataset ({len(self.x_all)} "
                            "examples); lower --set train.batch")
        self.sampler = BatchSampler(len(self.x_all), b * world.size, seed=t.seed + 1)
        self.mine = slice(world.rank * b, (world.rank + 1) * b)  # this rank's slice of every global draw
        self.z_gen = torch.Generator(device).manual_seed(t.seed + 2)
        self.z_fixed = sample_z(t.grid, cfg.z_dim, cfg.z_dist, torch.Generator(device).manual_seed(t.seed + 3), device)
        self.c_fixed = grid_labels(t.grid, cfg.c_dim, device)  # one block of rows per class, or None
        self.loss_D_fn, self.loss_G_fn = D_LOSSES[cfg.loss.d_loss], G_LOSSES[cfg.loss.g_loss]
        self.probabilities = cfg.loss.d_loss == "bce"  # D(x) is a probability only in the paper's game
        self.relativistic = cfg.loss.g_loss in RELATIVISTIC_G_LOSSES  # the G loss also reads D on real data
        self.policy = parse_policy(cfg.loss.augment)  # () = no augmentation
        check_policy(self.policy, shape)
        # ADA: p starts at 0 and follows r_t; the signs are summed on the device between adjustments.
        self.ada = cfg.loss.ada_target > 0
        self.ada_p, self.ada_rt, self.ada_sum, self.ada_n = 0.0, 0.0, torch.zeros((), device=device), 0
        self.real_last = None  # (x_real, c_real) of the last D update, for a relativistic G loss
        self.d_params = list(self.D.parameters())
        self.fused = t.fused_d and self.d_key == "D" and scores_independently(self.D)
        # R1 and R2 from the gradient of the loss pass itself (R3GAN's trainer), except through a compiled D, whose
        # graph has no double backward: then each penalty takes an eager pass of its own.
        self.penalties_share_pass = not t.compile
        self.step0 = 0
        if state is not None:
            self.load_state(state)
        else:
            torch.manual_seed(t.seed + 4)  # dropout's stream, independent of the init draws above
        if world.rank > 0:  # each rank its own dropout masks (rank 0's stream is the one checkpoints keep)
            torch.manual_seed(t.seed + 4 + 7919 * world.rank + self.step0)

        # The modules each phase calls. DDP averages gradients over ranks in the backward of the D update
        # (D_par) and of the G update (G_par); the no-grad fakes of the D update and the frozen D of the G
        # update need no synchronisation and use the plain modules. torch.compile wraps the calls that
        # repeat every step; the penalties' double backward stays eager (compiled graphs do not support it).
        self.G_par, self.D_par = self.G, self.D
        if world.parallel:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            self.G_par, self.D_par = DDP(self.G, device_ids=ids), DDP(self.D, device_ids=ids)
        fast = (lambda m: torch.compile(m, mode=t.compile_mode)) if t.compile else (lambda m: m)
        self.G_fakes, self.D_update = fast(self.G), fast(self.D_par)
        self.G_update, self.D_frozen = fast(self.G_par), fast(self.D)
        self.ema_params, self.g_params = list(self.G_ema.parameters()), list(self.G.parameters())

    def build_d(self, cfg: RunConfig, shape: tuple[int, ...]) -> nn.Module:
        return build_discriminator(cfg, shape)

    # ------------------------------------------------------------------------------------------
    # The engine's interface.

    def train(self, mode: bool = True) -> None:
        self.G.train(mode)
        self.D.train(mode)

    def autocast(self):  # bf16 matmuls and convolutions; weights, gradients and optimizer state stay fp32
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def set_lr(self, step: int) -> float:
        """Apply the schedules of ``step`` to both optimizers; return G's lr."""
        cfg = self.cfg
        lr_g, mom = schedule(cfg, step, cfg.optim.lr_g)
        lr_d, _ = schedule(cfg, step, cfg.optim.lr_d)
        for opt, lr in ((self.opt_G, lr_g), (self.opt_D, lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr
                if "momentum" in group and cfg.optim.name == "sgd":
                    group["momentum"] = mom
        return lr_g

    def train_step(self, step: int) -> dict:
        lr_g = self.set_lr(step)

        # Update D k times, then G once.
        self.D.requires_grad_(True)
        k = self.cfg.train.d_steps
        for i in range(k):
            loss_D, logits_real, logits_fake, penalties, gnorm_D = self.d_update(step * k + i)
        self.D.requires_grad_(False)
        loss_G, gnorm_G = self.g_update()
        self.update_ema(step)

        # D's verdicts: probabilities for the paper's bce game; raw scores (critic values) otherwise,
        # where a sigmoid of the score would mean nothing.
        if self.probabilities:
            verdicts = {"D_real": torch.sigmoid(logits_real.detach()).mean(),
                        "D_fake": torch.sigmoid(logits_fake.detach()).mean()}
        else:
            verdicts = {"score_real": logits_real.detach().mean(), "score_fake": logits_fake.detach().mean()}
        return {"loss_D": loss_D.detach(), "loss_G": loss_G.detach(), **verdicts, "grad_norm_D": gnorm_D,
                "grad_norm_G": gnorm_G, "lr_g": lr_g, **{name: p.detach() for name, p in penalties.items()},
                **({"ada_p": self.ada_p, "ada_rt": self.ada_rt} if self.ada else {})}

    def postfix(self, means: dict[str, float]) -> dict[str, str]:
        out = {"loss_D": f"{means['loss_D']:.3f}", "loss_G": f"{means['loss_G']:.3f}"}
        if self.probabilities:
            return {**out, "D(x)": f"{means['D_real']:.2f}", "D(G(z))": f"{means['D_fake']:.2f}"}
        return {**out, "f(x)": f"{means['score_real']:.2f}", "f(G(z))": f"{means['score_fake']:.2f}"}

    def sync(self) -> None:
        """Before a picture or a checkpoint (every rank, at the same steps): rank 0's buffers everywhere, G_ema
        current."""
        distributed.sync_buffers(self.world, self.G, self.D)
        if not self.cfg.train.averages_g:
            self.G_ema.load_state_dict(self.G.state_dict())

    def snapshot(self, run_dir: Path, step: int) -> Path:
        """The grid of G_ema on the fixed noise batch: ``samples-NNNNNN.png`` and ``samples.png``."""
        t = self.cfg.train
        with torch.no_grad():
            x = self.G_ema(self.z_fixed, self.c_fixed)
        path = save_samples(x, run_dir / f"samples-{step:06d}.png", real=self.x_all[:5000],
                            nrow=grid_columns(t.grid, self.cfg.c_dim), title=f"{self.cfg.preset}, step {step}")
        latest = run_dir / "samples.png"
        latest.write_bytes(path.read_bytes())
        return latest

    def state(self, step: int) -> dict:
        rng = {"torch": torch.get_rng_state(), "z": self.z_gen.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        k = self.d_key
        return {"system": self.cfg.model, "config": to_dict(self.cfg), "step": step,
                "nets": {"G": self.G.state_dict(), k: self.D.state_dict(), "G_ema": self.G_ema.state_dict()},
                "optims": {"G": self.opt_G.state_dict(), k: self.opt_D.state_dict()}, "rng": rng,
                "extra": {"data_shape": list(self.shape), "data_info": self.data.info,
                          "sampler": self.sampler.state_dict(), "z_fixed": self.z_fixed.cpu(),
                          "world_size": self.world.size, "precision": self.precision,
                          "ada": {"p": self.ada_p, "rt": self.ada_rt, "sum": float(self.ada_sum), "n": self.ada_n}}}

    def load_state(self, state: dict) -> None:
        extra = state["extra"]
        if tuple(extra["data_shape"]) != self.shape:
            raise UserError(f"the data now has shape {list(self.shape)} but the checkpoint was trained on "
                            f"{list(extra['data_shape'])}")
        k, nets, optims = self.d_key, state["nets"], state["optims"]
        try:
            self.G.load_state_dict(nets["G"])
            self.D.load_state_dict(nets[k])
            self.G_ema.load_state_dict(nets["G_ema"])
            self.opt_G.load_state_dict(optims["G"])
            self.opt_D.load_state_dict(optims[k])
        except (RuntimeError, KeyError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()[:160]
            raise UserError(f"the checkpoint's networks or optimizers do not fit the ones its config builds "
                            f"({first}); it is damaged or from another version") from None
        self._keep_precision(extra.get("precision"))
        self.sampler.load_state_dict(extra["sampler"])  # global: valid for any number of processes
        self.z_gen.set_state(state["rng"]["z"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.z_fixed = extra["z_fixed"].to(self.device)
        self.step0 = int(state["step"])
        if "ada" in extra:
            a = extra["ada"]
            self.ada_p, self.ada_rt, self.ada_n = float(a["p"]), float(a["rt"]), int(a["n"])
            self.ada_sum.fill_(float(a["sum"]))

    def _keep_precision(self, stored: str | None) -> None:
        """On resume, ``train.precision=auto`` keeps the precision the run trained in (recorded in its checkpoint),
        so a run begun where bf16 is native continues in bf16 elsewhere (emulated: slower) and stays the same run;
        one line on stderr says so when this machine would have chosen otherwise."""
        import sys

        if stored in ("fp32", "bf16") and stored != self.precision and self.cfg.train.precision == "auto":
            if self.world.main:
                print(f"gankit: resuming in {stored} as the run began (train.precision=auto would pick "
                      f"{self.precision} on this machine; set train.precision to change it)", file=sys.stderr)
            self.precision = stored

    # ------------------------------------------------------------------------------------------
    # The updates.

    def draw_z(self) -> torch.Tensor:
        """This rank's slice of a fresh global noise batch: [m, z_dim]."""
        cfg = self.cfg
        return sample_z(self.b * self.world.size, cfg.z_dim, cfg.z_dist, self.z_gen, self.device)[self.mine]

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """T(x) for this rank's slice x [m, C, H, W] of a global batch: per-sample parameters drawn for the global
        batch from z's generator (whose state the checkpoint keeps) and sliced like z. The identity when off."""
        if not self.policy:
            return x
        params = sample_params(self.policy, self.b * self.world.size, self.shape, self.z_gen, self.device,
                               p=self.ada_p if self.ada else None)
        return apply_augment(x, {k: v[self.mine] for k, v in params.items()})

    def D_seen(self, D):
        """D as the losses see it: D(T(x), c) with augmentation on, D itself otherwise (for the penalties)."""
        if not self.policy:
            return D
        return lambda x, c=None: D(self.augment(x), c)

    def track_overfitting(self, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> None:
        """ADA: add up sign(D(T(x_real))) and, every ADA_INTERVAL D updates, move p towards r_t's target.

        A relativistic D's logits are defined only up to a shared constant (RpGAN's losses do not change when
        every logit moves by one amount), so there the sign is taken of D(x_r) - D(x_f), pair by pair."""
        verdict = (logits_real - logits_fake) if self.relativistic else logits_real  # [m]
        self.ada_sum += verdict.detach().sign().sum()
        self.ada_n += verdict.numel()
        if self.ada_n < ADA_INTERVAL * verdict.numel():
            return
        total = torch.stack([self.ada_sum, torch.tensor(float(self.ada_n), device=self.device)])  # [2]
        if self.world.parallel:  # every rank's signs: the same r_t, hence the same p, on every rank
            torch.distributed.all_reduce(total)
        s, n = total.tolist()
        self.ada_rt = s / n
        loss = self.cfg.loss
        self.ada_p = ada_adjust(self.ada_p, self.ada_rt, loss.ada_target, int(n), loss.ada_kimg)
        self.ada_sum.zero_()
        self.ada_n = 0

    def d_update(self, d_index: int = 0):
        """D update number ``d_index`` (which decides whether lazy R1 / R2 are taken) on a fresh real minibatch and
        fresh noise; returns (loss, logits_real, logits_fake, penalties, grad norm)."""
        cfg, mine, n = self.cfg, self.mine, self.b * self.world.size
        idx = self.sampler.next()[mine]
        x_real = self.x_all[idx]  # [m, *shape]
        c_real = self.y_all[idx] if cfg.c_dim else None  # [m] labels of the real batch
        c_fake = random_labels(n, cfg.c_dim, self.z_gen, self.device)
        c_fake = None if c_fake is None else c_fake[mine]  # [m] uniform over classes, or None
        z = self.draw_z()  # [m, z_dim]
        self.real_last = (x_real, c_real)
        weight = lazy_weight(d_index, cfg.loss.reg_every)
        r1, r2 = cfg.loss.r1_gamma * weight, cfg.loss.r2_gamma * weight
        skipped = [name for name, g in (("r1", cfg.loss.r1_gamma), ("r2", cfg.loss.r2_gamma)) if g > 0 and not weight]
        with self.autocast():
            with torch.no_grad():
                x_fake = self.G_fakes(z, c_fake)  # [m, *shape]
            shared = []  # (name, input, gamma) of the zero-centred penalties taken from the loss pass's gradient
            if self.penalties_share_pass and (r1 > 0 or r2 > 0):
                x_real = x_real.detach().requires_grad_(r1 > 0)
                x_fake = x_fake.detach().to(x_real.dtype).requires_grad_(r2 > 0)
                shared = [(name, x, g) for name, x, g in (("r1", x_real, r1), ("r2", x_fake, r2)) if g > 0]
            x_real_seen, x_fake_seen = self.augment(x_real), self.augment(x_fake)  # each its own draws
            if self.fused:  # one pass over [real; fake]: the same logits as two passes, in one larger matmul per layer
                logits = self.D_update(torch.cat([x_real_seen, x_fake_seen.to(x_real_seen.dtype)]),
                                       None if c_real is None else torch.cat([c_real, c_fake]))
                logits_real, logits_fake = logits.float().chunk(2)  # [m], [m] (/ D.pac: m is a multiple of it)
            else:
                logits_real = self.D_update(x_real_seen, c_real).float()
                logits_fake = self.D_update(x_fake_seen, c_fake).float()
            loss_D = self.loss_D_fn(logits_real, logits_fake)
            if self.ada:
                self.track_overfitting(logits_real, logits_fake)
            penalties = {}
            D_pen = self.D_seen(self.D_par)  # the penalties' D: D(T(x)), differentiated w.r.t. x
            if cfg.loss.gp_lambda > 0:  # eps from z's generator (whose state the checkpoint keeps), sliced like z
                eps = torch.rand(n, *([1] * len(self.shape)), generator=self.z_gen, device=self.device)[mine]
                penalties["gp"] = gradient_penalty(D_pen, x_real, x_fake.float(), lam=cfg.loss.gp_lambda, c=c_real,
                                                   eps=eps)
            # R1 zero-centred at the data (Mescheder et al. 2018), R2 at the fakes (R3GAN: gamma/2 (R1 + R2)).
            if shared:  # d (sum of both batches' logits) / d x_real and / d x_fake: each sample's own input gradient
                values = zero_centred_penalties(torch.cat([logits_real, logits_fake]), [x for _, x, _ in shared],
                                                [g for _, _, g in shared])
                penalties.update({name: v for (name, _, _), v in zip(shared, values)})
            else:
                if r1 > 0:
                    penalties["r1"] = r1_penalty(D_pen, x_real, gamma=r1, c=c_real)
                if r2 > 0:
                    penalties["r2"] = r2_penalty(D_pen, x_fake.float(), gamma=r2, c=c_fake)
            for p in penalties.values():
                loss_D = loss_D + p
            # a lazy update without the penalties logs them as 0: the mean over a log interval is then the
            # penalty's average weight in the loss, as with reg_every = 1
            penalties.update({name: torch.zeros((), device=self.device) for name in skipped})
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        gnorm = grad_norm(self.D)
        self.opt_D.step()
        if cfg.loss.clip > 0:  # WGAN's weight clipping keeps the critic K-Lipschitz for some K
            with torch.no_grad():
                torch._foreach_clamp_min_(self.d_params, -cfg.loss.clip)
                torch._foreach_clamp_max_(self.d_params, cfg.loss.clip)
        return loss_D, logits_real, logits_fake, penalties, gnorm

    def g_update(self):
        """One G update on fresh noise; D's weights get no gradient. Returns (loss, grad norm).

        A relativistic G loss also recomputes D's logits on the last D update's real batch (with fresh
        augmentation draws), through the frozen D: no gradient reaches D's weights or the real data."""
        z = self.draw_z()
        c = random_labels(self.b * self.world.size, self.cfg.c_dim, self.z_gen, self.device)
        c = None if c is None else c[self.mine]
        with self.autocast():
            x_fake_seen = self.augment(self.G_update(z, c))  # [m, *shape]: T(G(z)), differentiable in G(z)
            if not self.relativistic:
                loss_G = self.loss_G_fn(self.D_frozen(x_fake_seen, c).float())
            else:
                x_real, c_real = self.real_last
                x_real_seen = self.augment(x_real)  # [m, *shape]
                if self.fused:  # one pass over [real; fake], as in the D update
                    logits = self.D_frozen(torch.cat([x_real_seen, x_fake_seen.to(x_real_seen.dtype)]),
                                           None if c is None else torch.cat([c_real, c]))
                    logits_real, logits_fake = logits.float().chunk(2)  # [m], [m]
                else:
                    logits_real = self.D_frozen(x_real_seen, c_real).float()
                    logits_fake = self.D_frozen(x_fake_seen, c).float()
                loss_G = self.loss_G_fn(logits_fake, logits_real.detach())
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        gnorm = grad_norm(self.G)
        self.opt_G.step()
        return loss_G, gnorm

    def update_ema(self, step: int) -> None:
        t = self.cfg.train
        if t.averages_g:
            with torch.no_grad():
                # Warm-up: early on the average would mostly hold the random initial weights, so the decay starts
                # small (ema_beta).
                beta = ema_beta(step, self.b * self.world.size, t.ema, t.ema_kimg, t.ema_rampup)
                torch._foreach_lerp_(self.ema_params, self.g_params, 1.0 - beta)
                for b_ema, b_live in zip(self.G_ema.buffers(), self.G.buffers()):
                    b_ema.copy_(b_live)
