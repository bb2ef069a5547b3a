"""The SQLite prediction log: round trips, buffering, failures that never cost a
prediction, several writer processes, SIGKILL mid-write, fork."""

from __future__ import annotations

import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgekit.runtime.errors import DataError, SchemaError
from edgekit.runtime.manifest import Manifest
from edgekit.runtime.model import Model, Prediction
from edgekit.runtime.prediction_log import PredictionLog, PredictionLogWarning, log_models, new_request_ids, read_log
from edgekit.runtime.schema import Feature, Schema

NUMERIC = Schema.of([Feature("weight", "numeric", "float"), Feature("year", "numeric", "int")])
MIXED = Schema.of([
    Feature("weight", "numeric", "float"),
    Feature("color", "categorical", "string", categories=("red", "blue")),
])


def regression(values) -> Prediction:
    return Prediction("regression", np.asarray(values, dtype=np.float64))


def numeric_columns(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"weight": np.round(rng.uniform(1500, 5000, n), 1), "year": rng.integers(70, 83, n).astype(np.float64)}


def open_log(path, schema=NUMERIC, model_id="m" * 64, **kwargs) -> PredictionLog:
    return PredictionLog(path, model_id=model_id, schema=schema, **kwargs)


class SumBackend:
    """A one-method backend: the prediction is the sum of the numeric feeds."""

    name = "fake"

    def __init__(self, names):
        self.input_names = list(names)

    def run(self, feeds):
        return [np.sum(np.hstack(feeds), axis=1, keepdims=True).astype(np.float32)]


def fake_model(logger) -> Model:
    manifest = Manifest(format="onnx", quantization="fp32", task="regression", target="y", schema=NUMERIC,
                        input_layout="columns", outputs=("prediction",))
    return Model(Path("fake.onnx"), manifest, SumBackend(NUMERIC.names), logger=logger)


# -- round trips ------------------------------------------------------------------------
def test_numeric_rows_round_trip_with_ids_timestamps_and_missing_values(tmp_path):
    columns = numeric_columns(300)
    columns["weight"][[3, 7]] = np.nan
    before = time.time()
    with open_log(tmp_path / "log.db") as log:
        ids = log.log(columns, regression(np.arange(300) / 7))
        single = log.log({k: v[:1] for k, v in numeric_columns(1, seed=1).items()}, regression([2.5]))
    data = read_log(tmp_path / "log.db")
    assert len(data) == 301
    assert data.request_ids.tolist() == ids + single
    np.testing.assert_array_equal(data.columns["weight"][:300], columns["weight"])  # NaN compares equal here
    np.testing.assert_array_equal(data.columns["year"][:300], columns["year"])
    np.testing.assert_allclose(data.predictions, np.r_[np.arange(300) / 7, 2.5])
    assert data.task == "regression" and data.probabilities is None
    assert before - 1 <= data.timestamps.min() <= data.timestamps.max() <= time.time() + 1
    assert set(data.model_ids) == {"m" * 64}


def test_string_features_and_class_probabilities_round_trip(tmp_path):
    columns = {"weight": np.array([1.0, np.nan, 3.5]), "color": np.array(["red", "", "gr\u00fcn \"x\""], dtype=object)}
    probabilities = np.array([[0.1234567, 0.8765433], [0.5, 0.5], [1.0, 0.0]])
    prediction = Prediction("classification", np.array(["no", "yes", "no"], dtype=object), probabilities, ("no", "yes"))
    with open_log(tmp_path / "log.db", schema=MIXED) as log:
        log.log(columns, prediction)
    data = read_log(tmp_path / "log.db")
    assert data.columns["color"].tolist() == ["red", "", "gr\u00fcn \"x\""]
    np.testing.assert_array_equal(data.columns["weight"], [1.0, np.nan, 3.5])
    assert data.predictions.tolist() == ["no", "yes", "no"]
    assert data.task == "classification" and data.labels == ("no", "yes")
    np.testing.assert_allclose(data.probabilities, probabilities, atol=1e-6)


def test_features_are_stored_as_compact_json_arrays_in_schema_order(tmp_path):
    with open_log(tmp_path / "log.db") as log:
        log.log({"year": np.array([70.0]), "weight": np.array([np.nan])}, regression([1.0]))
        log.log({"year": np.array([71.0, 72.0]), "weight": np.array([3504.0, np.nan])}, regression([1.0, 2.0]))
    conn = sqlite3.connect(tmp_path / "log.db")
    stored = [r[0] for r in conn.execute("SELECT features FROM predictions ORDER BY seq")]
    assert stored == ["[null,70.0]", "[3504.0,71.0]", "[null,72.0]"]
    assert json.loads(conn.execute("SELECT schema FROM models").fetchone()[0])["features"][0]["name"] == "weight"


