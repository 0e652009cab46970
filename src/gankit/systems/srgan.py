"""SRGAN: super-resolution with a perceptual loss (Ledig et al., "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", CVPR 2017).

A generator ``G`` maps a low-resolution image ``I_LR`` to one ``r`` times larger; a discriminator
``D`` tells super-resolved images from real high-resolution ones. ``G`` minimises the perceptual
loss (section 2.2, eq. 3)::

    l_SR = l_content + 1e-3 * l_adv

where ``l_content`` is a mean squared error in the feature space of a fixed network (eq. 5; the
paper's VGG19, here the shipped digits classifier) or in pixels (eq. 4, "pixel"), and ``l_adv``
is the non-saturating ``-log D(G(I_LR))`` (eq. 6). With ``lambda_adv=0`` there is no ``D``; with
``content="pixel"`` too, ``G`` is the paper's SRResNet baseline (MSE only).

Networks (section 2.2, Figure 4), made narrow and shallow for a CPU:

- :class:`SRResNetGenerator`: conv 9x9 + PReLU; ``B`` residual blocks conv3x3-BN-PReLU-conv3x3-BN
  with identity skips; conv3x3-BN and a long skip from the first conv; one sub-pixel block per
  factor 2 (conv3x3 to 4x the channels, ``PixelShuffle(2)``, PReLU; Shi et al. 2016); conv 9x9 out
  and tanh, so images stay in [-1, 1].
- :class:`SRDiscriminator`: the VGG-style D: conv3x3 + LeakyReLU(0.2), then pairs of
  conv3x3-BN-LeakyReLU with stride 1 and stride 2, doubling the width per pair; a dense layer,
  LeakyReLU, and a dense layer to one logit (the paper's sigmoid is inside the loss).

Tasks: ``digits-x4`` (7x7 -> 28x28) and ``digits-x2`` (14x14 -> 28x28) from mnist-5k, the input
made by antialiased bicubic downsampling of the 28x28 digit (the paper's LR images are bicubic
downsamplings of the HR ones, section 3.2).

Example::

    from gankit.translate import train_translation
    r = train_translation("srgan-x4", {"steps": 200, "warmup": 100, "threads": 1}, out="runs", progress=False)
    sr = r.system.translate_batched(lr_images)        # [N, 1, 7, 7] -> [N, 1, 28, 28]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import UserError
from gankit.losses import d_loss_bce, g_loss_nonsaturating
from gankit.data.tasks import TaskData
from gankit.systems.i2i import TranslationSystem, tile_columns

__all__ = ["SRGAN", "SRResNetGenerator", "SRDiscriminator", "downsample", "bicubic_upsample", "content_loss",
           "adversarial_loss", "perceptual_loss", "loss_D", "DigitsFeatures", "load_content_net"]

CONTENT_CHOICES = ("digits", "digits-fc", "pixel")  # or a path to a TorchScript file


# ----------------------------------------------------------------------------------------------
# Losses (section 2.2). Pure functions of tensors.


def content_loss(feat_fake: torch.Tensor, feat_real: torch.Tensor) -> torch.Tensor:
    """Eq. 4 / 5: the mean squared difference of features (or pixels) of G(I_LR) and I_HR; 0-d.

    The paper divides the sum by the feature map's size W*H; the mean also divides by channels
    and batch, which only rescales the loss by a constant.
    """
    return (feat_fake - feat_real).pow(2).mean()


def adversarial_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Eq. 6, non-saturating: mean of -log D(G(I_LR)) = softplus(-logit); 0-d."""
    return g_loss_nonsaturating(logits_fake)


def perceptual_loss(content: torch.Tensor, adversarial: torch.Tensor, lambda_adv: float = 1e-3) -> torch.Tensor:
    """Eq. 3: l_SR = l_content + 1e-3 * l_adv (the weight 10^-3 is the paper's)."""
    return content + lambda_adv * adversarial


