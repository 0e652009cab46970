"""``gankit export``: a trained G as a file other tools run, ONNX or TorchScript, checked after writing.

The exported network takes ``z`` ``[N, z_dim]`` (and, for a conditional G, integer labels ``c``
``[N]``) with a dynamic batch axis and returns images ``[N, C, H, W]`` (or vectors ``[N, D]``):

- ``pixels="float"``: G's own output, floats in [-1, 1] (the default);
- ``pixels="uint8"``: uint8 RGB in [0, 255], gray repeated to three channels: the form the
  torch-fidelity metrics read from a generator file (``fidelity --input1 G.onnx
  --input1-model-z-size 64 --input1-model-z-type normal --input1-model-num-samples 10000 ...``;
  torch-fidelity wants ``.onnx`` or, for TorchScript, ``.pth``).

``z_input="native"`` expects z as G drew it in training (``N(0, I)``, or ``U(-sqrt 3, sqrt 3)`` for a
``z_dist = "uniform"`` run); ``z_input="uniform_0_1"`` takes ``u ~ U(0, 1)`` and maps it to G's
uniform noise, ``sqrt 3 (2u - 1)``, for tools whose uniform noise is on [0, 1] (torch-fidelity's
``uniform_0_1``).

Every export is run once after writing (onnxruntime for ONNX, ``torch.jit.load`` for
TorchScript) on a fresh batch of another size than the one traced, and compared with G; the
largest difference is returned and a file that disagrees is removed with a one-line error.

Example:
    >>> from gankit.export import export                              # doctest: +SKIP
    >>> export("runs/00000-quick", "G.onnx")["max_abs_diff"] < 1e-4    # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from gankit.errors import UserError

__all__ = ["FORMATS", "PIXELS", "Z_INPUTS", "export", "format_of"]

FORMATS = {"onnx": (".onnx",), "torchscript": (".pth", ".pt")}
PIXELS = ("float", "uint8")
Z_INPUTS = ("native", "uniform_0_1")
TOLERANCE = {"float": 1e-4, "uint8": 1.0}  # uint8: one grey level of rounding


class _Exported(nn.Module):
    """G with the input and output conventions of the export (see the module docstring)."""

    def __init__(self, G: nn.Module, pixels: str, z_input: str):
        super().__init__()
        self.G, self.pixels, self.z_input = G, pixels, z_input

    def _z(self, z: torch.Tensor) -> torch.Tensor:
        return math.sqrt(3.0) * (2 * z - 1) if self.z_input == "uniform_0_1" else z

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        if self.pixels == "float":
            return x
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # [N, 3, H, W]
        return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class _Unconditional(_Exported):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._out(self.G(self._z(z)))


class _Conditional(_Exported):
    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self._out(self.G(self._z(z), c))


def format_of(out: str | os.PathLike, fmt: str | None = None) -> str:
    """The export format: ``fmt`` if given (checked against the file's suffix), else read from the suffix."""
    suffix = Path(out).suffix.lower()
    if fmt is None:
        for name, suffixes in FORMATS.items():
            if suffix in suffixes:
                return name
        raise UserError(f"--out {str(out)!r}: cannot tell the format from the suffix {suffix or '(none)'!r}; "
                        "use .onnx (ONNX) or .pth / .pt (TorchScript), or give --format")
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if suffix not in FORMATS[fmt]:
        raise UserError(f"--out {str(out)!r}: a {fmt} file should end in {' or '.join(FORMATS[fmt])}")
    return fmt


def _inputs(G: nn.Module, n: int, z_input: str, seed: int) -> tuple[torch.Tensor, ...]:
    from gankit.models import sample_z

    gen = torch.Generator().manual_seed(seed)
    if z_input == "uniform_0_1":
        z = torch.rand(n, G.z_dim, generator=gen)
    else:
        z = sample_z(n, G.z_dim, G.z_dist, gen, torch.device("cpu"))
    if G.c_dim:
        return z, torch.randint(G.c_dim, (n,), generator=gen)
    return (z,)


def export(run_or_ckpt: str | os.PathLike, out: str | os.PathLike, fmt: str | None = None, ema: bool = True,
           pixels: str = "float", z_input: str = "native", opset: int = 17) -> dict:
    """Write the run's G (G_ema by default) as ONNX or TorchScript, run the file, and say how well it agrees.

    Returns:
        dict with ``path``, ``format``, ``inputs`` (names and shapes), ``output``, ``z_dim``, ``z_dist``,
        ``c_dim``, ``pixels``, ``z_input`` and ``max_abs_diff`` (exported file against G on a fresh batch).
    """
    from gankit.run import load_run

    fmt = format_of(out, fmt)
    if pixels not in PIXELS:
        raise UserError(f"unknown --pixels {pixels!r}; choose one of {', '.join(PIXELS)}")
    if z_input not in Z_INPUTS:
        raise UserError(f"unknown --z-input {z_input!r}; choose one of {', '.join(Z_INPUTS)}")
    G = load_run(run_or_ckpt).generator(ema=ema, command="export")
    if pixels == "uint8" and len(G.data_shape) != 3:
        raise UserError(f"--pixels uint8 makes images; this G makes vectors of shape {list(G.data_shape)}")
    if z_input == "uniform_0_1" and G.z_dist != "uniform":
        raise UserError(f"--z-input uniform_0_1 is for runs with z_dist=uniform; this G draws z from {G.z_dist}")
    wrapper = (_Conditional if G.c_dim else _Unconditional)(G, pixels, z_input).eval()
    names = ["z", "c"][:1 + bool(G.c_dim)]
    example = _inputs(G, 4, z_input, seed=0)
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out {str(out)!r} is a folder; expected a file name ending in {FORMATS[fmt][0]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp" + out.suffix)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on the label check, which runs at trace time only
            if fmt == "onnx":
                _require_onnx()
                axes = {name: {0: "batch"} for name in [*names, "x"]}
                torch.onnx.export(wrapper, example, str(tmp), input_names=names, output_names=["x"],
                                  dynamic_axes=axes, opset_version=opset, dynamo=False)
            else:
                torch.jit.trace(wrapper, example, check_trace=False).save(str(tmp))
        diff, made = _check(tmp, fmt, wrapper, _inputs(G, 7, z_input, seed=1), names)
        if diff > TOLERANCE[pixels]:
            raise UserError(f"the exported {fmt} file disagrees with G by {diff:.3g} (more than "
                            f"{TOLERANCE[pixels]:g}); not written")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"path": str(out), "format": fmt, "inputs": {n: ["N", G.z_dim] if n == "z" else ["N"] for n in names},
            "output": {"x": ["N", *list(made.shape[1:])], "dtype": str(made.dtype).removeprefix("torch.")},
            "z_dim": G.z_dim, "z_dist": G.z_dist, "c_dim": G.c_dim, "pixels": pixels, "z_input": z_input,
            "max_abs_diff": diff}


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise UserError(f"ONNX export needs the onnx and onnxruntime packages ({e.name} is missing): "
                        "pip install 'gankit[export]'") from None


@torch.no_grad()
def _check(path: Path, fmt: str, wrapper: nn.Module, inputs: tuple[torch.Tensor, ...],
           names: list[str]) -> tuple[float, torch.Tensor]:
    """(the largest absolute difference between the written file and the wrapper on ``inputs``, the file's output)."""
    want = wrapper(*inputs)
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; it still runs
            got = torch.jit.load(str(path), map_location="cpu")(*inputs)
    if got.shape != want.shape:
        raise UserError(f"the exported {fmt} file makes shape {list(got.shape)}, G {list(want.shape)}; not written")
    return float((got.float() - want.float()).abs().max()), got
