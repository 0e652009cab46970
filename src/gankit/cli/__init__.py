"""The ``gankit`` command line: parses, validates and calls one library function per command.

One module per family of commands; each command imports its library function when it runs, so
``gankit --help`` stays fast and imports no torch.

- :mod:`gankit.cli.train`     train, bench, presets
- :mod:`gankit.cli.data`      datasets
- :mod:`gankit.cli.sample`    sample, augment
- :mod:`gankit.cli.evaluate`  eval, report, compare
- :mod:`gankit.cli.theory`    theory
- :mod:`gankit.cli.latent`    interpolate, invert, fit-encoder, arithmetic
- :mod:`gankit.cli.anomaly`   anomaly fit | score
- :mod:`gankit.cli.translate` translate train | apply | presets
- :mod:`gankit.cli.export`    export

:func:`main` is the entry point (``gankit``, ``python -m gankit``); it turns a
:class:`~gankit.errors.UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import click

from gankit.cli import anomaly, data, evaluate, export, latent, sample, theory, train, translate
from gankit.errors import UserError, last_output, space_hint

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gankit")
def cli() -> None:
    """gankit: train, evaluate and use Generative Adversarial Networks."""


for _command in (train.train, train.bench, train.presets, data.datasets, sample.sample, sample.augment,
                 evaluate.eval_, evaluate.report, evaluate.compare, theory.theory, latent.interpolate,
                 latent.invert_cmd, latent.fit_encoder_cmd, latent.arithmetic, anomaly.anomaly, translate.translate,
                 export.export):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        cli.main(args=args or ["--help"], prog_name="gankit", standalone_mode=False)
    except UserError as e:
        click.echo(f"gankit: error: {e}", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):  # a second Ctrl-C, e.g. during the last checkpoint's write
        click.echo("gankit: aborted (the last checkpoint written is kept)", err=True)
        sys.exit(130)
    except OSError as e:  # an output that cannot be written: a full disk, a read-only folder, a file in the way
        if getattr(e, "filename", None):
            what = f"cannot write or read {e.filename!r}"
        elif last_output() is not None:  # write() names no file (a full disk): say what was being written
            what = f"cannot write {str(last_output())!r}"
        else:
            what = "cannot write or read"
        click.echo(f"gankit: error: {what}: {e.strerror or e}{space_hint(e)}", err=True)
        sys.exit(2)
    except click.ClickException as e:  # usage errors: unknown option, missing argument, bad type
        ctx = getattr(e, "ctx", None)
        where = f" {ctx.command_path}" if ctx is not None and ctx.command_path else ""
        click.echo(f"gankit{where.removeprefix(' gankit')}: error: {e.format_message()} (see --help)", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