def loss_D(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Eq. 2 for D: -log D(I_HR) - log(1 - D(G(I_LR))) = softplus(-real) + softplus(fake), batch means; 0-d."""
    return d_loss_bce(logits_real, logits_fake)


# ----------------------------------------------------------------------------------------------
# Content networks: fixed, frozen, never checkpointed.


class DigitsFeatures(nn.Module):
    """The shipped digits classifier as a content network: images [N, C, H, W] -> features.

    ``layer="conv"``: its second conv layer after the ReLU, before pooling, [N, 64, 11, 11]: the
    analogue of the paper's phi_{5,4} (VGG19's last conv after activation, before max-pooling;
    section 2.2.1). ``layer="fc"``: its 128-d penultimate features, [N, 128] (the digits-FID space).
    """

    def __init__(self, layer: str = "conv"):
        super().__init__()
        from gankit.features.digits import load_digits_classifier

        self.layer = layer
        self.model = load_digits_classifier()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        if self.layer == "fc":
            return m.features(x)  # [N, 128]
        h = m.prepare(x)  # [N, 1, 28, 28]; the same layers as DigitsClassifier.features
        h = F.max_pool2d(F.relu(m.conv1(h)), 2)  # [N, 32, 13, 13]
        return F.relu(m.conv2(h))  # [N, 64, 11, 11]


def load_content_net(spec: str, shape: tuple[int, ...], device: torch.device) -> nn.Module:
    """The feature map phi of the content loss, frozen and in eval mode: images [N, C, H, W] in [-1, 1] -> features.

    Args:
        spec: "digits" (the shipped digits classifier's conv2 maps, [N, 64, 11, 11]), "digits-fc"
            (its 128-d penultimate features, the digits-FID space), "pixel" (the identity: eq. 4),
            or a path to a TorchScript module (``torch.jit.save``) that maps images to features.
        shape: (C, H, W) of the high-resolution images, for a trial call of a TorchScript net.
        device: where the network runs.

    Raises:
        UserError: a path that does not exist, is not TorchScript, or fails on images of ``shape``.
    """
    if spec == "pixel":
        return nn.Identity()
    if spec in ("digits", "digits-fc"):
        return DigitsFeatures("fc" if spec == "digits-fc" else "conv").to(device).eval().requires_grad_(False)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"content {spec!r}: no such file; expected one of {', '.join(CONTENT_CHOICES)} "
                        f"or the path of a TorchScript feature network (torch.jit.save)")
    try:
        net = torch.jit.load(str(path), map_location=device)
    except Exception as e:  # torch raises RuntimeError or ValueError for a file that is not TorchScript
        raise UserError(f"content {spec!r} is not a TorchScript file ({type(e).__name__}); "
                        f"save the feature network with torch.jit.save(torch.jit.script(net), path)") from None
    net.eval()
    for p in net.parameters():  # ScriptModules have no requires_grad_()
        p.requires_grad_(False)
    try:
        out = net(torch.zeros(2, *shape, device=device))
    except Exception as e:  # the user's network: any failure on our images is theirs to see
        raise UserError(f"content network {spec!r} fails on images [2, {', '.join(map(str, shape))}] in [-1, 1]: "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if not isinstance(out, torch.Tensor) or out.dim() < 2 or len(out) != 2 or not out.is_floating_point():
        raise UserError(f"content network {spec!r} must return a float tensor [N, ...] of features; "
                        f"for images [2, {', '.join(map(str, shape))}] it returned {type(out).__name__}")
    return net


# ----------------------------------------------------------------------------------------------
# Networks (section 2.2, Figure 4).


class ResidualBlock(nn.Module):
    """x + BN(conv3x3(PReLU(BN(conv3x3(x))))): Figure 4's residual block (after Gross and Wilber 2016)."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.PReLU(ch),
                                  nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def subpixel_block(ch: int) -> nn.Sequential:
    """Doubles the size: conv3x3 ch -> 4 ch, PixelShuffle(2) ([N, 4c, h, w] -> [N, c, 2h, 2w]), PReLU."""
    return nn.Sequential(nn.Conv2d(ch, 4 * ch, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(ch))


class SRResNetGenerator(nn.Module):
    """G of SRGAN and SRResNet: [N, in_ch, h, w] -> [N, out_ch, factor * h, factor * w] in [-1, 1].

    Args:
        in_ch, out_ch: image channels.
        factor: upscaling factor, a power of 2 (one sub-pixel block per factor 2).
        width: channels throughout (the paper's 64).
        n_blocks: residual blocks B (the paper's 16).
    """

    def __init__(self, in_ch: int, out_ch: int, factor: int = 4, width: int = 64, n_blocks: int = 16):
        super().__init__()
        n_up = int(round(math.log2(factor)))
        if factor < 2 or 2 ** n_up != factor:
            raise ValueError(f"factor must be a power of 2 >= 2, got {factor}")
        self.factor = factor
        self.head = nn.Sequential(nn.Conv2d(in_ch, width, 9, padding=4), nn.PReLU(width))
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(n_blocks)],
                                    nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
        self.up = nn.Sequential(*[subpixel_block(width) for _ in range(n_up)])
        self.tail = nn.Sequential(nn.Conv2d(width, out_ch, 9, padding=4), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)  # [N, width, h, w]
        h = h + self.blocks(h)  # the long skip over all residual blocks
        return self.tail(self.up(h))  # [N, out_ch, factor * h, factor * w]


class SRDiscriminator(nn.Module):
    """The VGG-style D of Figure 4: [N, C, H, W] -> [N, 1] logits.

    conv3x3(width) + LeakyReLU(0.2), then ``depth`` pairs (stride 1, stride 2) of
    conv3x3-BN-LeakyReLU, the width doubling from pair to pair (the first pair keeps ``width``);
    then flatten, dense ``16 * width`` (the paper's 1024 for width 64), LeakyReLU, dense 1.
    The paper has depth 4 (64 to 512 channels on 96x96 crops); 3 halvings suit 28x28 digits.
    """

    def __init__(self, in_ch: int, size: int, width: int = 64, depth: int = 4):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, width, 3, padding=1), nn.LeakyReLU(0.2)]
        ch, side = width, size
        for i in range(depth):
            nxt = width * 2 ** i
            for stride in (1, 2):
                if i == 0 and stride == 1:
                    continue  # the first conv above is this pair's stride-1 layer
                layers += [nn.Conv2d(ch, nxt, 3, stride, 1, bias=False), nn.BatchNorm2d(nxt), nn.LeakyReLU(0.2)]
                ch = nxt
            side = (side - 1) // 2 + 1  # a 3x3 stride-2 conv with padding 1
        dense = 16 * width  # the paper's 1024 for width 64
        layers += [nn.Flatten(), nn.Linear(ch * side * side, dense), nn.LeakyReLU(0.2), nn.Linear(dense, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # [N, 1]


# ----------------------------------------------------------------------------------------------
# Data.


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """I_LR from I_HR: antialiased bicubic downsampling by ``factor``, clamped to [-1, 1].

    [N, C, H, W] -> [N, C, H / factor, W / factor]. Bicubic weights are partly negative, so edges
    can overshoot; the clamp keeps inputs in the data range. Antialiasing widens the kernel by
    the factor, which low-pass filters first (the paper's section 2 speaks of a Gaussian blur then
    downsampling, section 3.2 of a bicubic kernel).
    """
    return F.interpolate(x, scale_factor=1 / factor, mode="bicubic", antialias=True,
                         align_corners=False).clamp(-1, 1)


def bicubic_upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The no-training baseline: bicubic interpolation up by ``factor``, clamped to [-1, 1]."""
    return F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False).clamp(-1, 1)


def _digits_task(factor: int) -> Callable[[dict[str, Any], str], TaskData]:
    def build(cfg: dict[str, Any], split: str) -> TaskData:
        """mnist-5k digits (B, 28x28) and their bicubic downsamplings (A, 28/factor)."""
        from gankit.config import DataConfig
        from gankit.data import build_dataset

        ds = build_dataset(DataConfig(name="mnist-5k"), split)
        hr = ds.x  # [N, 1, 28, 28]
        return TaskData(downsample(hr, factor), hr, paired=True, y_a=ds.y, y_b=ds.y,
                        info={"task": f"digits-x{factor}", "split": split, "factor": factor,
                              "downsample": "bicubic, antialiased, clamped to [-1, 1]"})
    return build


# ----------------------------------------------------------------------------------------------
# The system.


class SRGAN(TranslationSystem):
    """SRGAN (``lambda_adv > 0``) or SRResNet (``lambda_adv == 0``, no D), A = low resolution, B = high."""

    name = "srgan"
    paired = True
    directions = ("AtoB",)
    # The presets' recipe (presets/srgan-x4.json and the others): the paper (section 3.2) uses Adam with
    # beta1 0.9, minibatches of 16, lr 1e-4, SRGAN initialised from a trained SRResNet. Ours: 800 steps
    # (a few CPU minutes) at lr 5e-4, which in 400 SRResNet steps reached 19.75 dB test PSNR where 1e-4
    # reached 17.95 (2 seeds, benchmarks/results/translate_srgan.jsonl); SRGAN's first half is the
    # SRResNet phase.
    TASKS = {"digits-x4": _digits_task(4), "digits-x2": _digits_task(2)}

    def __init__(self, cfg, shape_a: tuple[int, ...], shape_b: tuple[int, ...], device: torch.device):
        super().__init__(cfg, shape_a, shape_b, device)
        cfg = self.cfg  # the flat view
        for key, least in (("width", 1), ("n_blocks", 0), ("d_width", 1), ("d_depth", 1), ("lambda_adv", 0),
                           ("warmup", 0)):
            if cfg[key] < least:
                raise UserError(f"srgan config key {key!r} must be at least {least}, got {cfg[key]}")
        if cfg["lambda_adv"] > 0 and cfg["warmup"] >= cfg["steps"]:
            raise UserError(f"srgan warmup ({cfg['warmup']}) must be below steps ({cfg['steps']}), else the GAN never "
                            f"trains; pass --set warmup=N (the presets use half the steps) or lambda_adv=0")
        (c_a, h_a, w_a), (c_b, h_b, w_b) = self.shape_a, self.shape_b
        factor = h_b // h_a
        if h_b != factor * h_a or w_b != factor * w_a or factor < 2 or factor & (factor - 1):
            raise UserError(
                f"srgan needs B images 2, 4, 8, ... times the size of A; got A {h_a}x{w_a} and B {h_b}x{w_b}"
            )
        self.factor = factor
        self.nets["G"] = SRResNetGenerator(c_a, c_b, factor, cfg["width"], cfg["n_blocks"]).to(device)
        self.optims["G"] = self.adam(self.nets["G"])
        if cfg["lambda_adv"] > 0:
            self.nets["D"] = SRDiscriminator(c_b, h_b, cfg["d_width"], cfg["d_depth"]).to(device)
            self.optims["D"] = self.adam(self.nets["D"], d=True)
        self._phi: nn.Module | None = None  # loaded when training starts; not in self.nets, so never saved

    def phi(self) -> nn.Module:
        """The frozen content network; loaded when training starts, so applying a model never needs it."""
        if self._phi is None:
            self._phi = load_content_net(self.cfg["content"], self.shape_b, self.device)
        return self._phi

    def train(self, mode: bool = True) -> None:
        super().train(mode)
        if mode:
            self.phi()  # a bad content path fails before the first step

    def update(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        G, cfg = self.nets["G"], self.cfg
        x_lr, x_real = batch["a"], batch["b"]  # [N, C, h, w], [N, C, H, W]
        x_fake = G(x_lr)  # [N, C, H, W]
        stats: dict[str, torch.Tensor] = {"mse": F.mse_loss(x_fake.detach(), x_real)}
        gan = cfg["lambda_adv"] > 0 and step >= cfg["warmup"]

        # Update D (eq. 2): real high-resolution images against G's.
        if gan:
            D = self.nets["D"]
            logits_real, logits_fake = D(x_real), D(x_fake.detach())
            l_D = loss_D(logits_real, logits_fake)
            self.optims["D"].zero_grad(set_to_none=True)
            l_D.backward()
            self.optims["D"].step()
            stats.update(loss_D=l_D.detach(), D_real=torch.sigmoid(logits_real).mean().detach(),
                         D_fake=torch.sigmoid(logits_fake).mean().detach())

        # Update G: pixel MSE during warm-up and for SRResNet, else the perceptual loss (eq. 3).
        if gan:
            phi = self.phi()
            l_content = content_loss(phi(x_fake), phi(x_real))
            l_adv = adversarial_loss(self.nets["D"](x_fake))
            l_G = perceptual_loss(l_content, l_adv, cfg["lambda_adv"])
            stats.update(content=l_content.detach(), adv=l_adv.detach())
        elif cfg["lambda_adv"] > 0:  # warm-up: SRResNet's MSE, the paper's initialisation of SRGAN
            l_G = content_loss(x_fake, x_real)
        else:  # SRResNet, or a generator trained on the content loss alone
            phi = self.phi()
            l_G = content_loss(phi(x_fake), phi(x_real))
        self.optims["G"].zero_grad(set_to_none=True)
        l_G.backward()
        self.optims["G"].step()
        stats["loss_G"] = l_G.detach()
        return stats

    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """[N, C, h, w] low resolution -> [N, C, factor * h, factor * w] in [-1, 1]."""
        return self.nets["G"](x)

    @torch.no_grad()
    def preview(self, data: TaskData, n: int = 8) -> tuple[torch.Tensor, int]:
        """Rows of: input (nearest neighbour) | bicubic | G's output | real high resolution."""
        a = data.a[:n]
        return tile_columns([a, bicubic_upsample(a.float().cpu(), self.factor), self.translate_batched(a), data.b[:n]])
