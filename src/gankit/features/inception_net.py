"""The FID Inception-v3 network in plain ``torch.nn``: images in [-1, 1] -> 2048-d pool3 features.

The module and parameter names equal the keys of pytorch-fid's weights file
``pt_inception-2015-12-05-6726825d.pth``, so it loads with ``load_state_dict(strict=True)``
(:func:`gankit.features.inception.load_inception` does that; a fresh network has random weights).

The graph differs from torchvision's ImageNet Inception-v3 in three places, all reproduced here:

- the 3x3 average pools inside the A, C and first E blocks (Mixed_5b-5d, Mixed_6b-6e, Mixed_7b)
  leave the zero padding out of the average (``count_include_pad=False``), as TensorFlow does;
- the pool branch of the last E block (Mixed_7c) is a 3x3 *max* pool, not an average pool;
- the classifier ``fc`` has 1008 outputs (the graph's class count), and there is no auxiliary
  classifier. ``fc`` is loaded so the file matches strictly; FID never uses it.

Input scale. pytorch-fid feeds images ``u`` in [0, 1], resizes them to 299x299 (bilinear,
``align_corners=False``) and maps them to ``2 u - 1``, the [-1, 1] range the graph expects.
gankit images ``x`` already lie in [-1, 1] (``x = u * 2 - 1``, e.g. ``p / 127.5 - 1`` for
uint8 ``p``), so :meth:`InceptionV3FID.preprocess` first takes ``u = (x + 1) / 2`` and then does
exactly pytorch-fid's two steps in pytorch-fid's order. Gray images (C = 1) are repeated to
three channels, the protocol of Lucic et al., *Are GANs Created Equal?* (NeurIPS 2018), for
MNIST and Fashion-MNIST. Nothing is clamped (pytorch-fid does not clamp either).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import UserError

INPUT_SIZE = 299  # pixels; the graph's input height and width (pytorch-fid resizes to this)
FEATURE_DIM = 2048  # channels of Mixed_7c, averaged over space = the pool3 features of FID
NUM_CLASSES = 1008  # outputs of the graph's softmax layer (1000 ImageNet classes + 8 unused)
BN_EPS = 0.001  # BatchNorm epsilon of the TensorFlow graph (torchvision's BasicConv2d too)


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 0.001) -> ReLU; parameters ``conv.*`` and ``bn.*``."""

    def __init__(self, c_in: int, c_out: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))

    def fold_bn_(self) -> None:
        """Fold the (eval-mode) BatchNorm into the convolution: ``conv`` gains a bias, ``bn`` becomes Identity.

        ``bn(conv(x)) = s * (W * x - mean) + beta`` with ``s = gamma / sqrt(var + eps)`` is the convolution with
        weights ``s W`` and bias ``beta - s mean`` (PyTorch's ``fuse_conv_bn_eval``): one pass over the
        activations instead of two. Inference only.
        """
        if isinstance(self.bn, nn.Identity):
            return
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        folded = fuse_conv_bn_eval(self.conv.eval(), self.bn.eval())
        self.conv, self.bn = folded.requires_grad_(False), nn.Identity()


