import hashlib

import pandas as pd
import pytest

from edgekit.runtime import DataError
from edgekit.train import BUNDLED, load_dataset


def test_auto_mpg_is_embedded_and_fingerprinted_by_its_bytes():
    from importlib import resources

    data = load_dataset("auto-mpg")
    raw = resources.files("edgekit.train").joinpath("data/auto_mpg.csv").read_bytes()
    assert data.fingerprint == hashlib.sha256(raw).hexdigest()
    assert data.frame.shape == (398, 9)
    assert int(data.frame["horsepower"].isna().sum()) == 6


@pytest.mark.parametrize("name, rows, target", [("digits", 1797, "target"), ("diabetes", 442, "target"),
                                                ("breast-cancer", 569, "target"), ("wine", 178, "target"), ("iris", 150, "target")])
def test_scikit_learn_sets_load_by_name(name, rows, target):
    data = load_dataset(name)
    assert len(data.frame) == rows and target in data.frame.columns and name in BUNDLED


def test_csv_with_bom_and_semicolons_is_read(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("\ufeffa;b;label\n1,5;2;x\n3;4;y\n".encode("utf-8"))
    frame = load_dataset(path).frame
    assert list(frame.columns) == ["a", "b", "label"]
    assert frame.shape == (2, 3)


def test_parquet_is_read(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}).to_parquet(path)
    assert load_dataset(path).frame["a"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"a,b,y\n", "no data rows"),
    (b"a,a,y\n1,2,3\n", "duplicate column"),
    (b"a,b,y\n1,2\xff\xfe,3\n", "not UTF-8"),
    (b"a,,y\n1,2,3\n", "empty name"),
])
def test_unusable_csv_files_say_why(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_dataset(path)


def test_unknown_name_lists_the_bundled_sets():
    with pytest.raises(DataError, match="auto-mpg, digits"):
        load_dataset("not-a-dataset")


def test_broken_parquet_is_a_data_error(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="Parquet"):
        load_dataset(path)
