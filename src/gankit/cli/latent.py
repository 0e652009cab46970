"""``gankit interpolate | invert | fit-encoder | arithmetic``: walks, searches and sums in G's latent space."""

from __future__ import annotations

import click


@click.command(epilog="""\b
Examples:
  gankit interpolate runs/00000-quick --steps 10 --pairs 4 --seed 0 --out interpolation.png
  gankit interpolate runs/00000-quick --steps 10 --between-real 3 7 --out seven-to-one.png
  gankit interpolate runs/00000-quick --steps 10 --between 1 2 --out seed1-to-seed2.png
  gankit interpolate runs/00000-quick/checkpoint.pt --mode lerp --out paths.npz   # z, G(z) and t as arrays
  gankit interpolate runs/00001-ring8 --pairs 6 --out paths.png                    # 2-D data: a scatter plot
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--steps", type=int, default=10, show_default=True, help="Points per path, both ends included.")
@click.option("--between-real", "between_real", type=int, nargs=2, default=None, metavar="I J",
              help="Walk between real examples I and J of the run's data, after finding their z by optimisation.")
@click.option("--between", "between_seeds", type=int, nargs=2, default=None, metavar="SEED SEED",
              help="Walk between the z of two seeds (the z of `gankit arithmetic`'s seed:N).")
@click.option("--pairs", type=int, default=4, show_default=True,
              help="Random pairs of z, one row each (without --between-real).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random z (and of the inversion's starts).")
@click.option("--mode", type=click.Choice(["auto", "slerp", "lerp"]), default="auto", show_default=True,
              help="Path: slerp (great circle) or lerp (straight line); "
                   "auto = slerp for Gaussian z, lerp for uniform z.")
@click.option("--out", default="interpolation.png", show_default=True, help="A .png picture or a .npz of arrays.")
@click.option("--split", default="test", show_default=True,
              help="Split the --between-real indices refer to: test, train or all.")
@click.option("--invert-steps", "invert_steps", type=int, default=500, show_default=True,
              help="Adam steps of the inversion of each real example.")
@click.option("--restarts", type=int, default=4, show_default=True,
              help="Random starts of the inversion; the best is kept.")
@click.option("--prior-weight", "prior_weight", type=float, default=0.0, show_default=True,
              help="Gaussian z: weight of ||z||^2 / z_dim in the inversion's loss (keeps z near the prior).")
@click.option("--quiet", is_flag=True, help="No progress bar (the inversion of --between-real).")
def interpolate(run, steps, between_real, between_seeds, pairs, seed, mode, out, split, invert_steps, restarts,
                prior_weight, quiet):
    """Walk through latent space between two z and draw G along the path (the paper's Figure 3)."""
    from gankit.apps.interpolate import POOR_RECONSTRUCTION, interpolate_run

    res = interpolate_run(run, out=out, steps=steps, pairs=pairs, seed=seed, mode=mode, between_real=between_real,
                          split=split, invert_steps=invert_steps, restarts=restarts, prior_weight=prior_weight,
                          between_seeds=between_seeds, progress=not quiet)
    if between_real is not None:
        for k, (idx, err, rel) in enumerate(zip(res["index"], res["error"], res["relative_error"])):
            label = "" if res["labels"] is None else f" (label {res['labels'][k]})"
            click.echo(f"{split} example {idx}{label}: reconstruction error {err:.4f} "
                       f"(mean squared, [-1, 1] scale; {rel:.3g} of the data's variance)")
        for idx, rel, poor in zip(res["index"], res["relative_error"], res["poor"]):
            if poor:
                click.echo(f"warning: example {idx} is poorly reconstructed ({rel:.3g} > {POOR_RECONSTRUCTION} "
                           f"of the data's variance): the path starts or ends at G's nearest image, not at the example",
                           err=True)
    click.echo(f"wrote {res['rows']} {res['mode']} path(s) of {steps} steps to {res['out']}")


@click.command("invert", epilog="""\b
Examples:
  gankit invert runs/00000-quick test:0,1,2,3 --out z.npz           # examples of the run's own test split
  gankit invert runs/00000-quick test:0-99 --out z.npz              # a range (both ends included)
  gankit invert runs/00000-quick ./my_digits --out z.npz --features digits
  gankit invert runs/00000-quick digit.png --out z.npz --steps 1000 --restarts 8
  gankit invert runs/00000-quick/checkpoint.pt images.npy --out z.npz --features D --feature-weight 0.3
  gankit fit-encoder runs/00000-quick && gankit invert runs/00000-quick test:0,1,2 --method hybrid
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.argument("images", metavar="IMAGES")
@click.option("--out", default="z.npz", show_default=True,
              help="The .npz of z (and c), reconstructions and errors; "
                   "a PNG of originals over reconstructions goes beside it.")
@click.option("--steps", type=int, default=500, show_default=True, help="Adam steps per start.")
@click.option("--restarts", type=int, default=4, show_default=True, help="Random starts per image; the best is kept.")
@click.option("--features", type=click.Choice(["none", "D", "digits"]), default="none", show_default=True,
              help="Add a feature loss: D's penultimate layer or the shipped digits classifier's features.")
@click.option("--feature-weight", "feature_weight", type=float, default=None,
              help="Weight of the relative feature error (default 0.1 with --features D or digits).")
@click.option("--prior-weight", "prior_weight", type=float, default=0.0, show_default=True,
              help="Gaussian z: weight of ||z||^2 / z_dim in the loss (keeps z near the prior).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the starting points.")
@click.option("--method", type=click.Choice(["optimize", "encoder", "hybrid"]), default="optimize", show_default=True,
              help="Search from random starts; the run's encoder E(x) in one pass; "
                   "or the search with E(x) as one more start.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def invert_cmd(run, images, out, steps, restarts, features, feature_weight, prior_weight, seed, method, quiet):
    """Find the z (and c) whose G(z) best matches each image; write z, reconstructions and errors.

    IMAGES: a folder of images, one image file, a .npy / .npz array, or SPLIT:INDICES, examples of
    the run's dataset (SPLIT train, test or all; INDICES like 0,5,9 or 0-99 or all). Prints each
    image's reconstruction error (mean squared, on the [-1, 1] pixel scale).
    """
    from gankit.apps.invert import invert_run

    res = invert_run(run, images, out=out, steps=steps, restarts=restarts, seed=seed, features=features,
                     feature_weight=feature_weight, prior_weight=prior_weight, method=method, progress=not quiet)
    if res["encoder"]:
        click.echo(f"encoder: {res['encoder']}")
    for k, (name, err) in enumerate(zip(res["names"], res["error"])):
        extra = ""
        if res["c"] is not None:
            extra = f" (class {int(res['c'][k])}{', best of all classes' if res['label_source'] == 'best' else ''})"
        elif res["labels"] is not None:
            extra = f" (label {int(res['labels'][k])})"
        click.echo(f"{name}{extra}: reconstruction error {err:.4f}")
    picture = f" and the picture {res['png']}" if res["png"] else ""
    click.echo(f"wrote {len(res['names'])} z to {res['out']}{picture}")


@click.command("fit-encoder", epilog="""\b
Examples:
  gankit fit-encoder runs/00000-quick                      # 2,000 Adam steps on the run's training images
  gankit fit-encoder runs/00000-cgan-mnist --steps 4000    # conditional: pixels only, with the labels as c
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--steps", type=int, default=2000, show_default=True, help="Adam steps of the encoder.")
@click.option("--kappa", type=float, default=None,
              help="Weight of D's feature error (f-AnoGAN's izi_f); default 1, or 0 for a conditional G.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the encoder's init and minibatches.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def fit_encoder_cmd(run, steps, kappa, seed, quiet):
    """Train an encoder E: x -> z for a trained GAN (G and D frozen).

    Writes RUN_DIR/encoder.pt, which `gankit invert --method encoder|hybrid` uses.
    """
    from gankit.apps.encoder import fit_encoder

    res = fit_encoder(run, steps=steps, kappa=kappa, seed=seed, progress=not quiet)
    click.echo(f"wrote {res['path']} (kappa {res['kappa']:g}; loss {res['loss'][0]:.4f} -> {res['loss'][-1]:.4f})")


@click.command(epilog="""\b
Examples:
  gankit arithmetic runs/00000-quick --plus seed:1 --plus seed:2 --minus seed:3 --out strip.png
  gankit arithmetic runs/00000-quick --plus class:7 --minus class:1 --plus class:3 --n 8 --out strip.png
  gankit arithmetic runs/00000-quick --plus real:test:4 --minus class:4 --plus class:9 --out strip.npz
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--plus", "plus", multiple=True, metavar="Z",
              help="A z to add: seed:N, real:test:I or class:K (repeatable).")
@click.option("--minus", "minus", multiple=True, metavar="Z", help="A z to subtract (repeatable).")
@click.option("--n", "n", type=int, default=8, show_default=True,
              help="Extra samples: the result plus uniform noise (second row of the picture); 0 for none.")
@click.option("--noise", type=float, default=0.25, show_default=True, help="Half-width of that uniform noise.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise and of the inversions' starts.")
@click.option("--invert-steps", "invert_steps", type=int, default=500, show_default=True,
              help="Adam steps of each inversion (real:... and class:... operands).")
@click.option("--restarts", type=int, default=4, show_default=True, help="Random starts of each inversion.")
@click.option("--out", default="arithmetic.png", show_default=True, help="A .png strip or a .npz of arrays.")
def arithmetic(run, plus, minus, n, noise, seed, invert_steps, restarts, out):
    """Latent arithmetic: z = sum(--plus) - sum(--minus), drawn beside its operands (Radford et al. 2016, 6.3)."""
    from gankit.apps.arithmetic import arithmetic as run_arithmetic

    res = run_arithmetic(run, list(plus), list(minus), out=out, n=n, seed=seed, noise=noise,
                         invert_steps=invert_steps, restarts=restarts)
    for o in res["operands"]:
        extra = "" if o["label"] is None else f", label {o['label']}"
        if o["error"] is not None:
            extra += ", reconstruction error " + " ".join(f"{e:.4f}" for e in o["error"])
        click.echo(f"{'+' if o['sign'] > 0 else '-'} {o['spec']}: |z| = {float(o['z'].norm()):.3f}{extra}")
    label = "" if res["label"] is None else f", label {res['label']}"
    click.echo(f"= result: |z| = {float(res['z'].norm()):.3f}{label}")
    click.echo(f"wrote {res['out']} ({res['rows']} row(s) of {res['columns']} tiles)")
