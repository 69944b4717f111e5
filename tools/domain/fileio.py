"""File I/O shared by every capability: atomic writes and reading a CSV file as text.

Writes go to a temporary file in the target folder and are renamed into place, so a crash
never leaves a half-written file. pandas is imported when a CSV is read, not when this module
is imported, so the CLI can use the writers without loading it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tools.domain.errors import DataFileError

if TYPE_CHECKING:
    import pandas as pd

_MAX_BYTES = 200 * 1024 * 1024


# -- writing ----------------------------------------------------------------------------
def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text to `path` via a temporary file in the same folder and an atomic rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes to `path` via a temporary file in the same folder, fsync, then an atomic rename.

    A symbolic link is followed: the file it points to is replaced and the link stays a link. A
    file that exists keeps its permission bits (and, where the system allows, its owner and
    group); a new file is readable by its owner only, as the temporary file is created.
    """
    p = Path(path)
    target = Path(os.path.realpath(p)) if p.is_symlink() else p
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.exists():
        raise DataFileError(f"{p}: folder {folder} does not exist")
    try:
        previous: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        previous = None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if previous is not None:
                _keep_mode_and_owner(fh.fileno(), previous)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _keep_mode_and_owner(fd: int, previous: os.stat_result) -> None:
    os.fchmod(fd, stat.S_IMODE(previous.st_mode))
    if (previous.st_uid, previous.st_gid) != (os.geteuid(), os.getegid()):
        # root keeps the owner and group; another user keeps them only where the system lets it
        with contextlib.suppress(PermissionError):
            os.fchown(fd, previous.st_uid, previous.st_gid)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable: a crash right after it must not bring the old file back."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- reading ----------------------------------------------------------------------------
def read_csv_text(path: str | Path) -> pd.DataFrame:
    """Read a CSV file with every cell as text; DataFileError for anything that is not a CSV."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{p}: no such file")
    if p.is_dir():
        raise DataFileError(f"{p}: is a folder, not a CSV file")
    if p.stat().st_size > _MAX_BYTES:
        raise DataFileError(f"{p}: larger than {_MAX_BYTES // 2**20} MiB; split it")
    raw = p.read_bytes()
    if b"\x00" in raw[:65536]:
        raise DataFileError(f"{p}: looks like a binary file, not a CSV (is it an Excel workbook? export it as CSV)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFileError(f"{p}: not UTF-8 text ({err.reason} at byte {err.start}); save the CSV as UTF-8") from err
    if not text.strip():
        raise DataFileError(f"{p}: the file is empty")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, csv.Error, ValueError) as err:
        raise DataFileError(f"{p}: not a well-formed CSV ({err})") from err
    header = [h.strip() for h in next(csv.reader(io.StringIO(text)))]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataFileError(f"{p}: duplicated column(s): {', '.join(dupes)}")
    frame.columns = header
    return frame.apply(lambda col: col.str.strip())
