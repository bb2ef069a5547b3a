"""Training data in, property-tested: ``load_dataset`` on CSV and Parquet files either
returns exactly the table that was written (any delimiter, BOM, line ending, quoting,
unicode column names) or refuses it with a DataError -- never another exception.
"""

from __future__ import annotations

import csv
import io
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from edgekit.runtime import DataError, EdgekitError
from edgekit.train import load_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Column names: any letters, digits, spaces and a little punctuation -- no delimiter,
# quote or line break (those need quoting, tested separately), no edge whitespace.
name_chars = st.characters(categories=("L", "N"), include_characters=" _-()./°", exclude_characters=",;|\t\"'\r\n")
column_names = st.lists(
    st.text(name_chars, min_size=1, max_size=12).map(str.strip).filter(bool), min_size=1, max_size=5, unique=True
)
# Text cells that no CSV reader mistakes for a number, a boolean or a missing value.
words = st.text(string.ascii_letters, min_size=1, max_size=6).map(lambda s: "w_" + s)
cells = {
    "int": st.integers(-(10**6), 10**6),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12),
    "text": words,
}


@st.composite
def tables(draw):
    names = draw(column_names)
    rows = draw(st.integers(1, 8))
    data = {}
    for name in names:
        kind = draw(st.sampled_from(sorted(cells)))
        data[name] = draw(st.lists(cells[kind], min_size=rows, max_size=rows))
    return pd.DataFrame(data)


def _csv_bytes(frame: pd.DataFrame, delimiter: str, bom: bool, newline: str, quote_all: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    writer.writerow(list(frame.columns))
    writer.writerows(frame.itertuples(index=False))
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode("utf-8")


def _assert_same_table(loaded: pd.DataFrame, written: pd.DataFrame) -> None:
    assert list(loaded.columns) == list(written.columns)
    assert len(loaded) == len(written)
    for name in written.columns:
        expected, got = written[name].tolist(), loaded[name].tolist()
        if isinstance(expected[0], str):
            assert [str(v) for v in got] == expected, name
        else:
            assert np.allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=1e-12, atol=0), (
                name
            )


@PROPERTY
@given(
    frame=tables(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    bom=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    quote_all=st.booleans(),
)
def test_a_csv_loads_as_the_table_that_was_written(tmp_path_factory, frame, delimiter, bom, newline, quote_all):
    path = tmp_path_factory.mktemp("csv") / "table.csv"
    path.write_bytes(_csv_bytes(frame, delimiter, bom, newline, quote_all))
    _assert_same_table(load_dataset(path).frame, frame)


@PROPERTY
@given(frame=tables())
def test_a_parquet_file_loads_as_the_table_that_was_written(tmp_path_factory, frame):
    path = tmp_path_factory.mktemp("parquet") / "table.parquet"
    frame.to_parquet(path)
    _assert_same_table(load_dataset(path).frame, frame)


@PROPERTY
@given(frame=tables(), data=st.data())
def test_a_duplicate_column_name_is_refused_by_name(tmp_path_factory, frame, data):
    duplicate = data.draw(st.sampled_from(list(frame.columns)))
    doubled = pd.concat([frame, frame[[duplicate]]], axis=1)
    path = tmp_path_factory.mktemp("dup") / "table.csv"
    path.write_bytes(_csv_bytes(doubled, ",", False, "\n", False))
    with pytest.raises(DataError, match="duplicate column") as error:
        load_dataset(path)
    assert repr(duplicate) in str(error.value)


@PROPERTY
@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: t.encode("utf-8")),
        st.lists(
            st.sampled_from(["a", "b", ",", ";", "\n", "\r", '"', "1", "1.5", "nan", "\t", " ", "\ufeff", "\x00", "é"]),
            max_size=60,
        ).map(lambda p: "".join(p).encode()),
    ),
    suffix=st.sampled_from([".csv", ".parquet", ".txt"]),
)
def test_arbitrary_bytes_load_as_a_table_or_raise_a_data_error(tmp_path_factory, content, suffix):
    path = tmp_path_factory.mktemp("junk") / f"table{suffix}"
    path.write_bytes(content)
    try:
        dataset = load_dataset(path)
    except DataError:
        return
    assert len(dataset.frame) >= 1 and len(dataset.frame.columns) >= 1


