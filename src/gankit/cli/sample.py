"""``gankit sample`` and ``gankit augment``: draw from a trained generator, no dataset needed."""

from __future__ import annotations

import click

from gankit.errors import UserError

MOST_SEEDS = 1_000_000  # --seeds names at most this many (one sample each; -n draws more)


@click.command(epilog="""\b
Examples:
  gankit sample runs/00000-quick -n 64 --seed 0 --out grid.png
  gankit sample pretrained:mnist -n 100 --out grid.png   # the generator that ships with gankit
  gankit sample runs/00000-quick/checkpoint.pt -n 10000 --out samples.npz
  gankit sample runs/00001-cgan-mnist -n 100 --out grid.png      # conditional: one row per class
  gankit sample runs/00001-cgan-mnist -n 16 --class 3 --out threes.png
  gankit sample runs/00000-quick --seeds 0-63 --out grid.png   # one image per seed (stylegan2's habit)
  gankit sample runs/00000-quick -n 50000 --out fid.npz --quiet  # no progress bar on stderr
  gankit sample pretrained:mnist -n 1000 --out my_images   # a folder of PNGs, e.g. for gankit train --data
""")
@click.argument("run", metavar="RUN_DIR|CKPT|pretrained:NAME")
@click.option("-n", "n", type=int, default=64, show_default=True, help="Number of samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
@click.option("--out", default="samples.png", show_default=True,
              help="A .png picture, a .npz of arrays, or a folder (no suffix: one PNG each).")
@click.option("--class", "class_", type=int, default=None,
              help="Conditional G: draw this class (default: one row per class).")
@click.option("--seeds", default=None, metavar="A-B,C",
              help="One sample per seed, e.g. 0-63 or 1,5,9 (instead of -n and --seed).")
@click.option("--device", default="cpu", show_default=True, help="Where G runs: cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bar (on stderr).")
def sample(run, n, seed, out, class_, seeds, device, quiet):
    """Draw samples from a trained generator (no dataset needed)."""
    from gankit.generate import sample as run_sample

    wanted = None
    if seeds is not None:
        from gankit.data.images import parse_indices

        wanted = parse_indices(seeds, 2 ** 63, where="the seeds", context=f"--seeds {seeds!r}", most=MOST_SEEDS)
    path = run_sample(run, n=n, seed=seed, out=out, c=class_, seeds=wanted, device=device, progress=not quiet)
    click.echo(f"wrote {len(wanted) if wanted is not None else n} samples to {path}")


@click.command(epilog="""\b
Examples:
  gankit augment runs/00001-cgan-mnist --n 5000 --out synthetic.npz
  gankit augment runs/00001-cgan-mnist --n 1000 --out synthetic/ --classes 3,5,8
  gankit augment runs/00001-cgan-mnist --n 50000 --out synthetic.npz --quiet   # no progress bars on stderr
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--n", "n", type=int, required=True, help="Number of samples, shared equally over the classes.")
@click.option("--out", required=True, help="A .npz file (x uint8 [N, C, H, W], y labels) or a folder (one per class).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
@click.option("--classes", default=None, metavar="K,K,...", help="Only these classes (default all).")
@click.option("--quiet", is_flag=True, help="No progress bars (on stderr).")
def augment(run, n, out, seed, classes, quiet):
    """Write labelled synthetic data from a conditional generator (data augmentation)."""
    from gankit.apps.augment import augment as run_augment

    wanted = None
    if classes is not None:
        try:
            wanted = [int(c) for c in classes.split(",") if c.strip()]
        except ValueError:
            raise UserError(f"--classes expects comma-separated class numbers like 0,3,7; got {classes!r}") from None
    path = run_augment(run, n, out, seed=seed, classes=wanted, progress=not quiet)
    click.echo(f"wrote {n} labelled samples to {path}")
