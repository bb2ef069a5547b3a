"""Files that are never half-written, and CSV streamed in chunks with the standard library.

Every artifact edgekit writes goes through :func:`atomic_write` (a temp file in the same
folder, fsynced, then renamed) or :func:`atomic_directory` (a temp folder renamed into
place), so a killed process leaves either the old state or the new one.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import hashlib
import os
import socket
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator

from edgekit.runtime.errors import ConfigError, DataError

_DELIMITERS = (",", ";", "\t", "|")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync it and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; finished files get the usual mode
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _owner_prefix(path: Path) -> str:
    """Temp folders carry host and pid, so a later run can tell a dead writer's leftovers."""
    return f".{path.name}.{socket.gethostname()}.{os.getpid()}."


def _remove_stale(path: Path) -> None:
    """Delete temp folders beside ``path`` left by a killed edgekit process on this host."""
    host = socket.gethostname()
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.{glob.escape(host)}.*"):
        if candidate.suffix not in (".tmp", ".old") or not candidate.is_dir():
            continue
        pid = candidate.name[len(f".{path.name}.{host}."):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(candidate, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks (model files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Build a folder under a temp name beside ``path`` and rename it into place at the end.

    An existing ``path`` is an error unless ``replace``; then it is swapped out only after
    the new folder is complete.
    """
    path = Path(path)
    if path.exists() and not replace:
        raise ConfigError(f"{path} already exists", hint="choose another --out or remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_owner_prefix(path)}", suffix=".tmp", dir=path.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
        yield tmp
        _fsync_tree(tmp)
        if path.exists() and _exchange(tmp, path):
            # One atomic step: path now holds the new folder and tmp the old one, so a
            # process killed at any point leaves one complete folder at path.
            _fsync_dir(path.parent)
            shutil.rmtree(tmp, ignore_errors=True)
        elif path.exists():
            # No atomic swap on this system: path is briefly absent between the renames.
            old = Path(tempfile.mkdtemp(prefix=f"{_owner_prefix(path)}", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where unsupported."""
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                function = libc.renameat2
                function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                function.restype = ctypes.c_int
                _renameat2 = function
    if not _renameat2:
        return False
    at_fdcwd = -100
    if _renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    import ctypes

    errno_value = ctypes.get_errno()
    if errno_value in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EXDEV, errno.EPERM):
        return False  # kernel or filesystem without RENAME_EXCHANGE: fall back
    raise OSError(errno_value, os.strerror(errno_value), os.fspath(b))


_renameat2 = None


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(folder))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sniff_delimiter(header_line: str) -> str:
    """The delimiter a header line uses: ',' unless the line only splits on another one."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    if counts[","]:
        return ","
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class CsvChunks:
    """Iterate a CSV file as (header, list of rows) chunks of at most ``size`` rows."""

    def __init__(self, path: str | os.PathLike, size: int = 4096, delimiter: str | None = None):
        if size < 1:
            raise ConfigError(f"batch size must be at least 1, got {size}")
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such file")
        self.size = size
        self._handle = open(self.path, newline="", encoding="utf-8-sig")
        try:
            first = self._handle.readline()  # decodes a whole block, not only this line
        except UnicodeDecodeError as exc:
            self._handle.close()
            raise DataError(f"{self.path.name}: not UTF-8 text ({exc.reason})") from exc
        if not first.strip():
            self._handle.close()
            raise DataError(f"{self.path.name}: empty file; expected a header row")
        self.delimiter = delimiter or sniff_delimiter(first)
        self.header = [h.strip() for h in next(csv.reader([first], delimiter=self.delimiter))]
        duplicates = sorted({h for h in self.header if self.header.count(h) > 1})
        if duplicates:
            self._handle.close()
            raise DataError(f"{self.path.name}: duplicate column name(s) {duplicates}")
        self._reader = csv.reader(self._handle, delimiter=self.delimiter)
        self.line = 1

    def __iter__(self) -> Iterator[list[list[str]]]:
        try:
            chunk: list[list[str]] = []
            for row in self._reader:
                self.line += 1
                if not row:
                    continue
                if len(row) != len(self.header):
                    raise DataError(
                        f"{self.path.name}, line {self.line}: {len(row)} values for {len(self.header)} columns"
                    )
                chunk.append(row)
                if len(chunk) >= self.size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
        except UnicodeDecodeError as exc:
            raise DataError(f"{self.path.name}: not UTF-8 text ({exc.reason})") from exc
        except csv.Error as exc:
            raise DataError(f"{self.path.name}, line {self.line}: {exc}") from exc
        finally:
            self._handle.close()

    def close(self) -> None:
        self._handle.close()
