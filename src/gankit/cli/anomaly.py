"""``gankit anomaly fit | score``: AnoGAN and f-AnoGAN with a GAN trained on normal data."""

from __future__ import annotations

import click


@click.group(epilog="""\b
Examples:
  gankit anomaly fit --data digits --normal-classes 1,2,3,4,5,6,7,8,9 --out runs/ --set z_dim=16
  gankit anomaly score runs/00000-quick test:0-99 --out scores.csv
  gankit anomaly score runs/00000-quick my_images/ --method anogan --out scores.json
""")
def anomaly():
    """Anomaly detection with a GAN trained on normal data: AnoGAN and f-AnoGAN scores (docs/anomaly.md)."""


@anomaly.command("fit", epilog="""\b
Examples:
  gankit anomaly fit --data digits --normal-classes 1,2,3,4,5,6,7,8,9 --out runs/
  gankit anomaly fit --preset quick-mlp --data mnist-5k --normal-classes 0,1,2,3,4 --steps 5000 --encoder-steps 3000
  gankit anomaly fit --data digits --normal-classes 1,2,3 --quiet    # no progress bars (they go to stderr)
""")
@click.option("--preset", default="quick-mlp", show_default=True,
              help="Named run config of the GAN (see `gankit presets`).")
@click.option("--data", "data_name", default=None, help="Dataset name or path; sets data.name.")
@click.option("--normal-classes", "normal_classes", default=None, metavar="0,1,...",
              help="Classes that are normal; training uses only these (default: all the training data).")
@click.option("--out", default="runs", show_default=True, help="Parent folder of the run directory.")
@click.option("--steps", type=int, default=None, help="GAN training steps; sets train.steps.")
@click.option("--encoder-steps", "encoder_steps", type=int, default=2000, show_default=True,
              help="Steps of f-AnoGAN's encoder training (izi_f loss, G and D frozen).")
@click.option("--kappa", type=float, default=1.0, show_default=True, help="Weight of D's feature residual in izi_f.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bars (the GAN's training, then the encoder's; on stderr).")
def anomaly_fit(preset, data_name, normal_classes, out, steps, encoder_steps, kappa, overrides, quiet):
    """Train a GAN on normal data only, then the f-AnoGAN encoder; writes RUN_DIR/anomaly.pt."""
    from gankit.apps.anomaly import fit

    extra = ([f"data.name={data_name}"] if data_name is not None else []) + list(overrides)
    res = fit(preset, normal_classes, out=out, overrides=extra, steps=steps, encoder_steps=encoder_steps, kappa=kappa,
              progress=not quiet)
    classes = res.model.info["normal_classes"]
    click.echo(f"trained on {res.model.info['n_normal_train']} normal images "
               f"(classes {'all' if classes is None else ','.join(map(str, classes))}); "
               f"encoder izi_f loss {res.encoder_loss[-1]:.4f}")
    click.echo(f"wrote {res.anomaly}")


@anomaly.command("score", epilog="""\b
IMAGES: test:I,J,... or test:A-B or test:all (the run's dataset, all classes; train: and all: too),
a .npy / .npz, an image file or an image folder (the same reader as `gankit invert`).
Examples:
  gankit anomaly score runs/00000-quick test:all --out scores.csv
  gankit anomaly score runs/00000-quick test:0,1,2 --method anogan
  gankit anomaly score runs/00000-quick test:all --quiet > scores.csv   # no progress bar on stderr
""")
@click.argument("run", metavar="RUN_DIR")
@click.argument("images", metavar="IMAGES")
@click.option("--method", type=click.Choice(["fanogan", "anogan"]), default="fanogan", show_default=True,
              help="f-AnoGAN (one pass through the encoder) or AnoGAN (a search for z per image).")
@click.option("--out", default=None, help="Write the scores to a .csv or .json file (default: print them).")
@click.option("--anogan-steps", "anogan_steps", type=int, default=500, show_default=True,
              help="AnoGAN: steps of the z search.")
@click.option("--lam", type=float, default=0.1, show_default=True,
              help="AnoGAN: weight lambda of the discrimination loss.")
@click.option("--seed", type=int, default=0, show_default=True, help="AnoGAN: seed of the search's start.")
@click.option("--quiet", is_flag=True, help="No progress bar (on stderr; the scores go to stdout or --out).")
def anomaly_score(run, images, method, out, anogan_steps, lam, seed, quiet):
    """Score images: higher = more anomalous. Prints the AUROC when labels tell normal from anomalous."""
    from gankit.apps.anomaly import score_images

    res = score_images(run, images, method=method, out=out, anogan_steps=anogan_steps, lam=lam, seed=seed,
                       progress=not quiet)
    if res["out"] is None:
        click.echo("i,index,label,score")
        for i, s in enumerate(res["scores"]):
            idx = "" if res["index"] is None else res["index"][i]
            lab = "" if res["labels"] is None else res["labels"][i]
            click.echo(f"{i},{idx},{lab},{s:.6g}")
    else:
        click.echo(f"wrote {len(res['scores'])} {method} scores to {res['out']}")
    if res["auroc"] is not None:
        click.echo(f"AUROC {res['auroc']:.4f} (anomalies: labels outside the normal classes)")
    click.echo(f"{1e3 * res['seconds_per_image']:.3f} ms per image", err=True)