def test_log_is_wal_with_a_schema_version_table(tmp_path):
    open_log(tmp_path / "log.db").close()
    conn = sqlite3.connect(tmp_path / "log.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM log_schema").fetchall() == [(1,)]


def test_generated_request_ids_are_unique_uuid4_hex():
    ids = new_request_ids(2000) + new_request_ids(1) + new_request_ids(3)
    assert len(set(ids)) == len(ids)
    for value in ids[:50] + ids[-4:]:
        parsed = uuid.UUID(hex=value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == value


# -- request ids --------------------------------------------------------------------------
def test_model_predict_returns_the_callers_request_ids_and_logs_them(tmp_path):
    model = fake_model(open_log(tmp_path / "log.db"))
    prediction = model.predict({"weight": [1.0, 2.0], "year": [70, 71]}, request_ids=["a-1", "a-2"])
    generated = model.predict({"weight": [3.0], "year": [72]})
    model.close()
    assert prediction.request_ids == ("a-1", "a-2")
    assert len(generated.request_ids[0]) == 32
    assert read_log(tmp_path / "log.db").request_ids.tolist() == ["a-1", "a-2", generated.request_ids[0]]


@pytest.mark.parametrize("ids, message", [
    (["a"], "1 request id"),
    (["a", "a"], "more than once"),
    ([1.5, 2.5], "use strings"),
    (["", "b"], "non-empty"),
])
def test_bad_request_ids_are_refused_with_a_clear_error(tmp_path, ids, message):
    with open_log(tmp_path / "log.db") as log:
        with pytest.raises(SchemaError, match=message):
            log.log(numeric_columns(2), regression([1, 2]), ids)


def test_a_reused_caller_id_drops_only_that_row_with_one_warning(tmp_path):
    with open_log(tmp_path / "log.db") as log:
        log.log(numeric_columns(2), regression([1, 2]), ["x", "y"])
        log.flush()
        with pytest.warns(PredictionLogWarning, match="already logged"):
            log.log(numeric_columns(3), regression([3, 4, 5]), ["z", "x", "w"])
            log.flush()
        stats = log.stats
    assert read_log(tmp_path / "log.db").request_ids.tolist() == ["x", "y", "z", "w"]
    assert stats["duplicates_dropped"] == 1 and stats["pending"] == 0


# -- buffering ----------------------------------------------------------------------------
def count_rows(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM predictions").fetchone()[0]


def wait_for(predicate, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_rows_are_buffered_then_written_when_the_buffer_is_full(tmp_path):
    log = open_log(tmp_path / "log.db", flush_rows=10, flush_seconds=60)
    log.log(numeric_columns(4), regression(np.zeros(4)))
    time.sleep(0.2)
    assert count_rows(tmp_path / "log.db") == 0 and log.stats["pending"] == 4
    log.log(numeric_columns(6), regression(np.zeros(6)))
    assert wait_for(lambda: count_rows(tmp_path / "log.db") == 10)
    log.close()


def test_a_full_buffer_never_makes_the_caller_wait_for_another_writer(tmp_path):
    path = tmp_path / "log.db"
    log = open_log(path, flush_rows=10, flush_seconds=60, busy_timeout=2.0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        start = time.perf_counter()
        log.log(numeric_columns(25), regression(np.zeros(25)))
        assert time.perf_counter() - start < 0.5  # handed to the flusher instead of waiting 2 s
    finally:
        other.execute("COMMIT")
    assert wait_for(lambda: count_rows(path) == 25)
    log.close()


def test_buffered_rows_are_written_once_they_are_old_enough(tmp_path):
    log = open_log(tmp_path / "log.db", flush_rows=1000, flush_seconds=0.2)
    log.log(numeric_columns(3), regression(np.zeros(3)))
    assert wait_for(lambda: count_rows(tmp_path / "log.db") == 3, timeout=3)
    log.close()


def test_close_writes_the_rest_and_logging_after_close_still_works(tmp_path):
    log = open_log(tmp_path / "log.db", flush_rows=1000, flush_seconds=60)
    log.log(numeric_columns(3), regression(np.zeros(3)))
    log.close()
    assert count_rows(tmp_path / "log.db") == 3
    log.log(numeric_columns(2), regression(np.zeros(2)))
    log.close()
    log.close()
    assert count_rows(tmp_path / "log.db") == 5


def test_a_forgotten_log_is_flushed_when_garbage_collected(tmp_path):
    log = open_log(tmp_path / "log.db", flush_rows=1000, flush_seconds=60)
    log.log(numeric_columns(7), regression(np.zeros(7)))
    del log
    gc.collect()
    assert count_rows(tmp_path / "log.db") == 7


def test_a_finalizer_run_inside_the_flusher_thread_does_not_deadlock(tmp_path):
    log = open_log(tmp_path / "log.db", flush_rows=1000, flush_seconds=0.05)
    log.log(numeric_columns(4), regression(np.zeros(4)))
    writer, thread = log._writer, log._writer.thread
    original_due = writer.due
    # What the facade's finalizer does when a cyclic GC pass happens to run in the flusher.
    writer.due = lambda: (writer.close(), original_due())[1]
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert count_rows(tmp_path / "log.db") == 4


def test_a_row_that_cannot_be_encoded_is_dropped_with_a_warning(tmp_path):
    with open_log(tmp_path / "log.db") as log:
        with pytest.warns(PredictionLogWarning, match="cannot encode"):
            ids = log.log({"weight": np.zeros(2)}, regression([1, 2]))  # a column is missing
        assert len(ids) == 2 and log.stats["dropped"] == 2
        log.log(numeric_columns(3), regression([1, 2, 3]))
    assert count_rows(tmp_path / "log.db") == 3  # the file's health was not affected


def run_child(code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


CHILD_PRELUDE = """
import sys, time, numpy as np
from edgekit.runtime.model import Prediction
from edgekit.runtime.prediction_log import PredictionLog
from edgekit.runtime.schema import Feature, Schema
SCHEMA = Schema.of([Feature("weight", "numeric", "float"), Feature("year", "numeric", "int")])
def batch(n, start=0):
    cols = {"weight": np.arange(start, start + n, dtype=float), "year": np.full(n, 70.0)}
    return cols, Prediction("regression", np.arange(start, start + n, dtype=float))
"""


def test_rows_still_buffered_at_interpreter_exit_are_written(tmp_path):
    result = run_child(CHILD_PRELUDE + """
log = PredictionLog(sys.argv[1], model_id="exit", schema=SCHEMA, flush_rows=10_000, flush_seconds=3600)
log.log(*batch(25))
""", str(tmp_path / "log.db"))
    assert result.returncode == 0, result.stderr
    assert count_rows(tmp_path / "log.db") == 25


# -- failures never cost a prediction --------------------------------------------------------
def test_an_unwritable_log_path_warns_once_and_predictions_still_come_back(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    with pytest.warns(PredictionLogWarning, match="cannot open") as caught:
        model = fake_model(open_log(blocker / "log.db"))
        results = [model.predict({"weight": [1.0, 2.0], "year": [70, 71]}) for _ in range(5)]
        model.close()
    assert [float(r.values[0]) for r in results] == [71.0] * 5
    assert all(len(r.request_ids) == 2 for r in results)
    assert len([w for w in caught if issubclass(w.category, PredictionLogWarning)]) == 1
    assert model.logger.stats["written"] == 0 and model.logger.stats["pending"] == 10


FULL_DISK_CHILD = textwrap.dedent("""
    import json, resource, signal, sys, warnings
    from pathlib import Path
    sys.path[:0] = json.loads(sys.argv[2])
    from test_prediction_log_child import run
    print(json.dumps(run(Path(sys.argv[1]))))
""")


def test_a_log_that_cannot_be_written_warns_once_and_predictions_still_come_back(tmp_path):
    """A child process whose file-size limit forbids any growth (root cannot bypass
    RLIMIT_FSIZE, unlike permission bits): every write to the log fails like on a full or
    read-only disk, and predictions must still come back with exactly one warning."""
    path = tmp_path / "log.db"
    with open_log(path) as log:
        log.log(numeric_columns(2), regression([1, 2]))
    helper = tmp_path / "test_prediction_log_child.py"
    helper.write_text(textwrap.dedent("""
        import resource, signal, warnings
        from pathlib import Path
        import numpy as np
        from edgekit.runtime.manifest import Manifest
        from edgekit.runtime.model import Model
        from edgekit.runtime.prediction_log import PredictionLog, PredictionLogWarning
        from edgekit.runtime.schema import Feature, Schema

        SCHEMA = Schema.of([Feature("weight", "numeric", "float"), Feature("year", "numeric", "int")])

        class SumBackend:
            name = "fake"
            input_names = ["weight", "year"]
            def run(self, feeds):
                return [np.sum(np.hstack(feeds), axis=1, keepdims=True).astype(np.float32)]

        def run(path):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))
            manifest = Manifest(format="onnx", quantization="fp32", task="regression", target="y", schema=SCHEMA,
                                input_layout="columns", outputs=("prediction",))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = Model(Path("fake.onnx"), manifest, SumBackend(),
                              logger=PredictionLog(path, model_id="m" * 64, schema=SCHEMA, flush_rows=1))
                values = [float(model.predict({"weight": [1.0], "year": [70]}).values[0]) for _ in range(3)]
                pending = model.logger.stats["pending"]
                model.close()
            return {"values": values, "pending": pending,
                    "warnings": sum(issubclass(w.category, PredictionLogWarning) for w in caught)}
    """))
    done = subprocess.run([sys.executable, "-c", FULL_DISK_CHILD, str(path), json.dumps([str(tmp_path)])],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["values"] == [71.0, 71.0, 71.0]
    assert result["warnings"] == 1 and result["pending"] == 3
    assert len(read_log(path)) == 2  # what was written before is intact


def test_a_corrupt_log_file_warns_once_and_predictions_still_come_back(tmp_path):
    path = tmp_path / "log.db"
    path.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.warns(PredictionLogWarning, match="not a database") as caught:
        model = fake_model(open_log(path, flush_rows=2))
        for _ in range(4):
            assert float(model.predict({"weight": [1.0, 2.0], "year": [1, 2]}).values[1]) == 4.0
        model.close()
    assert len([w for w in caught if issubclass(w.category, PredictionLogWarning)]) == 1
    assert path.read_bytes().startswith(b"this is not an SQLite database")  # the evidence is left alone
    with pytest.raises(DataError, match="not a readable SQLite"):
        read_log(path)


def test_a_full_disk_keeps_a_bounded_buffer_then_catches_up(tmp_path):
    path = tmp_path / "log.db"
    log = open_log(path, flush_rows=100, flush_seconds=60, max_pending=250)
    log.log(numeric_columns(10), regression(np.zeros(10)))
    log.flush()
    # SQLite's page limit makes any write needing a new page fail with SQLITE_FULL
    # ("database or disk is full"); 100 rows never fit in the last page's slack.
    pages = log._writer.conn.execute("PRAGMA page_count").fetchone()[0]
    log._writer.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.warns(PredictionLogWarning, match="full") as caught:
        for i in range(6):
            prediction = log.log(numeric_columns(100, seed=i), regression(np.full(100, i)))
            assert len(prediction) == 100
            assert not log.flush()
    assert len([w for w in caught if issubclass(w.category, PredictionLogWarning)]) == 1
    stats = log.stats
    assert stats["pending"] == 250 and stats["dropped"] == 350 and "full" in stats["last_error"]
    log.close()  # a fresh connection has no page limit: the buffered rows land
    data = read_log(path)
    assert len(data) == 260
    assert data.predictions[10:].tolist() == [3.0] * 50 + [4.0] * 100 + [5.0] * 100  # the oldest were dropped


def test_several_threads_can_share_one_log(tmp_path):
    import threading

    log = open_log(tmp_path / "log.db", flush_rows=16, flush_seconds=0.01)
    errors = []

    def work(k: int) -> None:
        try:
            for i in range(200):
                size = 1 + (i % 5)
                log.log(numeric_columns(size, seed=i), regression(np.zeros(size)), [f"{k}-{i}-{j}" for j in range(size)])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert errors == []
    assert len(set(read_log(tmp_path / "log.db").request_ids)) == 4 * sum(1 + (i % 5) for i in range(200))


# -- several processes ---------------------------------------------------------------------
def test_several_writer_processes_and_a_reader_lose_nothing(tmp_path):
    path = tmp_path / "log.db"
    writer = CHILD_PRELUDE + """
k, n = sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(int(k))
log = PredictionLog(sys.argv[1], model_id="shared", schema=SCHEMA, flush_rows=32, flush_seconds=0.05)
done = 0
while done < n:
    size = int(min(rng.integers(1, 40), n - done))
    log.log(*batch(size, done), [f"{k}-{i}" for i in range(done, done + size)])
    done += size
log.close()
print(log.stats["written"])
"""
    n, writers = 2500, 4
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(path), str(k), str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(writers)]
    seen = []
    while any(p.poll() is None for p in procs):
        if path.exists():
            try:
                seen.append(len(read_log(path)))
            except DataError as exc:  # only before the first writer created the tables
                assert "no models yet" in str(exc) or "no log_schema" in str(exc)
        time.sleep(0.05)
    outputs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outputs]
    assert [int(o[0]) for o in outputs] == [n] * writers
    data = read_log(path)
    assert sorted(data.request_ids.tolist()) == sorted(f"{k}-{i}" for k in range(writers) for i in range(n))
    assert seen == sorted(seen)  # readers saw a growing, consistent log while writers were active
    ids = data.request_ids.tolist()
    for k in range(writers):
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"{k}-")]
        assert mine == sorted(mine)  # each writer's rows keep their order


def test_sigkill_during_writes_leaves_a_readable_log_of_whole_batches(tmp_path):
    path = tmp_path / "log.db"
    writer = CHILD_PRELUDE + """
log = PredictionLog(sys.argv[1], model_id="killed", schema=SCHEMA, flush_rows=500, flush_seconds=0.01)
i = 0
while True:
    log.log(*batch(500, i))
    i += 500
    if i == 5000:
        log.flush()
        print("ready", flush=True)
"""
    rng = np.random.default_rng(0)
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        data = read_log(path)
        assert len(data) >= 5000 * (attempt + 1)
        assert len(data) % 500 == 0  # every committed batch is whole
        assert not np.isnan(data.columns["weight"]).any()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_writes_with_its_own_connection(tmp_path):
    path = tmp_path / "log.db"
    log = open_log(path, flush_rows=1000, flush_seconds=60)
    log.log(numeric_columns(3), regression(np.zeros(3)), ["parent-0", "parent-1", "parent-2"])
    pid = os.fork()
    if pid == 0:  # the child must not write the parent's buffered rows again
        try:
            log.log(numeric_columns(2), regression(np.ones(2)), ["child-0", "child-1"])
            log.close()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    log.close()
    assert sorted(read_log(path).request_ids.tolist()) == ["child-0", "child-1", "parent-0", "parent-1", "parent-2"]


# -- reading ---------------------------------------------------------------------------------
def test_read_log_selects_one_model_the_last_rows_or_a_time_range(tmp_path):
    path = tmp_path / "log.db"
    with open_log(path, model_id="a" * 64) as first:
        first.log(numeric_columns(5), regression(np.arange(5)))
    middle = time.time()
    time.sleep(0.01)
    with open_log(path, model_id="b" * 64) as second:
        second.log(numeric_columns(3), regression(np.arange(10, 13)))
    assert len(read_log(path)) == 8
    assert read_log(path, model_id="b" * 8).predictions.tolist() == [10.0, 11.0, 12.0]
    assert read_log(path, last=4).predictions.tolist() == [4.0, 10.0, 11.0, 12.0]
    assert len(read_log(path, since=middle)) == 3 and len(read_log(path, until=middle)) == 5
    assert [(m["model_id"][:1], m["rows"]) for m in log_models(path)] == [("a", 5), ("b", 3)]
    with pytest.raises(DataError, match="not in the log"):
        read_log(path, model_id="c" * 64)


def test_read_log_refuses_to_mix_models_with_different_features(tmp_path):
    path = tmp_path / "log.db"
    with open_log(path, model_id="a" * 64) as first:
        first.log(numeric_columns(2), regression([1, 2]))
    with open_log(path, model_id="b" * 64, schema=MIXED) as second:
        second.log({"weight": np.array([1.0]), "color": np.array(["red"], dtype=object)}, regression([1]))
    with pytest.raises(DataError, match="different features"):
        read_log(path)
    assert read_log(path, model_id="b" * 64).columns["color"].tolist() == ["red"]


def test_read_log_names_the_problem_with_a_bad_file(tmp_path):
    with pytest.raises(DataError, match="no such prediction log"):
        read_log(tmp_path / "missing.db")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)")
    with pytest.raises(DataError, match="not an edgekit prediction log"):
        read_log(tmp_path / "other.db")


def test_importing_the_log_keeps_the_runtime_light():
    result = run_child("""
import sys
import edgekit.runtime.prediction_log
heavy = [m for m in ("pandas", "scipy", "sklearn", "tensorflow", "onnxruntime") if m in sys.modules]
print(heavy)
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_warning_is_emitted_on_a_healthy_log(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = fake_model(open_log(tmp_path / "log.db", flush_rows=3))
        for _ in range(10):
            model.predict({"weight": [1.0, 2.0], "year": [70, 71]})
        model.close()
    assert count_rows(tmp_path / "log.db") == 20
