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
