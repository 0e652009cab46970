"""``gankit translate train | apply | presets``: the image-to-image systems."""

from __future__ import annotations

import sys

import click

from gankit.config import I2I_SYSTEMS
from gankit.errors import UserError


@click.group(epilog="""\b
Examples:
  gankit translate train --system pix2pix --out runs/          # edge maps -> digits, a few CPU minutes
  gankit translate train --preset pix2pix-l1 --steps 500       # the same without the GAN term
  gankit translate train --system cyclegan --data-a gray/ --data-b colour/ --set task.size=32
  gankit translate apply runs/00000-pix2pix-edges task:test --out translated/ --grid pairs.png
  gankit translate presets
  gankit train --preset pix2pix-edges                          # the same engine as every system
""")
def translate():
    """Image-to-image GANs: pix2pix, CycleGAN, SRGAN, SimGAN (docs/translate.md).

    `gankit translate train` is `gankit train` for these systems, kept for gankit 0.1's scripts.
    """


@translate.command("train")
@click.option("--system", default=None, type=click.Choice(I2I_SYSTEMS),
              help="The system, with its default preset.")
@click.option("--preset", default=None, help="A named translation preset (see `gankit translate presets`).")
@click.option("--data-a", "data_a", default=None, metavar="PATH",
              help="Your own side-A images (folder or .npy/.npz); sets task.name=folders.")
@click.option("--data-b", "data_b", default=None, metavar="PATH",
              help="Your own side-B images; paired systems match file names.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. pix2pix.lambda_l1=10 or train.batch=8 (repeatable).")
@click.option("--steps", type=int, default=None, help="Training steps; sets train.steps.")
@click.option("--seed", type=int, default=None, help="Seed of init, data and batches; sets train.seed.")
@click.option("--out", default="runs", show_default=True, help="Folder that receives the run directory.")
@click.option("--resume", default=None, metavar="RUN_DIR",
              help="Continue the run in RUN_DIR (only --steps may change).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def translate_train(system, preset, data_a, data_b, overrides, steps, seed, out, resume, quiet):
    """Train a translation system and write a run directory (config, stats, previews, checkpoint)."""
    import json

    from gankit.translate import train_translation

    if system and preset:
        raise UserError("give --system or --preset, not both (a preset names its system)")
    extra = list(overrides)
    if data_a is not None or data_b is not None:
        extra += ['task.name="folders"', f"task.data_a={json.dumps(data_a or '')}",
                  f"task.data_b={json.dumps(data_b or '')}"]
    if seed is not None:
        extra.append(f"train.seed={seed}")
    if resume is not None and (system or preset or extra):
        raise UserError("--resume continues a run with its own config; only --steps may change")
    res = train_translation(preset or system or "pix2pix", overrides=extra, out=out, resume=resume, steps=steps,
                            progress=not quiet)
    if res.interrupted:
        click.echo(f"interrupted at step {res.step}; checkpoint saved: {res.checkpoint}", err=True)
        click.echo(f"resume with: gankit translate train --resume {res.run_dir}", err=True)
        sys.exit(130)
    click.echo(f"trained {res.step} steps; run directory: {res.run_dir}; checkpoint {res.checkpoint}; "
               f"samples {res.preview}")


@translate.command("apply")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.argument("images", metavar="IMAGES")
@click.option("--out", required=True, help="A folder (one PNG per input) or a .npz file.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="BtoA: the second generator (CycleGAN).")
@click.option("--grid", default=None, metavar="PNG", help="Also write inputs beside outputs as one picture.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bar (on stderr).")
def translate_apply(run, images, out, direction, grid, device, quiet):
    """Translate IMAGES (a folder, an image, .npy/.npz, or task:test) with a trained system."""
    from gankit.translate import apply_translation

    path = apply_translation(run, images, out, direction=direction, device=device, grid=grid, progress=not quiet)
    click.echo(f"wrote {path}" + (f" and {grid}" if grid else ""))


@translate.command("presets")
def translate_presets():
    """List the translation presets."""
    from gankit.translate import list_presets

    for name, (system, values) in list_presets().items():
        from gankit.config import load_preset

        click.echo(f"{name:20s} {system:9s} {load_preset(name).description}")
