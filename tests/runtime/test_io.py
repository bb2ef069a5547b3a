"""Atomic writes, stale temp-folder cleanup and CSV chunking."""

import os
import socket
import stat

import pytest

from edgekit.runtime import ConfigError, DataError
from edgekit.runtime.io import CsvChunks, atomic_directory, atomic_write, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "report.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["report.json"]


def test_written_files_and_folders_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        with atomic_directory(tmp_path / "folder") as folder:
            (folder / "f").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755


def test_atomic_directory_refuses_to_overwrite_unless_asked(tmp_path):
    out = tmp_path / "out"
    with atomic_directory(out) as folder:
        (folder / "v").write_text("1")
    with pytest.raises(ConfigError, match="already exists"):
        with atomic_directory(out):
            pass
    with atomic_directory(out, replace=True) as folder:
        (folder / "v").write_text("2")
    assert (out / "v").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_leftovers_of_a_dead_writer_are_cleaned_up_but_a_live_writers_are_not(tmp_path):
    host = socket.gethostname()
    dead = tmp_path / f".out.{host}.999999999.abc.tmp"  # no such pid
    live = tmp_path / f".out.{host}.1.def.tmp"  # pid 1 is always alive
    other_host = tmp_path / ".out.some-other-host.999999999.ghi.tmp"
    for folder in (dead, live, other_host):
        folder.mkdir()
    with atomic_directory(tmp_path / "out") as folder:
        (folder / "x").write_text("x")
    assert not dead.exists() and live.exists() and other_host.exists()


def test_csv_chunks_detect_delimiter_bom_and_ragged_rows(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("\ufeffa;b\n1;2\n3;4\n5;6\n".encode())
    chunks = CsvChunks(path, size=2)
    assert chunks.header == ["a", "b"] and chunks.delimiter == ";"
    assert [len(c) for c in chunks] == [2, 1]
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DataError, match="line 3: 1 values for 2 columns"):
        list(CsvChunks(path))
    path.write_text("")
    with pytest.raises(DataError, match="empty file"):
        CsvChunks(path)
    path.write_text("a,a\n1,2\n")
    with pytest.raises(DataError, match="duplicate"):
        CsvChunks(path)
