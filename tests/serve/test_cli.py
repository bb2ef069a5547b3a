"""``edgekit serve`` as a user runs it: a real process, real exit codes, real stderr."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import numpy as np
import pytest

from edgekit.serve import serve_in_subprocess


def edgekit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, codes: tuple[int, ...], fragment: str) -> None:
    assert result.returncode in codes, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


@pytest.mark.slow
def test_bad_bundle_path_exits_with_one_line_and_no_traceback(tmp_path):
    result = edgekit("serve", str(tmp_path / "no-such-bundle"), "--port", "0")
    assert_one_line_error(result, (1, 2), "not a bundle folder")


@pytest.mark.slow
def test_folder_without_model_card_is_refused(tmp_path):
    result = edgekit("serve", str(tmp_path), "--port", "0")
    assert_one_line_error(result, (1, 2), "no model_card.json")


@pytest.mark.slow
def test_unusable_model_name_is_a_usage_error(mpg):
    result = edgekit("serve", str(mpg.path), "--name", "a/b", "--port", "0")
    assert_one_line_error(result, (2,), "cannot be used in URLs")


@pytest.mark.slow
def test_busy_port_is_a_usage_error(mpg):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = edgekit("serve", str(mpg.path), "--port", str(busy.getsockname()[1]))
    assert_one_line_error(result, (2,), "cannot listen on")


def test_bad_option_values_are_refused_by_click(mpg):
    result = edgekit("serve", str(mpg.path), "--max-batch-size", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--max-batch-size" in result.stderr


@pytest.mark.slow
def test_two_worker_processes_serve_correct_answers(mpg):
    with serve_in_subprocess(mpg.path, "--workers", "2", "--no-batching") as server:
        for start in range(0, 20, 5):
            body = {"instances": mpg.rows(slice(start, start + 5))}
            response = httpx.post(f"{server.url}/v1/models/{server.name}:predict", json=body, timeout=30)
            assert response.status_code == 200, response.text
            np.testing.assert_allclose([p[0] for p in response.json()["predictions"]], mpg.expected[start:start + 5],
                                       rtol=1e-5, atol=1e-4)
        assert "2 worker processes" in server.output()
    assert server.process.returncode is not None
