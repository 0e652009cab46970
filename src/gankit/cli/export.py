"""``gankit export``: a trained G as ONNX or TorchScript."""

from __future__ import annotations

import json

import click


@click.command("export", epilog="""\b
Examples:
  gankit export runs/00000-quick --out G.onnx                 # z [N, z_dim] -> x [N, 1, 28, 28] in [-1, 1]
  gankit export runs/00001-cgan-mnist --out G.pth             # TorchScript; inputs z and labels c
  gankit export runs/00000-quick --out G.onnx --pixels uint8  # uint8 RGB, as torch-fidelity reads a generator
  fidelity --gpu 0 --fid --input1 G.onnx --input1-model-z-size 64 --input1-model-z-type normal \\
      --input1-model-num-samples 10000 --input2 real_images/   # then, with torch-fidelity installed
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--out", required=True, help="The file to write: .onnx (ONNX) or .pth / .pt (TorchScript).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default=None,
              help="Default: from the suffix of --out.")
@click.option("--pixels", type=click.Choice(["float", "uint8"]), default="float", show_default=True,
              help="float: G's output in [-1, 1]; uint8: RGB in [0, 255] (torch-fidelity's generator input).")
@click.option("--z-input", "z_input", type=click.Choice(["native", "uniform_0_1"]), default="native",
              show_default=True, help="uniform_0_1: take u ~ U(0, 1) for a z_dist=uniform run.")
@click.option("--no-ema", is_flag=True, help="Export G itself rather than its moving average G_ema.")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset version.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def export(run, out, fmt, pixels, z_input, no_ema, opset, as_json):
    """Write the run's generator as ONNX or TorchScript, then run the file and compare it with G."""
    from gankit.export import export as run_export

    res = run_export(run, out, fmt=fmt, ema=not no_ema, pixels=pixels, z_input=z_input, opset=opset)
    if as_json:
        click.echo(json.dumps(res))
        return
    ins = ", ".join(f"{k} {v}" for k, v in res["inputs"].items())
    click.echo(f"wrote {res['path']} ({res['format']}): {ins} -> x {res['output']['x']} {res['output']['dtype']}; "
               f"z ~ {res['z_dist']}, {res['c_dim']} classes; checked against G: max |diff| {res['max_abs_diff']:.2g}")
