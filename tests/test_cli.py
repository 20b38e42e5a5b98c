"""The `rldistill` dispatcher: every command resolves to a module with `cli`."""

import importlib
import subprocess
import sys

import pytest

from rldistill.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_fails_with_usage(capsys):
    assert main(["no-such-stage"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'no-such-stage'" in err and "synth" in err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_has_cli(name):
    module = importlib.import_module(COMMANDS[name][0])
    assert callable(getattr(module, "cli", None)), f"{COMMANDS[name][0]} has no cli(argv)"


def test_console_entry_runs_as_module():
    out = subprocess.run([sys.executable, "-m", "rldistill", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip()
