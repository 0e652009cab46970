"""``gankit train``, ``gankit bench`` and ``gankit presets``: a run config, trained or timed."""

from __future__ import annotations

import json
import os
import sys

import click

from gankit.errors import UserError

EPILOG_TRAIN = """\b
Examples:
  gankit train                                   # the quick preset on bundled mnist-5k
  gankit train --preset paper-mnist --steps 20000
  gankit train --preset ring8 --set train.batch=512 --set G.hidden=[256,256]
  gankit train --data ./my_images --set data.size=32
  gankit train --resume runs/00003-quick --steps 6000
  gankit train --preset dcgan-mnist --precision bf16 --compile
  gankit train --preset pix2pix-edges           # an image-to-image system (see `gankit translate`)
  torchrun --nproc_per_node 4 -m gankit train --preset dcgan-mnist   # 4 processes, DDP
"""


def _speed_switches(precision: str | None, compile_: bool | None) -> list[str]:
    """--precision / --compile as config overrides (unset: the config's own choice)."""
    extra = [f"train.precision={precision}"] if precision is not None else []
    return extra + ([f"train.compile={str(compile_).lower()}"] if compile_ is not None else [])


PRECISION = click.Choice(["auto", "fp32", "bf16"])


@click.command(epilog=EPILOG_TRAIN)
@click.option("--preset", default=None, help="Named run config (see `gankit presets`); default quick.")
@click.option("--config", "config_file", default=None, metavar="FILE.json",
              help="A run config of your own (e.g. a run's config.json) instead of a preset.")
@click.option("--data", "data_name", default=None,
              help="Dataset name (see `gankit datasets`) or a path to images / .npy / .npz.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. train.batch=128 (repeatable).")
@click.option("--steps", type=int, default=None, help="Training steps (G updates); sets train.steps.")
@click.option("--seed", type=int, default=None, help="Seed of init, noise and batch order; sets train.seed.")
@click.option("--out", default="runs", show_default=True, help="Folder that receives the run directory.")
@click.option("--resume", default=None, metavar="RUN_DIR", help="Continue the run in RUN_DIR from its checkpoint.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N; sets train.device.")
@click.option("--threads", type=int, default=None,
              help="CPU threads; sets train.threads (0, the default: one per core idle at the start). "
                   "Also with --resume.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and the data's shape, then stop.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--precision", type=PRECISION, default=None,
              help="Matmul precision: bf16 autocast or fp32; sets train.precision (default auto: bf16 where native).")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile G and D; sets train.compile.")
def train(preset, config_file, data_name, overrides, steps, seed, out, resume, device, threads, dry_run, quiet,
          precision, compile_):
    """Train a GAN (Algorithm 1 of Goodfellow et al. 2014), the VAE or an image-to-image system (the
    preset's model) and write a run directory.

    Under torchrun (WORLD_SIZE > 1) the GAN trains data-parallel; train.batch is per process.
    """
    from gankit.config import I2I_SYSTEMS, apply_overrides, load_json, load_preset, to_dict
    from gankit.train import train as run_train

    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 prints
    echo = click.echo if main_rank else (lambda *a, **k: None)
    if resume is not None:
        if (data_name or overrides or seed is not None or precision is not None or compile_ is not None
                or preset or config_file or device):
            raise UserError("--resume continues a run with its own config; only --steps and --threads may change "
                            "(drop --preset/--config/--data/--set/--seed/--device/--precision/--compile)")
        result = run_train(resume=resume, steps=steps, progress=not quiet, threads=threads)
    else:
        extra = list(overrides)
        if data_name is not None:
            extra.insert(0, "data.name=" + json.dumps(data_name))
        if steps is not None:
            extra.append(f"train.steps={steps}")
        if seed is not None:
            extra.append(f"train.seed={seed}")
        if device is not None:
            extra.append(f"train.device={json.dumps(device)}")
        if threads is not None:
            extra.append(f"train.threads={threads}")
        if preset and config_file:
            raise UserError("give --preset or --config, not both (a config file holds a whole run config)")
        base = _read_config(config_file, load_json) if config_file else load_preset(preset or "quick")
        preset = base.preset
        if data_name is not None and base.model in I2I_SYSTEMS:
            raise UserError(f"--data names one dataset, but {preset} ({base.model}) reads two sides of images: "
                            "--set task.name=folders --set task.data_a=DIR --set task.data_b=DIR")
        if base.model in I2I_SYSTEMS and not config_file:
            from gankit.systems.i2i import config_for

            cfg = config_for(preset, extra + _speed_switches(precision, compile_))
        else:
            cfg = apply_overrides(base, extra + _speed_switches(precision, compile_))
        if dry_run:
            echo(json.dumps(to_dict(cfg), indent=2))
            if cfg.model in I2I_SYSTEMS:
                from gankit.systems.i2i import build_task

                task = build_task(cfg, "train")
                echo(f"data: task {cfg.task.name}, {len(task.a)} A images of shape {list(task.shape_a)}, "
                     f"{len(task.b)} B images of shape {list(task.shape_b)}")
                return
            from gankit.data import build_dataset

            data = build_dataset(cfg.data, "train")
            echo(f"data: {data.name}, {len(data.x)} examples of shape {list(data.shape)}")
            return
        if not quiet:
            data = f"task {cfg.task.name}" if cfg.model in I2I_SYSTEMS else cfg.data.name
            echo(f"gankit train: {cfg.preset} ({cfg.model}) on {data}, {cfg.train.steps} steps of batch "
                 f"{cfg.train.batch}; the resolved config goes to the run's config.json (--dry-run prints it)")
        result = run_train(cfg, out=out, progress=not quiet)
    report = result.report if main_rank else None
    if result.interrupted:
        echo(f"interrupted at step {result.step}; checkpoint saved: {result.checkpoint}", err=True)
        echo(f"resume with: gankit train --resume {result.run_dir}", err=True)
        sys.exit(130)
    echo(f"trained {result.step} steps; run directory: {result.run_dir}")
    echo(f"samples: {result.samples}")
    if report is not None:
        echo(f"report: {report}")


