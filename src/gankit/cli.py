"""The ``gankit`` command line: parses, validates and calls one library function per command."""

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
  torchrun --nproc_per_node 4 -m gankit train --preset dcgan-mnist   # 4 processes, DDP
"""


def _speed_switches(precision: str | None, compile_: bool | None) -> list[str]:
    """--precision / --compile as config overrides (unset: the config's own choice)."""
    extra = [f"train.precision={precision}"] if precision is not None else []
    return extra + ([f"train.compile={str(compile_).lower()}"] if compile_ is not None else [])


PRECISION = click.Choice(["auto", "fp32", "bf16"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gankit")
def cli() -> None:
    """gankit: train, evaluate and use Generative Adversarial Networks."""


@cli.command(epilog=EPILOG_TRAIN)
@click.option("--preset", default="quick", show_default=True, help="Named run config (see `gankit presets`).")
@click.option("--data", "data_name", default=None, help="Dataset name (see `gankit datasets`) or a path to images / .npy / .npz.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. train.batch=128 (repeatable).")
@click.option("--steps", type=int, default=None, help="Training steps (G updates); sets train.steps.")
@click.option("--seed", type=int, default=None, help="Seed of init, noise and batch order; sets train.seed.")
@click.option("--out", default="runs", show_default=True, help="Folder that receives the run directory.")
@click.option("--resume", default=None, metavar="RUN_DIR", help="Continue the run in RUN_DIR from its checkpoint.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and the data's shape, then stop.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--precision", type=PRECISION, default=None,
              help="Matmul precision: bf16 autocast or fp32; sets train.precision (default auto: bf16 where native).")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile G and D; sets train.compile.")
def train(preset, data_name, overrides, steps, seed, out, resume, dry_run, quiet, precision, compile_):
    """Train a GAN (Algorithm 1 of Goodfellow et al. 2014) and write a run directory.

    Under torchrun (WORLD_SIZE > 1) it trains data-parallel; train.batch is per process.
    """
    from gankit.config import apply_overrides, load_preset, to_dict
    from gankit.train import train as run_train

    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 prints
    echo = click.echo if main_rank else (lambda *a, **k: None)
    if resume is not None:
        if data_name or overrides or seed is not None or precision is not None or compile_ is not None:
            raise UserError("--resume continues a run with its own config; only --steps may change "
                            "(drop --data/--set/--seed/--precision/--compile)")
        result = run_train(resume=resume, steps=steps, progress=not quiet)
    else:
        extra = list(overrides)
        if data_name is not None:
            extra.insert(0, "data.name=" + json.dumps(data_name))
        if steps is not None:
            extra.append(f"train.steps={steps}")
        if seed is not None:
            extra.append(f"train.seed={seed}")
        cfg = apply_overrides(load_preset(preset), extra + _speed_switches(precision, compile_))
        echo(json.dumps(to_dict(cfg), indent=2))
        if dry_run:
            from gankit.data import build_dataset

            data = build_dataset(cfg.data, "train")
            echo(f"data: {data.name}, {len(data.x)} examples of shape {list(data.shape)}")
            return
        result = run_train(cfg, out=out, progress=not quiet)
    report = _write_report(result.run_dir) if main_rank else None
    if result.interrupted:
        echo(f"interrupted at step {result.step}; checkpoint saved: {result.checkpoint}", err=True)
        echo(f"resume with: gankit train --resume {result.run_dir}", err=True)
        sys.exit(130)
    echo(f"trained {result.step} steps; run directory: {result.run_dir}")
    echo(f"samples: {result.samples}")
    if report is not None:
        echo(f"report: {report}")


def _write_report(run_dir):
    """RUN_DIR/report.html after training; a report that cannot be written costs one line, never the run."""
    from gankit.report import write_report

    try:
        return write_report(run_dir)
    except UserError as e:
        click.echo(f"gankit: report not written: {e}", err=True)
        return None


@cli.command(epilog="""\b
Examples:
  gankit sample runs/00000-quick -n 64 --seed 0 --out grid.png
  gankit sample runs/00000-quick/checkpoint.pt -n 10000 --out samples.npz
  gankit sample runs/00001-cgan-mnist -n 100 --out grid.png      # conditional: one row per class
  gankit sample runs/00001-cgan-mnist -n 16 --class 3 --out threes.png
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("-n", "n", type=int, default=64, show_default=True, help="Number of samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
@click.option("--out", default="samples.png", show_default=True, help="A .png picture or a .npz of arrays.")
@click.option("--class", "class_", type=int, default=None, help="Conditional G: draw this class (default: one row per class).")
def sample(run, n, seed, out, class_):
    """Draw samples from a trained generator (no dataset needed)."""
    from gankit.generate import sample as run_sample

    path = run_sample(run, n=n, seed=seed, out=out, c=class_)
    click.echo(f"wrote {n} samples to {path}")


@cli.command("eval", epilog="""\b
Examples:
  gankit eval runs/00000-quick --metrics parzen,fid,pr,modes --json
  gankit eval runs/00000-quick --metrics all -n 10000 --seed 0
  gankit eval runs/00001-ring8 --metrics modes
  gankit eval runs/00000-quick --metrics fid --features inception --inception-weights pt_inception.pth
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--metrics", "metric_names", default="fid,kid,pr,dc,classes", show_default=True,
              help="Comma-separated: parzen, fid, kid, pr, dc, modes, classes, ndb, or all.")
@click.option("-n", "--n", "n", type=int, default=10_000, show_default=True, help="Generated samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise and of the metrics' draws.")
@click.option("--data", "data_name", default=None, help="Reference data (name or path); default: the run's training data.")
@click.option("--split", default="test", show_default=True, help="Reference split: test, train or all.")
@click.option("--features", default="digits", show_default=True, help="Feature extractor: digits, inception or raw.")
@click.option("--inception-weights", default=None, metavar="PATH", help="Local Inception weights file (offline use).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with a key per metric.")
@click.option("--no-record", is_flag=True, help="Do not append results to metric-<name>.jsonl.")
def eval_(run, metric_names, n, seed, data_name, split, features, inception_weights, as_json, no_record):
    """Score a trained generator with the papers' metrics and record each result with its protocol."""
    from gankit.evaluate import evaluate, format_table, to_json

    results = evaluate(run, metrics=metric_names, n=n, seed=seed, data=data_name, split=split, features=features,
                       inception_weights=inception_weights, record=not no_record, progress=not as_json)
    click.echo(to_json(results) if as_json else format_table(results))


@cli.command()
@click.option("--preset", default="quick", show_default=True, help="Named run config to time (see `gankit presets`).")
@click.option("--batch", type=int, default=None, help="Minibatch size; sets train.batch.")
@click.option("--steps", type=int, default=50, show_default=True, help="Training steps timed (after a warm-up run).")
@click.option("--warmup", type=int, default=10, show_default=True, help="Steps of the warm-up run whose time is subtracted.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--precision", type=PRECISION, default=None, help="Matmul precision; sets train.precision.")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile G and D; sets train.compile.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench(preset, batch, steps, warmup, overrides, precision, compile_, as_json):
    """Measure training samples/s, achieved FLOP/s and the share of this machine's matmul peak."""
    from gankit.bench import bench as run_bench
    from gankit.config import apply_overrides, load_preset

    extra = list(overrides) + ([f"train.batch={batch}"] if batch is not None else []) + _speed_switches(precision, compile_)
    res = run_bench(apply_overrides(load_preset(preset), extra), steps=steps, warmup=warmup)
    if as_json:
        click.echo(json.dumps(res))
        return
    click.echo(f"{res['preset']}, batch {res['batch']}, {res['threads']} threads, {res['precision']}")
    click.echo(f"  samples/s        {res['samples_per_s']:,.0f}   ({1e3 * res['step_seconds']:.2f} ms per step)")
    click.echo(f"  FLOPs per step   {res['flops_per_step'] / 1e6:,.1f} M (matmuls and convolutions, forward and backward)")
    click.echo(f"  achieved         {res['flops_per_s'] / 1e9:,.2f} GFLOP/s")
    click.echo(f"  matmul peak      {res['peak_flops_fp32'] / 1e9:,.2f} GFLOP/s fp32, {res['peak_flops_bf16'] / 1e9:,.2f} bf16")
    click.echo(f"  share of peak    {100 * res['peak_share']:.1f}% of the {res['precision']} peak "
               f"({100 * res['peak_share_fp32']:.1f}% of fp32's, {100 * res['peak_share_bf16']:.1f}% of bf16's)")


@cli.command(epilog="""\b
Examples:
  gankit theory fig1 --out figs/          # the paper's Figure 1, measured
  gankit theory optimum --out figs/ --json
  gankit theory saddle --out figs/ --quick
""")
@click.argument("name", type=click.Choice(["fig1", "optimum", "saturation", "saddle", "collapse"]))
@click.option("--out", default="theory", show_default=True, help="Folder for the pictures and NAME.json.")
@click.option("--quick", is_flag=True, help="A reduced run (seconds): fewer steps, same pictures.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def theory(name, out, quick, as_json):
    """See one of the paper's claims happen: train, draw, and print measured against theory."""
    from gankit.theory import run_theory

    res = run_theory(name, out, quick=quick)
    if as_json:
        click.echo(json.dumps(res))
        return
    click.echo(f"{name}: {res.get('summary', '')}".rstrip())
    for c in res["claims"]:
        theory_value = c["theory"] if isinstance(c["theory"], str) else f"{c['theory']:.4g}"
        click.echo(f"  [{'holds' if c['holds'] else 'FAILS'}] {c['claim']}: measured {c['measured']:.4g}, "
                   f"theory {theory_value} ({c['tolerance']})")
    for f in res["files"]:
        click.echo(f"  wrote {f}")


@cli.command()
@click.argument("run", metavar="RUN_DIR")
@click.option("--out", default=None, help="Where to write the page (default RUN_DIR/report.html).")
def report(run, out):
    """Write one self-contained HTML page about a run: config, grids over time, curves, metrics, warnings."""
    from gankit.report import write_report

    click.echo(f"wrote {write_report(run, out)}")


@cli.command(epilog="""\b
Examples:
  gankit augment runs/00001-cgan-mnist --n 5000 --out synthetic.npz
  gankit augment runs/00001-cgan-mnist --n 1000 --out synthetic/ --classes 3,5,8
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--n", "n", type=int, required=True, help="Number of samples, shared equally over the classes.")
@click.option("--out", required=True, help="A .npz file (x uint8 [N, C, H, W], y labels) or a folder (one per class).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
@click.option("--classes", default=None, metavar="K,K,...", help="Only these classes (default all).")
def augment(run, n, out, seed, classes):
    """Write labelled synthetic data from a conditional generator (data augmentation)."""
    from gankit.apps.augment import augment as run_augment

    wanted = None
    if classes is not None:
        try:
            wanted = [int(c) for c in classes.split(",") if c.strip()]
        except ValueError:
            raise UserError(f"--classes expects comma-separated class numbers like 0,3,7; got {classes!r}") from None
    click.echo(f"wrote {n} labelled samples to {run_augment(run, n, out, seed=seed, classes=wanted)}")


@cli.command(epilog="""\b
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
@click.option("--pairs", type=int, default=4, show_default=True, help="Random pairs of z, one row each (without --between-real).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random z (and of the inversion's starts).")
@click.option("--mode", type=click.Choice(["auto", "slerp", "lerp"]), default="auto", show_default=True,
              help="Path: slerp (great circle) or lerp (straight line); auto = slerp for Gaussian z, lerp for uniform z.")
@click.option("--out", default="interpolation.png", show_default=True, help="A .png picture or a .npz of arrays.")
@click.option("--split", default="test", show_default=True, help="Split the --between-real indices refer to: test, train or all.")
@click.option("--invert-steps", "invert_steps", type=int, default=500, show_default=True,
              help="Adam steps of the inversion of each real example.")
@click.option("--restarts", type=int, default=4, show_default=True, help="Random starts of the inversion; the best is kept.")
@click.option("--prior-weight", "prior_weight", type=float, default=0.0, show_default=True,
              help="Gaussian z: weight of ||z||^2 / z_dim in the inversion's loss (keeps z near the prior).")
def interpolate(run, steps, between_real, between_seeds, pairs, seed, mode, out, split, invert_steps, restarts, prior_weight):
    """Walk through latent space between two z and draw G along the path (the paper's Figure 3)."""
    from gankit.apps.latent import POOR_RECONSTRUCTION, interpolate_run

    res = interpolate_run(run, out=out, steps=steps, pairs=pairs, seed=seed, mode=mode, between_real=between_real,
                          split=split, invert_steps=invert_steps, restarts=restarts, prior_weight=prior_weight,
                          between_seeds=between_seeds)
    if between_real is not None:
        for k, (idx, err, rel) in enumerate(zip(res["index"], res["error"], res["relative_error"])):
            label = "" if res["labels"] is None else f" (label {res['labels'][k]})"
            click.echo(f"{split} example {idx}{label}: reconstruction error {err:.4f} "
                       f"(mean squared, [-1, 1] scale; {rel:.3g} of the data's variance)")
        for idx, rel, poor in zip(res["index"], res["relative_error"], res["poor"]):
            if poor:
                click.echo(f"warning: example {idx} is poorly reconstructed ({rel:.3g} > {POOR_RECONSTRUCTION} of the data's "
                           f"variance): the path starts or ends at G's nearest image, not at the example", err=True)
    click.echo(f"wrote {res['rows']} {res['mode']} path(s) of {steps} steps to {res['out']}")


@cli.command("invert", epilog="""\b
Examples:
  gankit invert runs/00000-quick test:0,1,2,3 --out z.npz           # examples of the run's own test split
  gankit invert runs/00000-quick ./my_digits --out z.npz --features digits
  gankit invert runs/00000-quick digit.png --out z.npz --steps 1000 --restarts 8
  gankit invert runs/00000-quick/checkpoint.pt images.npy --out z.npz --features D --feature-weight 0.3
  gankit fit-encoder runs/00000-quick && gankit invert runs/00000-quick test:0,1,2 --method hybrid
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.argument("images", metavar="IMAGES")
@click.option("--out", default="z.npz", show_default=True,
              help="The .npz of z (and c), reconstructions and errors; a PNG of originals over reconstructions goes beside it.")
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
              help="Search from random starts; the run's encoder E(x) in one pass; or the search with E(x) as one more start.")
def invert_cmd(run, images, out, steps, restarts, features, feature_weight, prior_weight, seed, method):
    """Find the z (and c) whose G(z) best matches each image; write z, reconstructions and errors.

    IMAGES: a folder of images, one image file, a .npy / .npz array, or train:I,J,K / test:I,J,K
    (examples of the run's dataset). Prints each image's reconstruction error (mean squared, on
    the [-1, 1] pixel scale).
    """
    from gankit.apps.latent import invert_run

    res = invert_run(run, images, out=out, steps=steps, restarts=restarts, seed=seed, features=features,
                     feature_weight=feature_weight, prior_weight=prior_weight, method=method)
    if res["encoder"]:
        click.echo(f"encoder: {res['encoder']}")
    for k, (name, err) in enumerate(zip(res["names"], res["error"])):
        extra = ""
        if res["c"] is not None:
            extra = f" (class {int(res['c'][k])}{', best of all classes' if res['label_source'] == 'best' else ''})"
        elif res["labels"] is not None:
            extra = f" (label {int(res['labels'][k])})"
        click.echo(f"{name}{extra}: reconstruction error {err:.4f}")
    click.echo(f"wrote {len(res['names'])} z to {res['out']}" + (f" and the picture {res['png']}" if res["png"] else ""))


@cli.command("fit-encoder", epilog="""\b
Examples:
  gankit fit-encoder runs/00000-quick                      # 2,000 Adam steps on the run's training images
  gankit fit-encoder runs/00000-cgan-mnist --steps 4000    # conditional: pixels only, with the labels as c
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--steps", type=int, default=2000, show_default=True, help="Adam steps of the encoder.")
@click.option("--kappa", type=float, default=None,
              help="Weight of D's feature error (f-AnoGAN's izi_f); default 1, or 0 for a conditional G.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the encoder's init and minibatches.")
def fit_encoder_cmd(run, steps, kappa, seed):
    """Train an encoder E: x -> z for a trained GAN (G and D frozen); writes RUN_DIR/encoder.pt for `invert --method encoder|hybrid`."""
    from gankit.apps.latent import fit_encoder

    res = fit_encoder(run, steps=steps, kappa=kappa, seed=seed)
    click.echo(f"wrote {res['path']} (kappa {res['kappa']:g}; loss {res['loss'][0]:.4f} -> {res['loss'][-1]:.4f})")


@cli.command(epilog="""\b
Examples:
  gankit arithmetic runs/00000-quick --plus seed:1 --plus seed:2 --minus seed:3 --out strip.png
  gankit arithmetic runs/00000-quick --plus class:7 --minus class:1 --plus class:3 --n 8 --out strip.png
  gankit arithmetic runs/00000-quick --plus real:test:4 --minus class:4 --plus class:9 --out strip.npz
""")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.option("--plus", "plus", multiple=True, metavar="Z", help="A z to add: seed:N, real:test:I or class:K (repeatable).")
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
    from gankit.apps.latent import arithmetic as run_arithmetic

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


@cli.group(epilog="""\b
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
  gankit anomaly fit --preset quick --data mnist-5k --normal-classes 0,1,2,3,4 --steps 5000 --encoder-steps 3000
""")
@click.option("--preset", default="quick", show_default=True, help="Named run config of the GAN (see `gankit presets`).")
@click.option("--data", "data_name", default=None, help="Dataset name or path; sets data.name.")
@click.option("--normal-classes", "normal_classes", default=None, metavar="0,1,...",
              help="Classes that are normal; training uses only these (default: all the training data).")
@click.option("--out", default="runs", show_default=True, help="Parent folder of the run directory.")
@click.option("--steps", type=int, default=None, help="GAN training steps; sets train.steps.")
@click.option("--encoder-steps", "encoder_steps", type=int, default=2000, show_default=True,
              help="Steps of f-AnoGAN's encoder training (izi_f loss, G and D frozen).")
@click.option("--kappa", type=float, default=1.0, show_default=True, help="Weight of D's feature residual in izi_f.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
def anomaly_fit(preset, data_name, normal_classes, out, steps, encoder_steps, kappa, overrides):
    """Train a GAN on normal data only, then the f-AnoGAN encoder; writes RUN_DIR/anomaly.pt."""
    from gankit.apps.anomaly import fit

    extra = ([f"data.name={data_name}"] if data_name is not None else []) + list(overrides)
    res = fit(preset, normal_classes, out=out, overrides=extra, steps=steps, encoder_steps=encoder_steps, kappa=kappa,
              progress=True)
    classes = res.model.info["normal_classes"]
    click.echo(f"trained on {res.model.info['n_normal_train']} normal images "
               f"(classes {'all' if classes is None else ','.join(map(str, classes))}); "
               f"encoder izi_f loss {res.encoder_loss[-1]:.4f}")
    click.echo(f"wrote {res.anomaly}")


@anomaly.command("score", epilog="""\b
IMAGES: test:I,J,... or test:A-B or test:all (the run's dataset, all classes), a .npy / .npz, or an image folder.
Examples:
  gankit anomaly score runs/00000-quick test:all --out scores.csv
  gankit anomaly score runs/00000-quick test:0,1,2 --method anogan
""")
@click.argument("run", metavar="RUN_DIR")
@click.argument("images", metavar="IMAGES")
@click.option("--method", type=click.Choice(["fanogan", "anogan"]), default="fanogan", show_default=True,
              help="f-AnoGAN (one pass through the encoder) or AnoGAN (a search for z per image).")
@click.option("--out", default=None, help="Write the scores to a .csv or .json file (default: print them).")
@click.option("--anogan-steps", "anogan_steps", type=int, default=500, show_default=True, help="AnoGAN: steps of the z search.")
@click.option("--lam", type=float, default=0.1, show_default=True, help="AnoGAN: weight lambda of the discrimination loss.")
@click.option("--seed", type=int, default=0, show_default=True, help="AnoGAN: seed of the search's start.")
def anomaly_score(run, images, method, out, anogan_steps, lam, seed):
    """Score images: higher = more anomalous. Prints the AUROC when labels tell normal from anomalous."""
    from gankit.apps.anomaly import score_images

    res = score_images(run, images, method=method, out=out, anogan_steps=anogan_steps, lam=lam, seed=seed)
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


@cli.group(epilog="""\b
Examples:
  gankit translate train --system pix2pix --out runs/          # edge maps -> digits, a few CPU minutes
  gankit translate train --preset pix2pix-l1 --steps 500       # the same without the GAN term
  gankit translate train --system cyclegan --data-a gray/ --data-b colour/ --set size=32
  gankit translate apply runs/00000-pix2pix-edges task:test --out translated/ --grid pairs.png
  gankit translate presets
""")
def translate():
    """Image-to-image GANs: pix2pix, CycleGAN, SRGAN, SimGAN (docs/translate.md)."""


@translate.command("train")
@click.option("--system", default=None, type=click.Choice(["pix2pix", "cyclegan", "srgan", "simgan"]),
              help="The system, with its default preset.")
@click.option("--preset", default=None, help="A named translation preset (see `gankit translate presets`).")
@click.option("--data-a", "data_a", default=None, metavar="PATH", help="Your own side-A images (folder or .npy/.npz); sets task=folders.")
@click.option("--data-b", "data_b", default=None, metavar="PATH", help="Your own side-B images; paired systems match file names.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. lambda_l1=10 (repeatable).")
@click.option("--steps", type=int, default=None, help="Training steps; sets steps.")
@click.option("--seed", type=int, default=None, help="Seed of init, data and batches; sets seed.")
@click.option("--out", default="runs", show_default=True, help="Folder that receives the run directory.")
@click.option("--resume", default=None, metavar="RUN_DIR", help="Continue the run in RUN_DIR (only --steps may change).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def translate_train(system, preset, data_a, data_b, overrides, steps, seed, out, resume, quiet):
    """Train a translation system and write a run directory (config, stats, previews, checkpoint)."""
    from gankit.translate import train_translation
    from gankit.translate.common import parse_overrides

    if system and preset:
        raise UserError("give --system or --preset, not both (a preset names its system)")
    extra = parse_overrides(overrides)
    if data_a is not None or data_b is not None:
        extra.update({"task": "folders", "data_a": data_a or "", "data_b": data_b or ""})
    if seed is not None:
        extra["seed"] = seed
    if resume is not None and (system or preset or extra):
        raise UserError("--resume continues a run with its own config; only --steps may change")
    res = train_translation(preset or system or "pix2pix", overrides=extra, out=out, resume=resume, steps=steps,
                            progress=not quiet)
    if res.interrupted:
        click.echo(f"interrupted at step {res.step}; checkpoint saved: {res.checkpoint}", err=True)
        click.echo(f"resume with: gankit translate train --resume {res.run_dir}", err=True)
        sys.exit(130)
    click.echo(f"trained {res.step} steps; run directory: {res.run_dir}; checkpoint {res.checkpoint}; preview {res.preview}")


@translate.command("apply")
@click.argument("run", metavar="RUN_DIR|CKPT")
@click.argument("images", metavar="IMAGES")
@click.option("--out", required=True, help="A folder (one PNG per input) or a .npz file.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="BtoA: the second generator (CycleGAN).")
@click.option("--grid", default=None, metavar="PNG", help="Also write inputs beside outputs as one picture.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
def translate_apply(run, images, out, direction, grid, device):
    """Translate IMAGES (a folder, an image, .npy/.npz, or task:test) with a trained system."""
    from gankit.translate import apply_translation

    path = apply_translation(run, images, out, direction=direction, device=device, grid=grid)
    click.echo(f"wrote {path}" + (f" and {grid}" if grid else ""))


@translate.command("presets")
def translate_presets():
    """List the translation presets."""
    from gankit.translate import list_presets

    for name, (system, values) in list_presets().items():
        click.echo(f"{name:20s} {system:9s} {values.get('_doc', '')}")


@cli.command()
def datasets():
    """List the built-in datasets."""
    from gankit.data import list_datasets

    for name, desc in list_datasets().items():
        click.echo(f"{name:16s} {desc}")
    click.echo(f"{'PATH':16s} a folder of PNG/JPEG images, or a .npy / .npz array")


@cli.command()
def presets():
    """List the named run configs."""
    from gankit.config import list_presets

    for name, desc in list_presets().items():
        click.echo(f"{name:16s} {desc}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        cli.main(args=args or ["--help"], prog_name="gankit", standalone_mode=False)
    except UserError as e:
        click.echo(f"gankit: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("gankit: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:  # usage errors: unknown option, missing argument, bad type
        ctx = getattr(e, "ctx", None)
        where = f" {ctx.command_path}" if ctx is not None and ctx.command_path else ""
        click.echo(f"gankit{where[7:] if where.startswith(' gankit') else where}: error: {e.format_message()} (see --help)", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
