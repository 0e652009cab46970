"""The config sections of the image-to-image systems (``model`` = pix2pix | cyclegan | srgan | simgan): the
``task`` they read their images from and one section per system. Part of :class:`gankit.config.RunConfig`
(re-exported by :mod:`gankit.config`); kept apart so that the GAN's sections stay in one readable file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskConfig:
    """The data of an image-to-image system (model = pix2pix | cyclegan | srgan | simgan; docs/translate.md)."""

    name: str = ""  # a built-in task of the system ("" = its first), or "folders" for data_a / data_b
    data_a: str = ""  # the user's side A (inputs): a folder of images or a .npy / .npz (name "folders")
    data_b: str = ""  # the user's side B (targets, or the other domain)
    size: int = 0  # resize the user's images to size x size (0: keep)
    n_train: int = 0  # use only the first n_train training examples of each side (0: all)


@dataclass(frozen=True)
class Pix2PixConfig:
    """pix2pix (Isola et al. 2017; gankit.systems.pix2pix, docs/pix2pix.md)."""

    lambda_l1: float = 100.0  # weight of L1 (section 4.2, "lambda = 100")
    lambda_gan: float = 1.0  # weight of the cGAN term; 0 = L1 alone, no D
    g_base: int = 32  # U-Net channels after the first down block (paper 64; smaller for a CPU)
    g_depth: int = 3  # U-Net down/up blocks; 28 px is padded to 32, so 3 leaves a 4x4 bottleneck
    dropout: float = 0.5  # in the first 3 decoder blocks (appendix 6.1.1)
    d_base: int = 32  # PatchGAN channels of the first layer (paper 64)
    d_layers: int = 1  # stride-2 layers: 1 gives 16x16 patches (a 12x12 logit map on 28x28 images)
    norm: str = "batch"  # "batch" (the paper's), "instance" or "none", in G and D


@dataclass(frozen=True)
class CycleGANConfig:
    """CycleGAN (Zhu et al. 2017; gankit.systems.cyclegan, docs/cyclegan.md)."""

    lambda_cycle: float = 10.0  # lambda of eq. 3 (section 4: 10 in every experiment); 0 = GAN alone
    lambda_identity: float = 0.5  # identity weight as a fraction of lambda (appendix 7.1: 0.5 lambda); 0 = off
    history: int = 50  # image buffer per D (section 4: 50); 0 = latest fakes only
    decay_start: float = 0.5  # fraction of steps after which lr decays linearly to 0 (section 4: 100 of 200 epochs)
    init_std: float = 0.02  # conv weights ~ N(0, init_std) (appendix 7.1); 0 keeps PyTorch's init
    g_base: int = 8  # channels of G's first conv (paper 64)
    g_down: int = 2  # stride-2 down blocks of G (paper 2); the size must divide by 2**g_down
    g_blocks: int = 2  # residual blocks of G (paper 6 at 128x128, 9 at 256x256)
    d_base: int = 16  # channels of D's first conv (paper 64)
    d_layers: int = 2  # stride-2 convs of D: 2 sees 34x34 patches (the paper's 3 sees 70x70)
    norm: str = "instance"  # instance norm in G and D (section 4, after Ulyanov et al.)


@dataclass(frozen=True)
class SRGANConfig:
    """SRGAN and SRResNet (Ledig et al. 2017; gankit.systems.srgan, docs/srgan.md)."""

    width: int = 32  # G channels (the paper's 64)
    n_blocks: int = 4  # G residual blocks B (the paper's 16)
    d_width: int = 16  # D channels of the first layer (the paper's 64)
    d_depth: int = 3  # D stride-1/stride-2 pairs (the paper's 4, on 96x96 crops)
    content: str = "digits"  # digits | digits-fc | pixel | a TorchScript file; the paper's VGG19 phi_{5,4}
    lambda_adv: float = 1e-3  # eq. 3's weight of the adversarial loss; 0: no D, G on the content loss alone
    warmup: int = 0  # first steps train G on pixel MSE only, D idle (the paper starts SRGAN from SRResNet, 3.2)


@dataclass(frozen=True)
class SimGANConfig:
    """SimGAN (Shrivastava et al. 2017; gankit.systems.simgan, docs/simgan.md)."""

    r_base: int = 16  # refiner channels (the paper's 64, section 3.1; narrower for CPU minutes)
    r_blocks: int = 3  # refiner residual blocks (the paper's 4 for eyes, section 3.1; one fewer for CPU minutes)
    r_norm: str = "none"  # the paper's refiner has no normalisation; "batch" | "instance" | "none"
    d_base: int = 16  # D channels of the first convolution
    d_layers: int = 1  # PatchGAN stride-2 layers: 1 = 16x16 patches, a 12x12 logit map on 28x28 (section 2.2)
    d_norm: str = "none"  # "batch" | "instance" | "none"
    lambda_reg: float = 1.0  # weight of the self-regularisation L1 (per pixel, against the per-patch realism loss)
    pretrain_r: int = 200  # steps of R on self-regularisation only (the paper: 1,000, section 3.1)
    pretrain_d: int = 50  # steps of D only after that (the paper: 200, section 3.1)
    k_g: int = 2  # R updates per step (Algorithm 1's K_g; the paper: 2, section 3.1)
    k_d: int = 1  # D updates per step (Algorithm 1's K_d; the paper: 1)
    history: int = 3200  # images in the history buffer (section 2.3); 0 = off. 100 batches of 32
    # R1 (Mescheder et al. 2018): gamma/2 E||grad_y D(y)||^2 on the real images, D's patch logits averaged per
    # image; 0 = off (the paper has none). The GAN presets' lever (docs/presets.md), measured here in docs/simgan.md
    r1_gamma: float = 0.0
    pool: int = 10000  # synthetic training digits rendered for task "fonts"
    n_test: int = 1000  # synthetic test digits (task "fonts"), as many as mnist-5k's real test digits
    pool_seed: int = 0  # seed of the synthetic digits (apart from train.seed, so refiner seeds share data)


# The image-to-image systems: each reads the `task` section and its own section, plus train and optim.
I2I_SYSTEMS = ("pix2pix", "cyclegan", "srgan", "simgan")
