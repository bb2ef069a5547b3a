"""Prediction inputs, property-tested: Model.predict with dicts, row lists, arrays and
frames, and `edgekit predict` on CSV files. Nothing is silently reordered or dropped:
shuffling columns never changes a prediction; a missing or unknown column is a
SchemaError that names it; bad values are refused with the feature and row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math

import numpy as np
import pandas as pd
import pytest
from edgekit.runtime import SchemaError, load
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FLOAT32_MAX = float(np.finfo(np.float32).max)


@pytest.fixture(scope="module")
def models(svm_onnx, clf_onnx):
    """(model, its test rows as a frame, predictions in schema order) per export."""
    out = {}
    for name, exported in (("svr", svm_onnx), ("logistic", clf_onnx)):
        model = load(exported.model)
        out[name] = (model, exported.frame, model.predict(exported.frame))
    return out


def _same(a, b) -> bool:
    if a.task == "regression":
        return np.array_equal(a.values, b.values)
    return list(a.values) == list(b.values) and np.array_equal(a.probabilities, b.probabilities)


which = st.sampled_from(["svr", "logistic"])


@PROPERTY
@given(which=which, data=st.data())
def test_shuffling_the_columns_of_a_dict_or_frame_never_changes_a_prediction(models, which, data):
    model, frame, expected = models[which]
    order = data.draw(st.permutations(list(frame.columns)))
    columns = {name: frame[name].tolist() for name in order}
    assert _same(model.predict(columns), expected)
    assert _same(model.predict(frame[list(order)]), expected)
    rows = [{name: row[name] for name in data.draw(st.permutations(order))} for row in frame.to_dict("records")]
    assert _same(model.predict(rows), expected)


@PROPERTY
@given(which=which, data=st.data())
def test_dropping_a_column_is_a_schema_error_that_names_it(models, which, data):
    model, frame, _ = models[which]
    dropped = data.draw(st.lists(st.sampled_from(list(frame.columns)), min_size=1, unique=True))
    kept = frame.drop(columns=dropped)
    shape = data.draw(st.sampled_from(["dict", "rows", "frame"]))
    rows = {
        "dict": lambda: {c: kept[c].tolist() for c in kept.columns},
        "rows": lambda: kept.to_dict("records"),
        "frame": lambda: kept,
    }[shape]()
    with pytest.raises(SchemaError) as error:
        model.predict(rows)
    first = min(dropped, key=list(frame.columns).index)
    assert "missing feature" in str(error.value) and repr(first) in str(error.value)


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)


@PROPERTY
@given(which=which, extra=names)
def test_an_unknown_column_is_a_schema_error_that_names_it(models, which, extra):
    model, frame, _ = models[which]
    assume(extra not in frame.columns)
    columns = {**{c: frame[c].tolist() for c in frame.columns}, extra: [1.0] * len(frame)}
    with pytest.raises(SchemaError) as error:
        model.predict(columns)
    assert f"unknown feature {extra!r}" in str(error.value)


@PROPERTY
@given(which=which, data=st.data())
def test_a_2d_array_in_schema_order_matches_named_columns_and_a_wrong_width_is_refused(models, which, data):
    model, frame, expected = models[which]
    if which == "svr":
        assert _same(model.predict(frame.to_numpy(dtype=np.float64)), expected)
    width = data.draw(st.integers(0, 12).filter(lambda w: w != len(model.schema)))
    with pytest.raises(SchemaError, match="the model takes"):
        model.predict(np.zeros((2, width)))


numeric_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.none(),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e5", " 12 ", "abc", "1,5", "0x10", "∞", "١٢"]),
    st.booleans(),
)


@PROPERTY
@given(value=numeric_value, row=st.integers(0, 7), feature=st.sampled_from(["weight", "horsepower", "displacement"]))
def test_a_numeric_feature_takes_numbers_or_missing_values_and_refuses_the_rest_by_name(models, value, row, feature):
    model, frame, expected = models["svr"]
    columns = {c: frame[c].tolist() for c in frame.columns}
    columns[feature] = list(columns[feature])
    columns[feature][row] = value
    try:
        number = None if value is None or (isinstance(value, str) and not value.strip()) else float(value)
    except ValueError:
        number = "text"
    if number == "text" or (isinstance(number, float) and (math.isinf(number) or abs(number) > FLOAT32_MAX)):
        with pytest.raises(SchemaError) as error:
            model.predict(columns)
        assert repr(feature) in str(error.value) and f"row {row}" in str(error.value)
        return
    prediction = model.predict(columns)
    assert np.isfinite(prediction.values).all()
    others = [i for i in range(len(frame)) if i != row]
    assert np.array_equal(prediction.values[others], expected.values[others])  # rows are independent


@PROPERTY
@given(
    value=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=10),
        st.integers(-5, 10),
        st.sampled_from([1, 2, 3, 1.0, 2.0, "2", "3.0"]),
    )
)
def test_a_category_code_is_known_unknown_or_refused_never_truncated(models, value):
    """origin is an integer category (1, 2, 3): 1.5 is no category; the ONNX graph would
    truncate it to 1 while the source model calls it unknown, so it is refused."""
    model, frame, _ = models["svr"]
    columns = {c: frame[c].tolist()[:1] for c in frame.columns}
    columns["origin"] = [value]
    code = float(value)
    if code != round(code):
        with pytest.raises(SchemaError, match="whole category codes"):
            model.predict(columns)
        return
    prediction = model.predict(columns)
    reference = model.predict({**columns, "origin": [int(code)]})
    assert np.array_equal(prediction.values, reference.values)


@PROPERTY
@given(value=st.one_of(st.text(max_size=12), st.none(), st.integers(-3, 3), st.floats(allow_nan=True)))
def test_a_string_category_takes_any_text_and_unknown_values_are_not_errors(models, value):
    model, frame, _ = models["logistic"]
    columns = {c: frame[c].tolist()[:2] for c in frame.columns}
    columns["couleur"] = [value, "rouge"]
    prediction = model.predict(columns)
    assert len(prediction) == 2 and np.allclose(prediction.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_duplicate_frame_columns_and_empty_inputs_are_refused(models):
    model, frame, _ = models["svr"]
    doubled = pd.concat([frame, frame[["weight"]]], axis=1)
    with pytest.raises(SchemaError, match="duplicate"):
        model.predict(doubled)
    for empty in ({}, [], {c: [] for c in frame.columns}, np.zeros((0, len(frame.columns)))):
        with pytest.raises(SchemaError):
            model.predict(empty)
    with pytest.raises(SchemaError, match="different lengths"):
        model.predict({**{c: frame[c].tolist() for c in frame.columns}, "weight": [1.0]})
    for wrong in ("text", 42, b"bytes", None):
        with pytest.raises(SchemaError):
            model.predict(wrong)


# --------------------------------------------------------------------------- CSV files
def _edgekit(argv) -> tuple[int, str, str]:
    from edgekit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _write_csv(path, frame: pd.DataFrame, *, delimiter=",", bom=False, newline="\n", quote_all=False):
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    writer.writerow(list(frame.columns))
    for row in frame.itertuples(index=False):
        writer.writerow(["" if (isinstance(v, float) and math.isnan(v)) else v for v in row])
    path.write_bytes(("\ufeff" if bom else "").encode() + buffer.getvalue().encode("utf-8"))


@pytest.fixture(scope="module")
def baselines(models, tmp_path_factory):
    """`edgekit predict` output for each test frame written plainly, in schema order."""
    root = tmp_path_factory.mktemp("csv")
    out = {}
    for name, (model, frame, _) in models.items():
        _write_csv(root / f"{name}.csv", frame)
        code, _, err = _edgekit(
            ["predict", str(model.path), str(root / f"{name}.csv"), "--out", str(root / f"{name}-out.csv")]
        )
        assert code == 0, err
        out[name] = (root / f"{name}-out.csv").read_text(encoding="utf-8")
    return out


@PROPERTY
@given(
    which=which,
    data=st.data(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    bom=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    quote_all=st.booleans(),
)
def test_a_csv_in_any_column_order_delimiter_bom_or_line_ending_predicts_the_same(
    models, baselines, tmp_path_factory, which, data, delimiter, bom, newline, quote_all
):
    model, frame, _ = models[which]
    order = data.draw(st.permutations(list(frame.columns)))
    root = tmp_path_factory.mktemp("shuffled")
    _write_csv(root / "in.csv", frame[list(order)], delimiter=delimiter, bom=bom, newline=newline, quote_all=quote_all)
    code, _, err = _edgekit(["predict", str(model.path), str(root / "in.csv"), "--out", str(root / "out.csv")])
    assert code == 0, err
    assert (root / "out.csv").read_text(encoding="utf-8") == baselines[which]


@PROPERTY
@given(which=which, data=st.data())
def test_a_csv_missing_a_column_is_refused_in_one_line_naming_it(models, tmp_path_factory, which, data):
    model, frame, _ = models[which]
    dropped = data.draw(st.sampled_from(list(frame.columns)))
    root = tmp_path_factory.mktemp("dropped")
    _write_csv(root / "in.csv", frame.drop(columns=[dropped]))
    code, _, err = _edgekit(["predict", str(model.path), str(root / "in.csv"), "--out", str(root / "out.csv")])
    assert code == 2 and err.count("edgekit: error:") == 1 and repr(dropped) in err, err
    assert not (root / "out.csv").exists()  # nothing half-written


BAD_CSV = {
    "empty": (b"", "empty file"),
    "blank-lines": (b"\n\n\n", "empty file"),
    "duplicate-column": (None, "duplicate column"),
    "ragged-row": (None, "values for"),
    "not-utf8": (None, "not UTF-8"),
    "text-in-number": (None, "expects numbers"),
    "infinite": (None, "infinite"),
    "huge": (None, "float32 range"),
    "nul-byte": (None, None),
    "unknown-column": (None, "unknown feature"),
}


def _bad_csv(name: str, frame: pd.DataFrame) -> bytes:
    base = io.StringIO()
    frame.to_csv(base, index=False)
    text = base.getvalue()
    header, first, *rest = text.splitlines()
    if name == "duplicate-column":
        return (
            header + "," + header.split(",")[0] + "\n" + "\n".join(r + "," + r.split(",")[0] for r in [first] + rest)
        ).encode()
    if name == "ragged-row":
        return (header + "\n" + first + ",1\n").encode()
    if name == "not-utf8":
        return (header + "\n").encode() + first.encode().replace(b",", b"\xff,", 1) + b"\n"
    cells = first.split(",")
    where = header.split(",").index("weight") if "weight" in header else 0
    if name in ("text-in-number", "infinite", "huge"):
        cells[where] = {"text-in-number": "heavy", "infinite": "inf", "huge": "1e39"}[name]
        return (header + "\n" + ",".join(cells) + "\n").encode()
    if name == "nul-byte":
        return (header + "\n" + first + "\n").encode().replace(b",", b"\x00,", 1)
    if name == "unknown-column":
        return (header + ",extra\n" + first + ",1\n").encode()
    raise KeyError(name)


def test_bad_csv_files_are_refused_in_one_line_and_leave_no_output(models, tmp_path, summary):
    model, frame, _ = models["svr"]
    tried = 0
    for name, (content, message) in BAD_CSV.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(content if content is not None else _bad_csv(name, frame))
        out = tmp_path / f"{name}-out.csv"
        code, _, err = _edgekit(["predict", str(model.path), str(path), "--out", str(out)])
        assert code == 2, (name, code, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("edgekit: error:"), (name, err)
        if message:
            assert message in err, (name, err)
        assert not out.exists() and not list(tmp_path.glob(f".{name}-out.csv.*")), name
        tried += 1
    # A header without rows is no error: zero predictions, a header-only output.
    path = tmp_path / "header-only.csv"
    path.write_text(",".join(frame.columns) + "\n")
    code, _, err = _edgekit(["predict", str(model.path), str(path), "--out", str(tmp_path / "header-out.csv")])
    assert code == 0 and (tmp_path / "header-out.csv").read_text().splitlines() == ["prediction"], err
    summary.append(
        f"edgekit predict on bad CSV files: {tried} files, {tried} refused with exit 2 in one line; "
        "a header-only file gives 0 predictions"
    )


def test_unicode_column_names_survive_training_export_and_prediction(models, clf_onnx, tmp_path):
    """The classification bundle was trained on 'größe_cm', 'Gewicht (kg)', 'couleur' -> '品質'."""
    model, frame, expected = models["logistic"]
    assert model.schema.names == ["größe_cm", "Gewicht (kg)", "couleur"]
    _write_csv(tmp_path / "in.csv", frame[["couleur", "Gewicht (kg)", "größe_cm"]], delimiter=";", bom=True)
    code, _, err = _edgekit(["predict", str(model.path), str(tmp_path / "in.csv"), "--out", str(tmp_path / "out.csv")])
    assert code == 0, err
    labels = [row["label"] for row in csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8"))]
    assert labels == list(expected.values)
    # A decomposed (NFD) spelling is another name: refused with a suggestion, not guessed.
    import unicodedata

    nfd = unicodedata.normalize("NFD", "größe_cm")
    columns = {nfd if c == "größe_cm" else c: frame[c].tolist() for c in frame.columns}
    with pytest.raises(SchemaError, match="did you mean 'größe_cm'"):
        model.predict(columns)
