"""The edgekit command: help everywhere, one-line errors, exit codes."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgekit.cli.main import COMMANDS, cli


def edgekit(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_version_and_top_level_help_list_every_command():
    from edgekit import __version__

    done = edgekit("--version")
    assert done.returncode == 0 and __version__ in done.stdout
    help_text = edgekit("--help").stdout
    for name in COMMANDS:
        assert name in help_text


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output


def test_unknown_option_is_a_usage_error():
    done = edgekit("train", "auto-mpg", "--target", "mpg", "--colour", "red")
    assert done.returncode == 2 and "No such option" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "nope.csv", "--target", "y"], "nope.csv: no such file"),
    (["train", "auto-mpg", "--target", "price"], "target column 'price' is not in the data"),
    (["predict", "nope.tflite", "--json", "{}"], "no such model file"),
    (["convert", "no-such-bundle"], "not a bundle folder"),
    (["info", "no-such-thing"], "no such file or folder"),
])
def test_user_mistakes_print_one_line_and_exit_non_zero(tmp_path, args, message):
    done = edgekit(*args, cwd=tmp_path)
    assert done.returncode in (1, 2)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_data_mistakes_exit_2(tmp_path):
    assert edgekit("train", "nope.csv", "--target", "y", cwd=tmp_path).returncode == 2
    assert edgekit("train", "auto-mpg", "--target", "price", cwd=tmp_path).returncode == 2


def test_train_refuses_to_overwrite_a_bundle(tmp_path):
    (tmp_path / "b").mkdir()
    done = edgekit("train", "auto-mpg", "--target", "mpg", "--out", str(tmp_path / "b"))
    assert done.returncode == 2 and "already exists" in done.stderr
