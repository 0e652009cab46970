"""``gankit datasets``: the data a run can train on."""

from __future__ import annotations

import click


@click.command()
def datasets():
    """List the built-in datasets."""
    from gankit.data import list_datasets

    for name, desc in list_datasets().items():
        click.echo(f"{name:16s} {desc}")
    click.echo(f"{'PATH':16s} a folder of PNG/JPEG images, or a .npy / .npz array")
