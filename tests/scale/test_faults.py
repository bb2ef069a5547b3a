"""Faults in batch scoring on Dask: a worker SIGKILLed mid-job, a driver killed mid-job, edited
input and lost parts, workers without the model's backend, and option mistakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from edgekit.scale import MANIFEST_NAME, score_to_parquet

pytestmark = pytest.mark.slow


def _many_rows(svm_input, copies: int) -> pd.DataFrame:
    """The test split repeated, each copy with its own ids: enough rows to keep workers busy."""
    frames = []
    for i in range(copies):
        frame = svm_input.frame.copy()
        frame["car_id"] = [f"copy{i:03d}-{c}" for c in frame["car_id"]]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _start_cli(model, source, out, scheduler, env, *extra) -> subprocess.Popen:
    args = [sys.executable, "-m", "edgekit", "predict", str(model), str(source), "--out", str(out), "--scheduler",
            scheduler, "--id-column", "car_id", "--passthrough", "mpg", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_parts(out: Path, n: int, process: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len(list(out.glob("part-*.parquet")))
        if done >= n:
            return done
        if process.poll() is not None:
            pytest.fail(f"the run ended before {n} parts were written: {process.communicate()[1]}")
        time.sleep(0.01)
    pytest.fail(f"no {n} parts within {timeout} s")


def _assert_every_row_once(out: Path, frame: pd.DataFrame, reference: list[list[str]]) -> None:
    parts = pd.read_parquet(out)
    assert sorted(parts["car_id"]) == sorted(frame["car_id"])  # every id, none twice
    expected = {row[0]: row[2] for row in reference[1:]}
    assert {i: f"{v:.9g}" for i, v in zip(parts["car_id"], parts["prediction"])} == expected


def test_worker_sigkilled_mid_job_leaves_every_row_exactly_once(svm_input, scale_tools, cluster_factory, tmp_path):
    frame = _many_rows(svm_input, 60)
    source = scale_tools.write_parquet_parts(frame, tmp_path / "in", [400] * 11, row_group_size=400)
    reference = scale_tools.single_process_predict(svm_input.model, frame, tmp_path, batch_size=1)
    cluster = cluster_factory(2)
    out = tmp_path / "preds"
    # One row per model call keeps each of the 12 tasks busy long enough to be killed inside one.
    run = _start_cli(svm_input.model, source, out, cluster.address, scale_tools.env, "--batch-size", "1")
    seen = _wait_for_parts(out, 1, run)
    victim = cluster.workers[0]
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert seen < 12  # the kill landed while tasks were still running
    _assert_every_row_once(out, frame, reference)
    assert json.loads((out / MANIFEST_NAME).read_text())["complete"]


def test_rerun_after_the_driver_was_killed_resumes_without_redoing_parts(svm_input, scale_tools, dask_cluster, tmp_path):
    frame = _many_rows(svm_input, 40)
    source = scale_tools.write_parquet_parts(frame, tmp_path / "in", [400] * 7, row_group_size=400)
    reference = scale_tools.single_process_predict(svm_input.model, frame, tmp_path, batch_size=1)
    out = tmp_path / "preds"
    run = _start_cli(svm_input.model, source, out, dask_cluster.address, scale_tools.env, "--batch-size", "1")
    _wait_for_parts(out, 2, run)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    time.sleep(1.0)  # let tasks the dead driver left running finish or be released
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert 2 <= len(before) < 8 and not json.loads((out / MANIFEST_NAME).read_text())["complete"]
    result = score_to_parquet(svm_input.model, source, out, scheduler=dask_cluster.address, id_column="car_id",
                              passthrough=("mpg",), batch_size=1, show_progress=False)
    assert result.skipped >= len(before) and result.parts == 8
    assert all((out / name).stat().st_mtime_ns == mtime for name, mtime in before.items())  # kept, not rewritten
    _assert_every_row_once(out, frame, reference)
    assert json.loads((out / MANIFEST_NAME).read_text())["complete"]


def test_rerun_rescores_only_lost_parts_and_edited_files(svm_input, scale_tools, dask_cluster, tmp_path):
    source = scale_tools.write_parquet_parts(svm_input.frame, tmp_path / "in", [30, 25], row_group_size=10)
    out = tmp_path / "preds"
    options = dict(scheduler=dask_cluster.address, id_column="car_id", passthrough=("mpg",), partition_rows=10,
                   show_progress=False)
    first = score_to_parquet(svm_input.model, source, out, **options)
    assert first.parts == 9 and first.skipped == 0  # 3 + 3 + 3 pieces of at most 10 rows
    (out / "part-000001.parquet").unlink()  # a lost part
    edited = svm_input.frame.iloc[55:].assign(mpg=99.0)  # same rows, new passthrough values
    edited.to_parquet(source / "cars-2.parquet", index=False, row_group_size=10)
    again = score_to_parquet(svm_input.model, source, out, **options)
    assert again.skipped == 9 - 1 - 3
    parts = pd.read_parquet(out)
    assert sorted(parts["car_id"]) == sorted(svm_input.frame["car_id"])
    assert (parts.set_index("car_id").loc[edited["car_id"], "mpg"] == 99.0).all()


def test_workers_without_the_model_backend_name_the_extra(svm_input, cluster_factory, edgekit_cli, tmp_path):
    shadow = tmp_path / "no-onnxruntime" / "onnxruntime"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('onnxruntime is absent on this worker')\n")
    cluster = cluster_factory(1, worker_env={"PYTHONPATH": str(shadow.parent)})
    code, err = edgekit_cli("predict", svm_input.model, svm_input.parquet, "--out", tmp_path / "preds",
                            "--scheduler", cluster.address)
    assert code == 2
    assert "on worker tcp://127.0.0.1:" in err and "onnxruntime is not installed" in err
    errors = [line for line in err.splitlines() if line.startswith("edgekit: error:")]
    assert len(errors) == 1 and errors[0].endswith("(pip install 'edgekit[onnx]')")


@pytest.mark.parametrize("case, message", [
    ("json", "not --json"),
    ("log", "--log is not supported"),
    ("no-out", "needs INPUT and --out"),
])
def test_scheduler_option_mistakes_are_one_line_usage_errors(svm_input, edgekit_cli, tmp_path, case, message):
    args = {
        "json": ["--json", "{}"],
        "log": [svm_input.parquet, "--out", tmp_path / "o", "--log", tmp_path / "x.db"],
        "no-out": [svm_input.parquet],
    }[case]
    code, err = edgekit_cli("predict", svm_input.model, *args, "--scheduler", "local:1")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_bad_scheduler_spec_and_force_alone_are_refused(svm_input, edgekit_cli, tmp_path):
    code, err = edgekit_cli("predict", svm_input.model, svm_input.parquet, "--out", tmp_path / "o", "--scheduler", "yarn")
    assert code == 2 and "neither local[:N] nor a scheduler address" in err
    code, err = edgekit_cli("predict", svm_input.model, svm_input.parquet, "--out", tmp_path / "o.csv", "--force")
    assert code == 2 and "--force only applies with --scheduler" in err


def test_device_runtime_and_plain_predict_never_import_dask(svm_input):
    row = svm_input.frame.drop(columns=["car_id", "mpg"]).iloc[0].to_dict()
    code = ("import sys\nfrom edgekit.cli.main import cli\n"
            f"cli.main(['predict', {str(svm_input.model)!r}, '--json', {json.dumps(row)!r}], standalone_mode=False)\n"
            "import edgekit.runtime\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'pyarrow'}),"
            " 'edgekit.scale' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[] False"