@click.command(epilog="""\b
Examples:
  gankit bench --preset tutorial-mlp --batch 256 --steps 100
  gankit bench --preset quick --precision bf16 --json --quiet > bench.json   # no progress bar on stderr
  gankit bench --preset dcgan-mnist --until-fid 30 --every 500   # training seconds until digits FID <= 30
""")
@click.option("--preset", default="quick", show_default=True, help="Named run config to time (see `gankit presets`).")
@click.option("--batch", type=int, default=None, help="Minibatch size; sets train.batch.")
@click.option("--steps", type=int, default=50, show_default=True, help="Training steps timed (after a warm-up run).")
@click.option("--warmup", type=int, default=10, show_default=True,
              help="Steps of the warm-up run whose time is subtracted.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--precision", type=PRECISION, default=None, help="Matmul precision; sets train.precision.")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile G and D; sets train.compile.")
@click.option("--until-fid", type=float, default=None, metavar="FID",
              help="Instead: train until the digits FID is at most FID and report the training seconds it took.")
@click.option("--every", type=int, default=500, show_default=True, help="With --until-fid: steps between evaluations.")
@click.option("-n", "n", type=int, default=2000, show_default=True, help="With --until-fid: samples per evaluation.")
@click.option("--max-seconds", type=float, default=600.0, show_default=True,
              help="With --until-fid: stop once training has taken this long.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress bar (it goes to stderr, also with --json).")
def bench(preset, batch, steps, warmup, overrides, precision, compile_, until_fid, every, n, max_seconds, as_json,
          quiet):
    """Measure training samples/s, achieved FLOP/s and the share of this machine's matmul peak
    (or, with --until-fid, the training seconds to a digits FID)."""
    from gankit.bench import bench as run_bench
    from gankit.config import apply_overrides, load_preset

    extra = list(overrides) + ([f"train.batch={batch}"] if batch is not None else [])
    extra += _speed_switches(precision, compile_)
    cfg = apply_overrides(load_preset(preset), extra)
    if until_fid is not None:
        _until_fid(cfg, until_fid, every, n, max_seconds, as_json, quiet)
        return
    res = run_bench(cfg, steps=steps, warmup=warmup, progress=not quiet)
    if as_json:
        click.echo(json.dumps(res))
        return
    click.echo(f"{res['preset']}, batch {res['batch']}, {res['threads']} threads, {res['precision']}")
    click.echo(f"  samples/s        {res['samples_per_s']:,.0f}   ({1e3 * res['step_seconds']:.2f} ms per step)")
    click.echo(f"  FLOPs per step   {res['flops_per_step'] / 1e6:,.1f} M "
               "(matmuls and convolutions, forward and backward)")
    click.echo(f"  achieved         {res['flops_per_s'] / 1e9:,.2f} GFLOP/s")
    click.echo(f"  matmul peak      {res['peak_flops_fp32'] / 1e9:,.2f} GFLOP/s fp32, "
               f"{res['peak_flops_bf16'] / 1e9:,.2f} bf16")
    click.echo(f"  share of peak    {100 * res['peak_share']:.1f}% of the {res['precision']} peak "
               f"({100 * res['peak_share_fp32']:.1f}% of fp32's, {100 * res['peak_share_bf16']:.1f}% of bf16's)")


def _until_fid(cfg, target, every, n, max_seconds, as_json, quiet):
    from gankit.bench import check_time_to_fid, time_to_fid

    check_time_to_fid(cfg, target, every, n, max_seconds)  # bad input: one line before the header

    def log(row):
        if not quiet:
            click.echo(f"  step {row['steps']:>6}  {row['seconds']:8.1f} s training  digits FID {row['fid']:.2f}",
                       err=True)

    if not quiet:
        click.echo(f"gankit bench: {cfg.preset} until digits FID <= {target:g} ({n} samples every {every} steps, "
                   f"at most {max_seconds:g} s of training or {cfg.train.steps} steps)", err=True)
    res = time_to_fid(cfg, target, every=every, n=n, max_seconds=max_seconds, log=log)
    if as_json:
        click.echo(json.dumps(res))
    elif res["reached"]:
        click.echo(f"{res['preset']}: digits FID <= {target:g} after {res['seconds']:.1f} s of training "
                   f"({res['steps']} steps, {res['threads']} threads)")
    else:
        last = res["rows"][-1]
        click.echo(f"{res['preset']}: digits FID {target:g} not reached; best {res['best_fid']:.2f} "
                   f"(stopped at step {last['steps']} after {last['seconds']:.1f} s of training)")
    if res["interrupted"]:
        click.echo("interrupted: the figures above stop at the last whole segment", err=True)
        sys.exit(130)


def _read_config(path: str, load_json):
    """A run config from a JSON file (strict, like a preset); one line for a missing or malformed file."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--config {path!r}: no such file; expected a JSON run config such as a run's config.json")
    try:
        return load_json(p)
    except json.JSONDecodeError as e:
        raise UserError(f"--config {path!r} is not valid JSON (line {e.lineno}: {e.msg})") from None


@click.command()
def presets():
    """List the named run configs."""
    from gankit.config import list_presets

    from gankit.config import load_preset

    for name, desc in list_presets().items():
        click.echo(f"{name:18s} {load_preset(name).model:9s} {desc}")
