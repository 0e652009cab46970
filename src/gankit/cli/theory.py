"""``gankit theory NAME``: one of the 2014 paper's claims as an experiment."""

from __future__ import annotations

import json

import click


@click.command(epilog="""\b
Examples:
  gankit theory fig1 --out figs/          # the paper's Figure 1, measured
  gankit theory optimum --out figs/ --json
  gankit theory saddle --out figs/ --quick
  gankit theory collapse --out figs/ --json --quiet > collapse.json   # no bar on stderr either
""")
@click.argument("name", type=click.Choice(["fig1", "optimum", "saturation", "saddle", "collapse"]))
@click.option("--out", default="theory", show_default=True, help="Folder for the pictures and NAME.json.")
@click.option("--quick", is_flag=True, help="A reduced run (seconds): fewer steps, same pictures.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress bar (it goes to stderr, also with --json).")
def theory(name, out, quick, as_json, quiet):
    """See one of the paper's claims happen: train, draw, and print measured against theory."""
    from gankit.theory import run_theory

    res = run_theory(name, out, quick=quick, progress=not quiet)
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