def _same_avg_pool() -> nn.Module:
    # TF's 3x3/1 SAME average pool divides by the number of real pixels under the window.
    return nn.AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b-5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 -> 224 + pool_c.

    pytorch-fid's FIDInceptionA: the average pool excludes the padding.
    """

    def __init__(self, c_in: int, pool_c: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, 1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.pool = _same_avg_pool()  # no parameters: not in the state_dict
        self.branch_pool = BasicConv2d(c_in, pool_c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(self.pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 -> 480 + c_in."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionC(nn.Module):
    """17x17 block (Mixed_6b-6e) with factorised 7x7 convolutions -> 768 channels.

    pytorch-fid's FIDInceptionC: the average pool excludes the padding.
    """

    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.pool = _same_avg_pool()
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        c = self.branch7x7dbl_3(self.branch7x7dbl_2(c))
        c = self.branch7x7dbl_5(self.branch7x7dbl_4(c))
        d = self.branch_pool(self.pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2 -> 1280."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(b))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionE(nn.Module):
    """8x8 block (Mixed_7b, Mixed_7c) with split 1x3 / 3x1 branches -> 2048 channels.

    ``pool="avg"`` is pytorch-fid's FIDInceptionE_1 (Mixed_7b; average pool without the
    padding); ``pool="max"`` is FIDInceptionE_2 (Mixed_7c; the TF graph max-pools here).
    """

    def __init__(self, c_in: int, pool: str) -> None:
        super().__init__()
        assert pool in ("avg", "max"), pool
        self.branch1x1 = BasicConv2d(c_in, 320, 1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        if pool == "avg":
            self.pool = _same_avg_pool()
        else:
            self.pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        d = self.branch_pool(self.pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionV3FID(nn.Module):
    """Inception-v3 of the FID reference: images in [-1, 1] -> [N, 2048] pool3 features.

    Attribute names equal the keys of pytorch-fid's weights file (``Conv2d_1a_3x3.conv.weight``,
    ``Mixed_5b.branch1x1.bn.running_mean``, ..., ``fc.weight``). A fresh instance has random
    weights; use :func:`load_inception` for the real ones.

    Example:
        >>> net = InceptionV3FID().eval()
        >>> net.preprocess(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 3, 299, 299])
    """

    feature_dim = FEATURE_DIM

    def __init__(self) -> None:
        super().__init__()
        self.precision = "fp32"  # of the trunk's convolutions; see optimize_for_inference
        self.channels_last = False
        # Stem: 299 -> 149 -> 147 -> 147 -> pool 73 -> 73 -> 71 -> pool 35.
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        # 35x35: 192 -> 256 -> 288 -> 288.
        self.Mixed_5b = InceptionA(192, pool_c=32)
        self.Mixed_5c = InceptionA(256, pool_c=64)
        self.Mixed_5d = InceptionA(288, pool_c=64)
        # 17x17: 288 -> 768.
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, c7=128)
        self.Mixed_6c = InceptionC(768, c7=160)
        self.Mixed_6d = InceptionC(768, c7=160)
        self.Mixed_6e = InceptionC(768, c7=192)
        # 8x8: 768 -> 1280 -> 2048 -> 2048.
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        # Kept only so the weights file loads strictly; FID uses the pool3 features before it.
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] in [-1, 1], C in (1, 3) -> [N, 3, 299, 299] in [-1, 1], as the graph wants.

        Steps: gray repeated to 3 channels; ``u = (x + 1) / 2`` (pytorch-fid's [0, 1] input);
        bilinear resize to 299x299 with ``align_corners=False``; ``2 u - 1``.

        Raises:
            UserError: ``x`` is not a 4-d image batch with 1 or 3 channels.
        """
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise UserError(
                f"Inception features need images [N, C, H, W] with C = 1 or 3, got shape "
                f"{list(x.shape)}"
            )
        param = self.fc.weight
        x = x.to(device=param.device, dtype=param.dtype)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # gray -> RGB (Lucic et al. 2018)
        u = (x + 1) / 2  # gankit's [-1, 1] -> pytorch-fid's [0, 1]
        u = F.interpolate(u, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * u - 1  # [N, 3, 299, 299], pytorch-fid's normalize_input

    def optimize_for_inference(self, precision: str = "fp32") -> "InceptionV3FID":
        """Make this network faster for feature extraction, in place; returns it.

        - every BatchNorm is folded into its convolution (:meth:`BasicConv2d.fold_bn_`): the same function, up
          to float rounding, with one pass fewer over each activation;
        - weights and activations are stored channels-last (NHWC), the layout oneDNN convolves fastest;
        - ``precision="bf16"``: the trunk's convolutions run under bfloat16 autocast; the resize before them
          and the final average stay float32, and the features come back as float32.

        On the 2-core reference CPU (avx512_bf16), batch 50: 174 ms per image plain, 92 folded in fp32, 42
        in bf16 (``benchmarks/inception_speed.py``; docs/inception.md, which also gives bf16's effect on
        FID: about 1-4%, so fp32 is the default of ``gankit eval``). The state_dict
        no longer matches the weights file afterwards (the folded convolutions have biases, the BatchNorms
        are gone): load the file first.

        Raises:
            UserError: ``precision`` is not "fp32" or "bf16".
        """
        if precision not in ("fp32", "bf16"):
            raise UserError(f"the Inception precision must be fp32 or bf16; got {precision!r}")
        self.eval().requires_grad_(False)
        for m in self.modules():
            if isinstance(m, BasicConv2d):
                m.fold_bn_()
        self.to(memory_format=torch.channels_last)
        self.precision, self.channels_last = precision, True
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] images in [-1, 1] (C = 1 or 3) -> [N, 2048] pool3 features (>= 0), float32."""
        x = self.preprocess(x)  # [N, 3, 299, 299], float32
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            x = self._trunk(x)  # [N, 2048, 8, 8]
        return x.float().mean(dim=(2, 3))  # [N, 2048]; = adaptive average pool to 1x1, flattened

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, 299, 299] -> Mixed_7c's [N, 2048, 8, 8]."""
        x = self.Conv2d_1a_3x3(x)  # [N, 32, 149, 149]
        x = self.Conv2d_2a_3x3(x)  # [N, 32, 147, 147]
        x = self.Conv2d_2b_3x3(x)  # [N, 64, 147, 147]
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # [N, 64, 73, 73]
        x = self.Conv2d_3b_1x1(x)  # [N, 80, 73, 73]
        x = self.Conv2d_4a_3x3(x)  # [N, 192, 71, 71]
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # [N, 192, 35, 35]
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # [N, 288, 35, 35]
        x = self.Mixed_6a(x)  # [N, 768, 17, 17]
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # [N, 768, 17, 17]
        x = self.Mixed_7a(x)  # [N, 1280, 8, 8]
        return self.Mixed_7c(self.Mixed_7b(x))  # [N, 2048, 8, 8]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`forward`, for generic feature-extraction helpers."""
        return self(x)


def scaled_random_inception(seed: int = 0) -> InceptionV3FID:
    """The network with seeded random weights whose activations stay O(1) through all 94 layers, in eval mode.

    For tests and timings where the real weights file is absent: a freshly initialised network's
    activations shrink towards 0 layer by layer, so its features would test nothing. Here every
    convolution is He-normal (for the ReLU after it) and every BatchNorm has a scale near 1, a small shift
    and running statistics near (0, 1). Its features are not FID's; its cost is exactly the real network's.

    Example:
        >>> net = scaled_random_inception()
        >>> float(net(torch.zeros(1, 1, 28, 28)).mean()) > 1e-3
        True
    """
    gen = torch.Generator().manual_seed(seed)
    model = InceptionV3FID()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(0.8 + 0.4 * torch.rand(c, generator=gen))
                module.bias.copy_(0.1 * torch.randn(c, generator=gen))
                module.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(c, generator=gen))
    return model.eval().requires_grad_(False)