def test_empty_header_only_and_missing_files_are_refused_clearly(tmp_path, summary):
    cases = {
        "empty.csv": (b"", "empty file"),
        "blank.csv": (b"\n  \n", "empty file"),
        "header-only.csv": (b"a,b,target\n", "no data rows"),
        "empty-name.csv": (b"a,,target\n1,2,3\n", "empty name"),
        "not-utf8.csv": (b"a,b\n\xff\xfe,1\n", "not UTF-8"),
        "ragged-long.csv": (b"a,b\n1,2,3\n4,5,6\n", "line 2: 3 values for 2 columns"),
        "ragged-short.csv": (b"a,b,c\n1,2\n3,4,5\n", "line 2: 2 values for 3 columns"),
        "empty.parquet": (b"", "cannot read as Parquet"),
        "csv-as.parquet": (b"a,b\n1,2\n", "cannot read as Parquet"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=message):
            load_dataset(tmp_path / name)
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match="not a file"):
        load_dataset(tmp_path / "folder.csv")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([[1, 2], [3, 4]], names=["x", "x"]), tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="duplicate|Multiple matches"):  # pyarrow may notice first
        load_dataset(tmp_path / "dup.parquet")
    summary.append(
        f"load_dataset on broken files: {len(cases) + 2} files, all DataError; property tests: "
        "4 x 80 generated tables/byte strings"
    )


def test_names_that_look_like_paths_are_just_paths_and_fail_cleanly(tmp_path, monkeypatch, helpers):
    """A dataset name is a bundled name or a file path, never resolved against anything."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "../../../../../../nonexistent/shadow.csv",
        "auto-mpg/../iris",
        "../auto-mpg",
        "/nonexistent/x.csv",
        "iris\x00.csv",
        "~/data.csv",
        "file:///etc/passwd",
        "C:\\data\\x.csv",
        "",
    ):
        try:
            load_dataset(name)
        except DataError as error:
            assert "no such file" in str(error) or "not a file" in str(error) or "bundled" in str(error), name
        except EdgekitError:
            pass
        else:
            raise AssertionError(f"{name!r} loaded")
    # An existing file reached by '..' is read as the CSV it is (here not one with the target).
    done = helpers.run_cli(
        ["train", "../" * 12 + "etc/hostname", "--target", "x", "--out", str(tmp_path / "b")], cwd=tmp_path
    )
    assert done.returncode == 2 and done.stderr.count("edgekit: error:") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "b").exists()


def _hostile_tables(rng) -> dict[str, pd.DataFrame]:
    n = 60
    base = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "y": rng.normal(size=n)})

    def edit(column, row, value):
        frame = base.copy().astype({column: object}) if isinstance(value, str) else base.copy()
        frame.loc[row, column] = value
        return frame

    return {
        "inf-feature": edit("a", 3, np.inf),
        "beyond-float32-feature": edit("a", 3, 1e308),
        "inf-target": edit("y", 3, np.inf),
        "nan-target": edit("y", 3, np.nan),
        "text-in-numbers": edit("a", 3, "abc"),
        "constant-target": base.assign(y=1.0),
        "all-nan-feature": base.assign(a=np.nan),
        "only-the-target": base[["y"]],
        "three-rows": base.head(3),
        "singleton-class": base.assign(y=["a"] * (n - 1) + ["b"]),
        "huge-target": base.assign(y=1e300 * rng.normal(size=n)),
        "unicode-and-spaces": base.rename(columns={"a": "  größe ", "b": "名前 (kg)"}),
    }


def test_training_on_hostile_tables_gives_a_bundle_or_one_error_line(helpers, tmp_path, summary):
    cases = []
    for name, frame in _hostile_tables(np.random.default_rng(0)).items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        cases.append(
            {
                "id": name,
                "action": "cli",
                "out": str(tmp_path / f"{name}-bundle"),
                "argv": [
                    "train",
                    str(tmp_path / f"{name}.csv"),
                    "--target",
                    "y",
                    "--models",
                    "linear",
                    "--cv",
                    "2",
                    "--jobs",
                    "1",
                    "--out",
                    str(tmp_path / f"{name}-bundle"),
                ],
            }
        )
    results = helpers.run_cases(cases, tmp_path / "run")
    assert not results.bad(), results.bad()
    counts: dict[str, int] = {}
    for case in cases:
        result = results[case["id"]]
        if result["exit"] == 0:
            assert (Path(case["out"]) / "model_card.json").is_file(), result
        else:
            assert helpers.one_line_error(result) is None, (case["id"], result["stderr"][-800:])
            assert not Path(case["out"]).exists()
        counts[f"exit {result['exit']}"] = counts.get(f"exit {result['exit']}", 0) + 1
    summary.append(f"edgekit train on hostile tables: {len(cases)} tables: {counts}")
