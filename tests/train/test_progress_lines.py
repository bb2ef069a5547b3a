"""Without a terminal, training prints one plain line per finished candidate (and halving round)."""

import re
import subprocess
import sys

import pytest

from edgekit.console import progress

FINAL = re.compile(r"^\[\s*\d+\.\ds\] cross-validation (\w+): rmse \d+\.\d+ ± \S+ over 3 folds \((.+)\); "
                   r"(\d+) settings, (\d+) fits, \d+\.\d s$")


@pytest.mark.slow
def test_train_into_a_pipe_prints_one_line_per_candidate_with_score_and_time(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "edgekit", "train", "auto-mpg", "--target", "mpg", "--models", "linear,svm", "--quick",
         "--cv", "3", "--out", str(tmp_path / "b")],
        capture_output=True, text=True, timeout=600, env=_env(),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    finals = [m for m in map(FINAL.match, lines) if m]
    assert [m.group(1) for m in finals] == ["linear", "svm"]
    assert all(int(m.group(4)) >= int(m.group(3)) for m in finals)  # every setting was scored at least once
    rounds = [line for line in lines if "settings on 2/3 folds" in line]
    assert {re.search(r"cross-validation (\w+):", line).group(1) for line in rounds} == {"linear", "svm"}
    assert any(re.search(r"refit \w+ on \d+ rows: test rmse \d+\.\d+ \(\d+\.\d s\)", line) for line in lines)
    assert "━" not in done.stderr and "\r" not in done.stderr  # no progress bar drawn into the log


def _env():
    import os

    env = dict(os.environ)
    env.pop("EDGEKIT_PROGRESS", None)
    return env


def test_notes_are_plain_lines_without_a_terminal_and_silent_when_asked(capsys, monkeypatch):
    monkeypatch.delenv("EDGEKIT_PROGRESS", raising=False)
    with progress("step") as bar:
        bar.advance()
        bar.note("svm: rmse 2.75 (3.1 s)")
    assert re.fullmatch(r"\[\s*\d+\.\ds\] svm: rmse 2\.75 \(3\.1 s\)\n", capsys.readouterr().err)
    with progress("step", show=False) as bar:
        bar.note("hidden")
    monkeypatch.setenv("EDGEKIT_PROGRESS", "0")
    with progress("step") as bar:
        bar.note("hidden too")
    assert capsys.readouterr().err == ""


def test_a_forced_bar_still_shows_the_notes(capsys, monkeypatch):
    monkeypatch.setenv("EDGEKIT_PROGRESS", "1")
    with progress("step", total=1) as bar:
        bar.note("rf: rmse 2.88")
        bar.advance()
    err = capsys.readouterr().err
    assert "rf: rmse 2.88" in err and "step" in err
