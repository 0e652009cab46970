"""Small assertions shared by the test files."""

import pytest

from gankit.errors import UserError


def user_error(fn, *fragments: str) -> str:
    """Call fn, expect a one-line UserError containing every fragment; return the message."""
    with pytest.raises(UserError) as caught:
        fn()
    message = str(caught.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def run_cli(args, capsys):
    """Call the gankit CLI in-process; return (exit code, stdout, stderr)."""
    from gankit.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


class FakeBar:
    """What a job does to its progress bar, recorded: the total it announced, the updates, the closing."""

    def __init__(self, total, desc, unit="step", enabled=True):
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.n, self.closed, self.postfixes = 0, False, []

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, s="", refresh=True):
        self.postfixes.append(s)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True
        return False


class BarRecorder:
    """Stands in for gankit.progress.progress_bar inside one module (monkeypatch its name there); keeps every bar."""

    def __init__(self):
        self.bars = []

    def __call__(self, total, desc, unit="step", enabled=True):
        self.bars.append(FakeBar(total, desc, unit, enabled))
        return self.bars[-1]

    def check_finished(self, *descs: str) -> None:
        """Bars named ``descs`` were made, in that order, each shown, closed, and filled to exactly its total."""
        assert [b.desc for b in self.bars] == list(descs), [b.desc for b in self.bars]
        for b in self.bars:
            assert b.enabled and b.closed, (b.desc, b.enabled, b.closed)
            assert b.total is None or b.n == b.total, (b.desc, b.n, b.total)
            assert b.n > 0, b.desc
