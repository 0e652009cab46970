"""Run configuration: frozen, typed dataclasses with a JSON round trip and strict overrides.

A run is described by one :class:`RunConfig`. Presets (``gankit presets``) are JSON files of
overrides on top of the defaults below; ``--set section.key=value`` overrides on top of a preset.
Unknown keys and values of the wrong type stop the run with a :class:`~gankit.errors.UserError`.

Example:
    >>> from gankit.config import load_preset, apply_overrides
    >>> cfg = apply_overrides(load_preset("quick-mlp"), ["train.steps=10", "D.hidden=[64, 32]"])
    >>> cfg.train.steps, cfg.D.hidden
    (10, (64, 32))
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from gankit.config_i2i import (I2I_SYSTEMS, CycleGANConfig, Pix2PixConfig, SimGANConfig, SRGANConfig,  # noqa: F401
                               TaskConfig)
from gankit.errors import UserError
from gankit.systems import SYSTEMS


@dataclass(frozen=True)
class DataConfig:
    name: str = "mnist-5k"  # a dataset name (`gankit datasets`) or a path: image folder, .npy, .npz
    size: int = 0  # resize images to size x size pixels; 0 keeps their own size
    channels: int = 0  # 1 (gray) or 3 (RGB) for user images; 0 = as found
    toy_n: int = 50_000  # points drawn once (with the data seed) for a toy distribution
    toy_std: float = 0.0  # std of each toy mode in raw units; 0 = the dataset's standard value
    seed: int = 0  # seed of the toy draws and of the fixed train/test split
    cache_dir: str = ""  # downloaded standard sets; "" = $GANKIT_CACHE or ~/.cache/gankit


@dataclass(frozen=True)
class GConfig:
    arch: str = "mlp"  # "mlp": fully connected layers (the paper's G and the tutorial G) | "dcgan" | "resnet"
    base_channels: int = 64  # dcgan, resnet: feature maps of G's last hidden layer (doubling towards z)
    blocks: int = 1  # resnet: residual blocks at each resolution (docs/models.md)
    hidden: tuple[int, ...] = (256, 512, 1024)  # width of each hidden layer
    act: str = "relu"  # hidden activation: "relu" | "leaky_relu" (slope 0.2)
    norm: str = "none"  # "batch" (BatchNorm1d after each hidden linear layer but the first) | "none"
    # "tanh" | "sigmoid" (2*sigmoid-1: the paper's sigmoid on [0,1] pixels, mapped to [-1,1]) | "linear"
    out: str = "tanh"
    init: str = "default"  # "default" (PyTorch) | "uniform" (U(-init_range, init_range), the reference code's irange)
    init_range: float = 0.05  # half-width of the uniform init; 0.05 for G in the paper's mnist.yaml


@dataclass(frozen=True)
class DConfig:
    arch: str = "mlp"  # "mlp" (ReLU / LeakyReLU layers) | "maxout" (the paper's maxout layers) | "dcgan" | "resnet"
    base_channels: int = 64  # dcgan, resnet: feature maps of D's first layer (doubling with depth)
    blocks: int = 1  # resnet: residual blocks at each resolution (docs/models.md)
    # dcgan: "batch" (BatchNorm after every conv but the first) | "none" (for GP / R1); resnet has no normalisation
    norm: str = "batch"
    cond: str = "concat"  # conditional D: "concat" (label with the input) | "projection" (Miyato & Koyama 2018)
    pac: int = 1  # PacGAN (Lin et al. 2018): D judges this many samples at once; 1 = off
    mbd: int = 0  # minibatch discrimination (Salimans et al. 2016, sec. 3.2): number of kernels B; 0 = off
    mbd_dim: int = 5  # minibatch discrimination: dimension C of each kernel's projection
    hidden: tuple[int, ...] = (512, 256)  # width of each hidden layer (maxout: units per layer)
    act: str = "leaky_relu"  # mlp hidden activation: "relu" | "leaky_relu" (slope 0.2)
    pieces: int = 5  # maxout: linear pieces per unit (mnist.yaml: 5)
    dropout: float = 0.0  # drop probability at the input of each hidden-to-hidden/output layer
    dropout_input: float = 0.0  # drop probability on D's input (mnist.yaml: include prob 0.8 -> 0.2)
    init: str = "default"  # "default" (PyTorch) | "uniform" (U(-init_range, init_range))
    init_range: float = 0.005  # half-width of the uniform init; 0.005 for D in the paper's mnist.yaml
    spectral_norm: bool = False  # divide each Linear weight by its largest singular value (Miyato et al. 2018)


@dataclass(frozen=True)
class LossConfig:
    # "nonsaturating": min -log D(G(z)) | "minimax": min log(1 - D(G(z))) | "wasserstein" | "hinge" | "ls" |
    # "rpgan" (docs/losses.md)
    g_loss: str = "nonsaturating"
    # "bce": max log D(x) + log(1 - D(G(z))), the paper's value function | "wasserstein" | "hinge" | "ls" |
    # "rpgan": the relativistic pairing loss (Huang et al. 2024), with g_loss "rpgan"
    d_loss: str = "bce"
    gp_lambda: float = 0.0  # WGAN-GP gradient penalty weight lambda; 0 = off (Gulrajani et al. 2017 use 10)
    r1_gamma: float = 0.0  # R1 penalty weight gamma on real data; 0 = off (Mescheder et al. 2018 use 10)
    r2_gamma: float = 0.0  # R2 penalty weight gamma on generated data; 0 = off (R3GAN: r1_gamma = r2_gamma)
    # lazy R1 / R2 (Karras et al. 2020, StyleGAN2, sec. 4.1): the penalties on every reg_every-th D update only,
    # weighted reg_every times; 1 = every update (systems/gan.lazy_weight)
    reg_every: int = 1
    # differentiable augmentation of everything D sees, real and fake, in the D and G steps (Zhao et al. 2020):
    # "" = off | a comma list of "translation", "cutout", "color" (RGB only), e.g. "translation,cutout"
    augment: str = ""
    # ADA (Karras et al. 2020): apply each augmentation with probability p, raised or lowered every 4 D steps to hold
    # r_t = E sign(D(T(x_real))) at this target; 0 = off (p = 1 always; the paper: 0.6). Needs loss.augment
    ada_target: float = 0.0
    ada_kimg: float = 500.0  # ADA: thousands of real images over which p can move from 0 to 1 (the paper: 500)
    clip: float = 0.0  # clip D's parameters to [-clip, clip] after each D step; 0 = off (Arjovsky et al. 2017 use 0.01)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"  # "adam" | "sgd" (with momentum, the paper's optimizer) | "rmsprop" (WGAN with clipping)
    lr_g: float = 2e-4  # G learning rate
    lr_d: float = 2e-4  # D learning rate
    beta1: float = 0.5  # Adam beta1 (DCGAN's 0.5)
    beta2: float = 0.999  # Adam beta2
    momentum: float = 0.5  # SGD: momentum at step 0
    momentum_final: float = 0.5  # SGD: momentum reached at momentum_ramp_steps (linear ramp)
    momentum_ramp_steps: int = 0  # SGD: steps over which momentum rises; 0 = constant momentum
    lr_decay: float = 1.0  # SGD and Adam: lr divided by lr_decay every step (mnist.yaml: 1.000004)
    lr_min: float = 0.0  # floor of the decayed learning rate (mnist.yaml: 1e-6)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000  # generator updates (one step = d_steps D updates + one G update)
    batch: int = 64  # minibatch size m for both real and generated samples
    d_steps: int = 1  # k in Algorithm 1: D updates per G update
    # one D pass over [real; fake] when D scores samples independently (no BatchNorm, no minibatch discrimination)
    fused_d: bool = True
    # "fp32" | "bf16" (autocast; weights and optimizer stay fp32) | "auto": bf16 where the hardware multiplies
    # bf16 natively
    precision: str = "auto"
    compile: bool = False  # torch.compile G and D (pays a compile of tens of seconds at start)
    # torch.compile's mode: "default" | "reduce-overhead" (CUDA graphs on a GPU: one launch for a whole forward or
    # backward, for nets whose steps are launch-bound) | "max-autotune" | "max-autotune-no-cudagraphs"
    compile_mode: str = "default"
    channels_last: bool = True  # convolutional nets: NHWC memory layout (faster convolutions on CPUs and tensor cores)
    seed: int = 0  # seed of initialisation, noise, minibatch order and dropout
    ema: float = 0.0  # decay of the moving average of G's weights per step (warmed up: min(ema, (1+t)/(10+t))); 0 = off
    # half-life of G's moving average in thousands of generated images instead of a decay per step (stylegan2-ada's
    # ema_kimg; systems/gan.ema_beta); 0 = off (train.ema decides)
    ema_kimg: float = 0.0
    ema_rampup: float = 0.05  # with ema_kimg: the half-life is at most this fraction of the images seen; 0 = no warm-up
    log_every: int = 50  # steps between progress-bar refreshes and stats.jsonl flushes
    snapshot_every: int = 500  # steps between sample grids from the fixed noise batch
    ckpt_every: int = 1000  # steps between checkpoints (one is always written at the end)
    grid: int = 64  # samples in each snapshot grid
    device: str = "auto"  # "auto" (CUDA if present, else CPU) | "cpu" | "cuda" | "cuda:N"
    threads: int = 0  # torch intra-op threads; 0 = auto: one per idle core (training/runtime.resolve_threads)
    tensorboard: bool = False  # also write TensorBoard event files (scalars, sample grids) into RUN_DIR/tensorboard

    @property
    def averages_g(self) -> bool:
        """Whether G_ema is a moving average of G (train.ema or train.ema_kimg), not a copy of it."""
        return self.ema > 0 or self.ema_kimg > 0


@dataclass(frozen=True)
class VAEConfig:
    """The variational autoencoder baseline (model = "vae"; Kingma & Welling 2014, docs/vae.md)."""

    beta: float = 1.0  # weight of the KL term; 1 = the ELBO of Kingma & Welling (2014), eq. 10
    # p(x|z): "bernoulli" on [0,1] pixels (K&W's MNIST decoder) | "gaussian" with fixed sigma
    likelihood: str = "bernoulli"
    sigma: float = 0.1  # gaussian: the decoder's fixed std on [-1, 1] pixels


# The image-to-image systems' sections (task, pix2pix, cyclegan, srgan, simgan) are in gankit.config_i2i.


@dataclass(frozen=True)
class RunConfig:
    preset: str = "quick"  # name of the preset this config started from
    description: str = ""  # one line shown by `gankit presets`
    # "gan": G and D trained by Algorithm 1 | "vae": G is the decoder of a VAE with an encoder E |
    # "pix2pix" | "cyclegan" | "srgan" | "simgan": the image-to-image systems (sections task and their own)
    model: str = "gan"
    z_dim: int = 100  # dimension of the noise z
    z_dist: str = "normal"  # "normal": N(0, I) | "uniform": U(-sqrt 3, sqrt 3)^z_dim (unit variance)
    c_dim: int = 0  # classes G and D are conditioned on (the data's labels); 0 = unconditional
    data: DataConfig = field(default_factory=DataConfig)
    G: GConfig = field(default_factory=GConfig)
    D: DConfig = field(default_factory=DConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    pix2pix: Pix2PixConfig = field(default_factory=Pix2PixConfig)
    cyclegan: CycleGANConfig = field(default_factory=CycleGANConfig)
    srgan: SRGANConfig = field(default_factory=SRGANConfig)
    simgan: SimGANConfig = field(default_factory=SimGANConfig)


# Allowed values of the string fields; checked by validate().
CHOICES: dict[str, tuple[str, ...]] = {
    "model": tuple(SYSTEMS),  # the systems' registry (gankit.systems)
    "vae.likelihood": ("bernoulli", "gaussian"),
    "z_dist": ("normal", "uniform"),
    "G.arch": ("mlp", "dcgan", "resnet"),
    "G.act": ("relu", "leaky_relu"),
    "G.norm": ("batch", "none"),
    "G.out": ("tanh", "sigmoid", "linear"),
    "G.init": ("default", "uniform"),
    "D.arch": ("mlp", "maxout", "dcgan", "resnet"),
    "D.norm": ("batch", "none"),
    "D.cond": ("concat", "projection"),
    "D.act": ("relu", "leaky_relu"),
    "D.init": ("default", "uniform"),
    "loss.g_loss": ("nonsaturating", "minimax", "wasserstein", "hinge", "ls", "rpgan"),
    "loss.d_loss": ("bce", "wasserstein", "hinge", "ls", "rpgan"),
    "optim.name": ("adam", "sgd", "rmsprop"),
    "train.precision": ("auto", "fp32", "bf16"),
    "train.compile_mode": ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
}

# The G losses that play the same game as each D loss; validate() rejects any other pair.
LOSS_PAIRS: dict[str, tuple[str, ...]] = {
    "bce": ("nonsaturating", "minimax"),  # Goodfellow et al. (2014)
    "wasserstein": ("wasserstein",),  # Arjovsky et al. (2017)
    "hinge": ("hinge",),  # Lim & Ye (2017), Miyato et al. (2018)
    "ls": ("ls",),  # Mao et al. (2017)
    "rpgan": ("rpgan",),  # Jolicoeur-Martineau (2018), Huang et al. (2024)
}


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain JSON-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(data: dict[str, Any], cls: type = RunConfig, where: str = "") -> Any:
    """Build a config from plain data, strictly: unknown keys and wrong types raise UserError."""
    if not isinstance(data, dict):
        raise UserError(f"config section {where or '<root>'!r} must be an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in hints:
            raise UserError(f"unknown config key {path!r}; known keys here: {', '.join(names)}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def _coerce(value: Any, tp: Any, path: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_dict(value, tp, path)
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config key {path!r} expects a list of integers like [256, 512], got {value!r}")
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        return tuple(_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise UserError(f"config key {path!r} expects {getattr(tp, '__name__', tp)}, got {value!r}")


def validate(cfg: RunConfig) -> RunConfig:
    """Check value ranges and choices; return the config unchanged or raise UserError."""
    flat = {k: v for k, v in _flatten(to_dict(cfg))}
    for key, allowed in CHOICES.items():
        if flat[key] not in allowed:
            raise UserError(f"config key {key!r} must be one of {', '.join(allowed)}; got {flat[key]!r}")
    positive = ["z_dim", "train.steps", "train.batch", "train.d_steps", "train.log_every",
                "train.snapshot_every", "train.ckpt_every", "train.grid", "data.toy_n", "D.pieces",
                "G.base_channels", "D.base_channels", "D.pac", "D.mbd_dim"]
    for key in positive:
        if flat[key] <= 0:
            raise UserError(f"config key {key!r} must be a positive integer; got {flat[key]!r}")
    for key, value in flat.items():  # JSON's Infinity and NaN parse as floats; no config value means them
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"config key {key!r} must be a finite number; got {value!r}")
    for key in ["optim.lr_g", "optim.lr_d"]:
        if not flat[key] > 0:
            raise UserError(f"config key {key!r} must be > 0; got {flat[key]!r}")
    for key in ["z_dim", "G.base_channels", "D.base_channels", "train.batch", "train.grid"]:
        if flat[key] > 65536:
            raise UserError(f"config key {key!r} must be at most 65,536; got {flat[key]!r}")
    if any(h > 65536 for h in cfg.G.hidden + cfg.D.hidden):
        raise UserError(f"layer widths must be at most 65,536; got G.hidden={list(cfg.G.hidden)}, "
                        f"D.hidden={list(cfg.D.hidden)}")
    if flat["train.threads"] < 0:
        raise UserError(f"config key 'train.threads' must be 0 (auto: one per idle core) or a positive "
                        f"number of threads; got {flat['train.threads']!r}")
    for key in ["D.dropout", "D.dropout_input", "train.ema", "optim.beta1", "optim.beta2"]:
        if not 0.0 <= flat[key] < 1.0:
            raise UserError(f"config key {key!r} must lie in [0, 1); got {flat[key]!r}")
    if cfg.train.ema > 0 and cfg.train.ema_kimg > 0:
        raise UserError(f"train.ema ({cfg.train.ema}) and train.ema_kimg ({cfg.train.ema_kimg}) both set G's moving "
                        "average: set one of them, the other to 0")
    for key in ["loss.gp_lambda", "loss.r1_gamma", "loss.r2_gamma", "loss.clip", "train.ema_kimg", "train.ema_rampup"]:
        if not flat[key] >= 0.0:
            raise UserError(f"config key {key!r} must be >= 0 (0 = off); got {flat[key]!r}")
    if not isinstance(cfg.loss.reg_every, int) or cfg.loss.reg_every < 1:
        raise UserError(f"config key 'loss.reg_every' must be a positive integer (1 = R1 / R2 on every D update); "
                        f"got {cfg.loss.reg_every!r}")
    if cfg.loss.g_loss not in LOSS_PAIRS[cfg.loss.d_loss]:
        raise UserError(f"loss.d_loss={cfg.loss.d_loss!r} needs loss.g_loss in "
                        f"{', '.join(LOSS_PAIRS[cfg.loss.d_loss])}; got loss.g_loss={cfg.loss.g_loss!r}")
    if cfg.loss.augment:
        from gankit.diffaug import parse_policy

        parse_policy(cfg.loss.augment)  # UserError in one line for an unknown or repeated transform
    if not 0.0 <= cfg.loss.ada_target < 1.0:
        raise UserError(f"config key 'loss.ada_target' must lie in [0, 1) (0 = off); got {cfg.loss.ada_target!r}")
    if cfg.loss.ada_target > 0 and not cfg.loss.augment:
        raise UserError("loss.ada_target > 0 adapts the probability of loss.augment's transforms; set loss.augment, "
                        "e.g. loss.augment=translation,cutout")
    if not cfg.loss.ada_kimg > 0:
        raise UserError(f"config key 'loss.ada_kimg' must be > 0; got {cfg.loss.ada_kimg!r}")
    if cfg.optim.lr_decay < 1.0:
        raise UserError("config key 'optim.lr_decay' must be >= 1 (lr is divided by it each step); "
                        f"got {cfg.optim.lr_decay!r}")
    if cfg.c_dim < 0:
        raise UserError(f"config key 'c_dim' must be 0 (unconditional) or the number of classes; got {cfg.c_dim}")
    if cfg.D.pac > 1 and cfg.train.batch % cfg.D.pac:
        raise UserError(f"train.batch ({cfg.train.batch}) must be a multiple of D.pac ({cfg.D.pac}): "
                        "D judges packs of D.pac samples")
    if cfg.D.pac > 1 and cfg.c_dim > 0:
        raise UserError("D.pac > 1 packs unlabelled samples; it cannot be combined with a conditional GAN (c_dim > 0)")
    if cfg.D.mbd < 0:
        raise UserError("config key 'D.mbd' must be 0 (off) or the number of minibatch-discrimination kernels; "
                        f"got {cfg.D.mbd}")
    if cfg.data.channels not in (0, 1, 3):
        raise UserError(f"config key 'data.channels' must be 0, 1 or 3; got {cfg.data.channels!r}")
    if any(h <= 0 for h in cfg.G.hidden + cfg.D.hidden):
        raise UserError(
            f"layer widths must be positive; got G.hidden={list(cfg.G.hidden)}, D.hidden={list(cfg.D.hidden)}"
        )
    if cfg.model == "vae":
        _validate_vae(cfg)
    _validate_sections(cfg)
    return cfg


# The sections that only some systems read: a value set there for another system would be ignored silently.
_SECTIONS_OF = {"gan": ("G", "D", "loss", "data"), "vae": ("G", "D", "loss", "data", "vae")}
_SECTIONS_OF.update({s: ("task", s) for s in I2I_SYSTEMS})
_ONLY_FOR = ("G", "D", "loss", "data", "vae", "task", *I2I_SYSTEMS)


def _validate_sections(cfg: RunConfig) -> None:
    """UserError in one line for a section set away from its defaults that this config's system does not read,
    and for the engine options an image-to-image system does not have yet."""
    default = to_dict(RunConfig())
    data = to_dict(cfg)
    reads = _SECTIONS_OF[cfg.model]
    for section in _ONLY_FOR:
        if section in reads:
            continue
        for key, value in data[section].items():
            if value != default[section][key]:
                readers = [m for m, secs in _SECTIONS_OF.items() if section in secs]
                raise UserError(f"config key '{section}.{key}' is read only by model={' | '.join(readers)}; "
                                f"this config trains model={cfg.model}")
    if cfg.model in I2I_SYSTEMS:
        for key, value in data.items():
            if not isinstance(value, dict) and key not in ("preset", "description", "model") \
                    and value != default[key]:
                raise UserError(f"config key {key!r} has no meaning for model={cfg.model} "
                                "(an image-to-image system: its input is an image, not noise)")
        t = cfg.train
        unsupported = [("train.d_steps", t.d_steps, (1,)),
                       ("optim.name", cfg.optim.name, ("adam",))]
        for key, value, allowed in unsupported:
            if value not in allowed:
                raise UserError(f"config key {key!r} must be {' or '.join(json.dumps(a) for a in allowed)} for "
                                f"model={cfg.model} (not yet for the image-to-image systems); "
                                f"got {json.dumps(value)}")


def _validate_vae(cfg: RunConfig) -> None:
    """The VAE's decoder is G and its encoder is D's body: the GAN-only options have no meaning there."""
    v = cfg.vae
    if not v.beta >= 0.0:
        raise UserError(f"config key 'vae.beta' must be >= 0; got {v.beta!r}")
    if not v.sigma > 0.0:
        raise UserError(f"config key 'vae.sigma' must be > 0; got {v.sigma!r}")
    if cfg.z_dist != "normal":
        raise UserError(f"model=vae needs z_dist='normal' (the VAE's prior is N(0, I)); got z_dist={cfg.z_dist!r}")
    if v.likelihood == "bernoulli" and cfg.G.arch == "mlp" and cfg.G.out == "linear":
        raise UserError("vae.likelihood='bernoulli' needs pixel means in [-1, 1]: set G.out to 'tanh' or 'sigmoid', "
                        "or use vae.likelihood='gaussian'")
    unsupported = [("c_dim", cfg.c_dim, 0), ("D.pac", cfg.D.pac, 1), ("D.mbd", cfg.D.mbd, 0),
                   ("D.spectral_norm", cfg.D.spectral_norm, False), ("train.d_steps", cfg.train.d_steps, 1),
                   ("loss.augment", cfg.loss.augment, "")]
    for key, value, off in unsupported:
        if value != off:
            raise UserError(f"config key {key!r} must be {json.dumps(off)} for model=vae (a GAN-only option); "
                            f"got {json.dumps(value)}")


def _flatten(d: dict[str, Any], prefix: str = ""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, v


def known_keys() -> list[str]:
    """Every key that ``--set`` accepts, dotted."""
    return [k for k, _ in _flatten(to_dict(RunConfig()))]


def _suggest(key: str, keys: list[str]) -> str:
    """The hint after an unknown key: the keys it is probably meant to be, else what its section holds."""
    import difflib

    close = [k for k in keys if k.split(".")[-1] == key.split(".")[-1]]
    close = close or difflib.get_close_matches(key, keys, n=3, cutoff=0.8)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    section = key.split(".")[0] if "." in key else None
    here = [k for k in keys if section and k.startswith(section + ".")]
    if here:
        return f"; keys of section {section!r}: {', '.join(k.split('.', 1)[1] for k in here)}"
    sections = sorted({k.split(".")[0] for k in keys if "." in k})
    return (f"; top-level keys: {', '.join(k for k in keys if '.' not in k)}; sections: {', '.join(sections)} "
            "(`gankit train --dry-run` prints them all)")


def apply_overrides(cfg: RunConfig, overrides: list[str] | tuple[str, ...]) -> RunConfig:
    """Apply ``key=value`` strings (value parsed as JSON, else taken as a string); strict."""
    data = to_dict(cfg)
    keys = known_keys()
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {item!r}")
        if key not in keys:
            hint = _suggest(key, keys)
            raise UserError(f"unknown config key {key!r} in --set {item!r}{hint}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return validate(from_dict(data))


def list_presets() -> dict[str, str]:
    """Every bundled preset name -> its one-line description."""
    out = {}
    for entry in sorted(resources.files("gankit.presets").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            out[entry.name[:-5]] = json.loads(entry.read_text()).get("description", "")
    return out


def load_preset(name: str) -> RunConfig:
    """The RunConfig of a bundled preset: its JSON overrides applied to the defaults."""
    known = list_presets()
    if name not in known:
        raise UserError(f"unknown preset {name!r}; known presets: {', '.join(known)}")
    data = json.loads(resources.files("gankit.presets").joinpath(f"{name}.json").read_text())
    data.pop("_sources", None)  # citations for the preset's numbers, kept in the file only
    data["preset"] = name
    return validate(from_dict(_merge(to_dict(RunConfig()), data)))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def save_json(cfg: RunConfig, path) -> None:
    """Write the resolved config as indented JSON."""
    with open(path, "w") as f:
        json.dump(to_dict(cfg), f, indent=2)
        f.write("\n")


def load_json(path) -> RunConfig:
    """Read a config written by save_json; strict."""
    with open(path) as f:
        return validate(from_dict(json.load(f)))
