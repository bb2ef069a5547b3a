"""Batch scoring on Dask (`edgekit predict --scheduler`) against single-process `edgekit predict`,
on a LocalCluster and on a real `dask scheduler` + `dask worker` cluster on loopback."""

from __future__ import annotations

import hashlib
import json
import socket
import time

import pyarrow.parquet as pq
import pytest

from edgekit.runtime.errors import DataError, SchemaError
from edgekit.scale import MANIFEST_NAME, score_to_parquet

pytestmark = pytest.mark.slow


def test_local_cluster_predictions_equal_single_process_row_for_row(svm_input, edgekit_cli, as_reference_rows, tmp_path):
    out = tmp_path / "preds"
    code, err = edgekit_cli("predict", svm_input.model, svm_input.parquet, "--out", out, "--scheduler", "local:2",
                            "--id-column", "car_id", "--passthrough", "mpg")
    assert code == 0, err
    assert as_reference_rows(out) == svm_input.reference
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["complete"] and manifest["rows"] == len(svm_input.frame)
    assert manifest["model"]["sha256"] == hashlib.sha256(svm_input.model.read_bytes()).hexdigest()
    assert [p["rows"] for p in manifest["parts"]] == [pq.read_metadata(out / p["part"]).num_rows for p in manifest["parts"]]
    assert "partitions" in err and f"{len(svm_input.frame)} predictions written" in err


def test_real_cluster_predictions_equal_single_process_row_for_row(nn_input, dask_cluster, edgekit_cli, as_reference_rows,
                                                                   tmp_path):
    out = tmp_path / "preds"
    code, err = edgekit_cli("predict", nn_input.model, nn_input.parquet / "*.parquet", "--out", out,
                            "--scheduler", dask_cluster.address, "--id-column", "car_id", "--passthrough", "mpg")
    assert code == 0, err
    assert as_reference_rows(out) == nn_input.reference


def test_csv_folder_in_byte_range_pieces_equals_single_process(svm_input, dask_cluster, as_reference_rows, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    svm_input.frame.iloc[:50].to_csv(folder / "a.csv", index=False)
    svm_input.frame.iloc[50:].to_csv(folder / "b.csv", index=False)
    result = score_to_parquet(svm_input.model, folder, tmp_path / "preds", scheduler=dask_cluster.address,
                              id_column="car_id", passthrough=("mpg",), csv_block_bytes=500, show_progress=False)
    assert result.parts > 4  # several pieces per file, so piece boundaries are exercised
    assert as_reference_rows(tmp_path / "preds") == svm_input.reference


def test_bad_row_names_the_file_and_its_row_like_single_process(svm_input, dask_cluster, edgekit_cli, tmp_path):
    frame = svm_input.frame.iloc[:40].astype({"horsepower": str})
    frame.loc[frame.index[37], "horsepower"] = "fast"
    frame.to_parquet(tmp_path / "bad.parquet", index=False, row_group_size=8)
    frame.to_csv(tmp_path / "bad.csv", index=False)
    code, single = edgekit_cli("predict", svm_input.model, tmp_path / "bad.csv", "--out", tmp_path / "single.csv",
                               "--id-column", "car_id", "--passthrough", "mpg")
    assert code == 2 and "row 37" in single
    # Pieces of 8 rows: the bad row is row 5 of the fifth piece; the error names its row in the file.
    with pytest.raises(SchemaError) as error:
        score_to_parquet(svm_input.model, tmp_path / "bad.parquet", tmp_path / "preds", scheduler=dask_cluster.address,
                         id_column="car_id", passthrough=("mpg",), partition_rows=8, show_progress=False)
    assert str(error.value) == "bad.parquet: " + single.strip().removeprefix("edgekit: error: ")


def test_unreachable_scheduler_fails_fast_naming_the_address(svm_input, edgekit_cli, tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()
    code, err = edgekit_cli("predict", svm_input.model, svm_input.parquet, "--out", tmp_path / "preds",
                            "--scheduler", address)
    elapsed = time.monotonic() - started
    assert code == 2 and f"cannot reach the Dask scheduler at {address}" in err
    assert elapsed < 15, f"took {elapsed:.1f} s"  # issue 13: an unusable address fails within 15 s


def test_output_holding_another_run_is_refused_unless_force(svm_input, nn_input, dask_cluster, edgekit_cli, tmp_path):
    out = tmp_path / "preds"
    base = ["--out", out, "--scheduler", dask_cluster.address, "--id-column", "car_id", "--passthrough", "mpg"]
    assert edgekit_cli("predict", svm_input.model, svm_input.parquet, *base)[0] == 0
    code, err = edgekit_cli("predict", nn_input.model, nn_input.parquet, *base)
    assert code == 2 and "already holds another run" in err and "--force" in err
    assert json.loads((out / MANIFEST_NAME).read_text())["model"]["file"] == svm_input.model.name  # untouched
    code, err = edgekit_cli("predict", nn_input.model, nn_input.parquet, *base, "--force")
    assert code == 0, err
    assert json.loads((out / MANIFEST_NAME).read_text())["model"]["file"] == nn_input.model.name
    # A folder with files edgekit did not write is never emptied, not even with --force.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, err = edgekit_cli("predict", nn_input.model, nn_input.parquet, "--out", tmp_path / "mine",
                            "--scheduler", dask_cluster.address, "--force")
    assert code == 2 and "did not write" in err and (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_ragged_csv_line_names_the_file_and_line_like_single_process(svm_input, dask_cluster, edgekit_cli, tmp_path):
    path = tmp_path / "ragged.csv"
    svm_input.frame.iloc[:30].to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines[25] += ",1.0"  # line 26 of the file, counting the header as line 1
    path.write_text("\n".join(lines) + "\n")
    code, single = edgekit_cli("predict", svm_input.model, path, "--out", tmp_path / "single.csv",
                               "--id-column", "car_id", "--passthrough", "mpg")
    assert code == 2 and "ragged.csv, line 26:" in single
    # Pieces of about 400 bytes: the line is in the third piece, so its number must be the file's.
    with pytest.raises(DataError) as error:
        score_to_parquet(svm_input.model, path, tmp_path / "preds", scheduler=dask_cluster.address, id_column="car_id",
                         passthrough=("mpg",), csv_block_bytes=400, show_progress=False)
    assert str(error.value).startswith("ragged.csv, line 26: ")
