"""Typed exceptions shared by every tool; the CLI and the agent turn them into plain messages."""

from __future__ import annotations

from dataclasses import dataclass


class MatassistError(Exception):
    """Base of every error a user can cause; its message is shown as-is, never a traceback."""


class DesignSpaceError(MatassistError):
    """A design-space file, a fixed value or an inferred space is invalid."""


class DataFileError(MatassistError):
    """A file could not be read or written (missing, unreadable, not a CSV, ...)."""


class StoreError(MatassistError):
    """The durable experiment store rejected an operation; nothing was written."""


class ModelError(MatassistError):
    """A model could not be trained, loaded or used."""


class ProposalError(MatassistError):
    """The proposer could not produce proposals for the request."""


QUOTE_LIMIT = 40
"""Longest text from a file that a message quotes (a header or cell); longer text is cut."""


def quoted(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` in single quotes on one line, cut to `limit` characters, so a message never carries a whole line of a file."""
    flat = " ".join(text.split()) if any(c in text for c in "\r\n\t") else text
    return f"'{flat}'" if len(flat) <= limit else f"'{flat[: limit - 3]}...'"


@dataclass(frozen=True)
class RecordIssue:
    """One problem in an experiment record, located by CSV line and column."""

    row: int | None
    """Zero-based data row index, or None for a whole-file problem."""
    column: str | None
    message: str

    @property
    def line(self) -> int | None:
        """Line number in the CSV file (the header is line 1)."""
        return None if self.row is None else self.row + 2

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row + 1} (line {self.line})")
        if self.column is not None:
            where.append(f"column {quoted(self.column)}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class RecordValidationError(MatassistError):
    """An experiment record failed validation; carries every issue found."""

    def __init__(self, issues: list[RecordIssue], source: str | None = None, limit: int = 20):
        self.issues = list(issues)
        self.source = source
        head = f"{source}: " if source else ""
        count = len(self.issues)
        if count == 1:  # one problem, one line
            super().__init__(f"{head}{self.issues[0]}")
            return
        lines = [f"{head}{count} problems in the experiment record"]
        lines += [f"  - {issue}" for issue in self.issues[:limit]]
        if count > limit:
            lines.append(f"  ... and {count - limit} more")
        super().__init__("\n".join(lines))


class MaterialsProjectError(MatassistError):
    """A Materials Project request could not be answered (base of the MP-specific errors)."""


class MPQueryError(MaterialsProjectError):
    """A Materials Project query is invalid (unknown element, min above max, nothing to search for)."""


class MPAuthError(MaterialsProjectError):
    """No Materials Project API key was found, or the server rejected it."""


class MPUnavailableError(MaterialsProjectError):
    """The Materials Project could not be reached in time (offline, timeout, rate limit, server error)."""


class MPResponseError(MaterialsProjectError):
    """The Materials Project answered with something that is not a valid API response."""


class LiteratureError(MatassistError):
    """The literature store could not be opened, searched or written."""


class DocumentError(LiteratureError, DataFileError):
    """A document could not be ingested: missing, unsupported, encrypted, corrupt or without text."""


class CifError(MatassistError):
    """A CIF-related request cannot be carried out (unknown rule family, unreadable reference or rule file)."""


class AugmentationError(MatassistError):
    """Synthetic rows could not be generated for a record (too few runs, nothing varies, every sample rejected)."""


class ElectrodeError(MatassistError):
    """An insertion electrode (formulas, working ion) or an electrode table is invalid; the message is one line.

    `fields` names the inputs at fault (charged_formula, discharged_formula, working_ion), so a
    reader of a table can name the row and the column.
    """

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        super().__init__(" ".join(str(message).split()))
        self.fields = fields
