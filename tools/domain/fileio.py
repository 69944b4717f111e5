"""File I/O shared by every capability: atomic writes, reading a user's file safely, CSV text.

Writes go to a temporary file in the target folder and are renamed into place, so a crash
never leaves a half-written file. A user's file is read only when it is a regular file under a
size limit (a named pipe would hang, /dev/zero never ends), whatever its newline convention.
Text cells that a spreadsheet would run as formulas are escaped on export. pandas is imported when a CSV is read, not when this module
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

MAX_INPUT_BYTES = 200 * 1024 * 1024
"""The largest user file read (a CSV record, an attachment), bytes."""


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
_FILE_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _require_regular(p: Path, mode: int, size: int, max_bytes: int, what: str) -> None:
    """DataFileError unless the stat result is a regular file of at most `max_bytes`."""
    if stat.S_ISDIR(mode):
        raise DataFileError(f"{p}: is a folder, not {what}")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a file")
        raise DataFileError(f"{p}: not a regular file ({kind}); give the path of {what}")
    if size > max_bytes:
        raise DataFileError(f"{p}: {size:,} bytes, more than the {max_bytes:,}-byte limit for {what} ({_size_text(max_bytes)}); split it")


_KIND_BY_SUFFIX = {".cif": "a CIF file", ".csv": "a CSV file", ".yaml": "a YAML file", ".yml": "a YAML file",
                   ".pdf": "a PDF file", ".md": "a Markdown file", ".txt": "a text file"}


def expected_kind(path: str | Path) -> str:
    """What a file of this name should be, for messages: 'a CIF file', 'a CSV file', ... or 'a file'."""
    return _KIND_BY_SUFFIX.get(Path(path).suffix.lower(), "a file")


def check_regular_file(path: str | Path, max_bytes: int = MAX_INPUT_BYTES, what: str = "a file") -> int:
    """Size of `path` in bytes; DataFileError unless it is a regular file of at most `max_bytes`.

    Only regular files are read: a named pipe would block the reader forever and a device such
    as /dev/zero never ends. Nothing is opened here; `stat` follows symbolic links.
    """
    p = Path(path)
    try:
        info = os.stat(p)
    except FileNotFoundError as err:
        raise DataFileError(f"{p}: not found (no such file)") from err
    except OSError as err:
        raise DataFileError(f"{p}: cannot be read ({err.strerror or err})") from err
    _require_regular(p, info.st_mode, info.st_size, max_bytes, what)
    return info.st_size


def read_user_bytes(path: str | Path, max_bytes: int = MAX_INPUT_BYTES, what: str = "a file") -> bytes:
    """The bytes of a user's file: a regular file of at most `max_bytes`, else DataFileError.

    The file is opened without blocking and checked again on the open descriptor, so a path
    swapped for a pipe between the check and the open is refused too; at most `max_bytes`
    are read even when the file grows meanwhile.
    """
    p = Path(path)
    check_regular_file(p, max_bytes, what)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise DataFileError(f"{p}: cannot be read ({err.strerror or err})") from err
    with os.fdopen(fd, "rb") as fh:
        opened = os.fstat(fh.fileno())
        _require_regular(p, opened.st_mode, opened.st_size, max_bytes, what)
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DataFileError(f"{p}: more than the {max_bytes:,}-byte limit for {what} ({_size_text(max_bytes)}); split it")
    return data


def _size_text(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n:,} bytes"


def normalise_newlines(text: str) -> str:
    """Every newline convention (CR LF, CR alone, LF) as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """A text cell made safe for spreadsheets: a leading =, +, -, @ (tab, CR) gets a single quote before it."""
    return "'" + text if text.startswith(FORMULA_START) else text


def unescape_formula(text: str) -> str:
    """Undo `escape_formula`, so a file written by matassist reads back to the same values."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def escape_text_cells(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """A copy of `frame` whose text cells (in `columns`, default every text column) are escaped for spreadsheets.

    Numbers are left alone: pass only text columns when numbers are already formatted as text.
    """
    out = frame.copy()
    names = columns if columns is not None else [c for c in out.columns if out[c].dtype == object]
    for name in names:
        if name in out.columns:
            out[name] = out[name].map(lambda v: escape_formula(v) if isinstance(v, str) else v)
    return out


def read_csv_text(path: str | Path) -> pd.DataFrame:
    """Read a CSV file with every cell as text; DataFileError for anything that is not a CSV.

    Only a regular file of at most 200 MiB is read; CR LF, CR-only and LF line ends all work;
    a cell escaped for spreadsheets by matassist ('=...) reads back without its quote.
    """
    p = Path(path)
    return read_csv_bytes(read_user_bytes(p), p)


def read_csv_bytes(raw: bytes, path: str | Path) -> pd.DataFrame:
    """`read_csv_text` for bytes already read from `path` (named in the errors): the same checks and cleaning."""
    import pandas as pd

    p = Path(path)
    if b"\x00" in raw[:65536]:
        raise DataFileError(f"{p}: looks like a binary file, not a CSV (is it an Excel workbook? export it as CSV)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFileError(f"{p}: not UTF-8 text ({err.reason} at byte {err.start}); save the CSV as UTF-8") from err
    if not text.strip():
        raise DataFileError(f"{p}: the file is empty")
    text = normalise_newlines(text)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, csv.Error, ValueError) as err:
        raise DataFileError(f"{p}: not a well-formed CSV ({err})") from err
    header = [h.strip() for h in next(csv.reader(io.StringIO(text)))]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataFileError(f"{p}: duplicated column(s): {', '.join(dupes)}")
    frame.columns = header
    return frame.apply(lambda col: col.str.strip().map(unescape_formula))
