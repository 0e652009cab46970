"""``gankit eval`` and ``gankit report``: score a run with the papers' metrics and write its page."""

from __future__ import annotations

import click


@click.command("eval", epilog="""\b
Examples:
  gankit eval runs/00000-quick --metrics parzen,fid,pr,modes --json
  gankit eval runs/00000-quick --metrics all -n 10000 --seed 0
  gankit eval runs/00001-ring8 --metrics modes
  gankit eval runs/00000-quick --metrics fid --features inception --inception-weights pt_inception.pth
  gankit eval samples.npz --data mnist-5k --metrics fid,pr   # samples made by any tool
""")
@click.argument("run", metavar="RUN_DIR|CKPT|SAMPLES")
@click.option("--metrics", "metric_names", default="fid,kid,pr,dc,classes", show_default=True,
              help="Comma-separated: parzen, fid, kid, pr, dc, modes, classes, ndb, or all.")
@click.option("-n", "--n", "n", type=int, default=10_000, show_default=True, help="Generated samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise and of the metrics' draws.")
@click.option("--data", "data_name", default=None,
              help="Reference data (name or path); default: the run's training data.")
@click.option("--split", default="test", show_default=True, help="Reference split: test, train or all.")
@click.option("--features", default="digits", show_default=True, help="Feature extractor: digits, inception or raw.")
@click.option("--inception-weights", default=None, metavar="PATH", help="Local Inception weights file (offline use).")
@click.option("--inception-precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="How the Inception network runs; bf16 is about 2x faster on a CPU with native bf16 and moves FID "
                   "by about 1-4%.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with a key per metric.")
@click.option("--no-record", is_flag=True, help="Do not append results to metric-<name>.jsonl.")
@click.option("--device", default="cpu", show_default=True, help="Where G draws the samples: cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bars (they go to stderr, also with --json).")
def eval_(run, metric_names, n, seed, data_name, split, features, inception_weights, inception_precision, as_json,
          no_record, device, quiet):
    """Score a trained generator with the papers' metrics and record each result with its protocol."""
    from gankit.evaluate import evaluate, format_table, to_json

    results = evaluate(run, metrics=metric_names, n=n, seed=seed, data=data_name, split=split, features=features,
                       inception_weights=inception_weights, record=not no_record, progress=not quiet,
                       device=device, inception_precision=inception_precision)
    click.echo(to_json(results) if as_json else format_table(results))


@click.command()
@click.argument("run", metavar="RUN_DIR")
@click.option("--out", default=None, help="Where to write the page (default RUN_DIR/report.html).")
def report(run, out):
    """Write one self-contained HTML page about a run: config, grids over time, curves, metrics, warnings."""
    from gankit.report import write_report

    click.echo(f"wrote {write_report(run, out)}")


@click.command(epilog="""\b
Examples:
  gankit compare runs/00000-quick runs/00001-quick --out compare.html
  gankit compare runs/*-dcgan-mnist runs/*-wgan-gp-mnist
""")
@click.argument("runs", nargs=-1, required=True, metavar="RUN_DIR RUN_DIR ...")
@click.option("--out", default="compare.html", show_default=True, help="Where to write the page.")
def compare(runs, out):
    """One self-contained HTML page with the runs' curves overlaid, their latest metrics, config differences and
    final grids."""
    from gankit.report.compare import write_comparison

    click.echo(f"wrote {write_comparison(list(runs), out)}")
