"""Messy and hostile input files (issue 17): newline conventions, pipes, devices, huge files, digit
separators, spreadsheet formulas in exported text, and predictions that extrapolate beyond the record.

Every user file goes through tools.domain.fileio: only regular files under a size limit are read,
never a named pipe (it would hang) or a device (/dev/zero never ends), and every failure is one
plain line with exit code 2.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.proposer_standin import ncm_standin
from tools.domain.design_space import DesignSpace
from tools.domain.errors import DataFileError, DesignSpaceError, RecordValidationError
from tools.domain.fileio import check_regular_file, escape_formula, read_csv_text, read_user_bytes
from tools.domain.record import ExperimentRecord, read_record, record_to_csv, write_record

runner = CliRunner()
HAS_FIFO = hasattr(os, "mkfifo")
DEV_ZERO = Path("/dev/zero")


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    text = result.stderr.strip() if result.stderr_bytes is not None else result.output.strip()
    assert len(text.splitlines()) == 1, text
    return text


def _small_csv(record: ExperimentRecord, path: Path, rows: int = 40, newline: str = "\n") -> Path:
    small = ExperimentRecord(frame=record.frame.head(rows).reset_index(drop=True), space=record.space)
    path.write_bytes(record_to_csv(small).replace("\n", newline).encode())
    return path


@pytest.fixture()
def standin_fit(monkeypatch: pytest.MonkeyPatch, ncm_space: DesignSpace) -> None:
    """The closed-form stand-in instead of the (slow) capacity-model fit."""
    import tools.modelling.capacity_model as cm

    monkeypatch.setattr(cm, "load_or_fit", lambda record, folder, seed=0, **_kw: (ncm_standin(record.space), False))


@pytest.fixture()
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe with a .csv name; a reader that opened it would wait forever for a writer."""
    if not HAS_FIFO:
        pytest.skip("no named pipes on this platform")
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    yield path


def _within(seconds: float, fn: Callable[[], object], release: Path | None = None) -> object:
    """Run `fn` in a thread; fail (instead of hanging the suite) when it takes longer than `seconds`."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # handed back below
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if release is not None:  # unblock a reader stuck on the pipe so the thread can end
            fd = os.open(release, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        pytest.fail(f"still running after {seconds} s: a named pipe or device was read")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


# -- newline conventions ---------------------------------------------------------------------
@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"], ids=["CR", "CRLF", "LF"])
def test_every_newline_convention_reads_the_same(demo_record, tmp_path, newline):
    reference = read_csv_text(_small_csv(demo_record, tmp_path / "lf.csv"))
    frame = read_csv_text(_small_csv(demo_record, tmp_path / "other.csv", newline=newline))
    pd.testing.assert_frame_equal(frame, reference)
    assert len(read_record(tmp_path / "other.csv")) == 40


def test_cr_only_file_works_in_validate_profile_and_propose(demo_record, tmp_path, standin_fit):
    path = _small_csv(demo_record, tmp_path / "mac.csv", rows=60, newline="\r")
    validated = runner.invoke(app, ["dataset", "validate", str(path), "--json"])
    assert validated.exit_code == 0, validated.output
    assert json.loads(validated.stdout)["rows"] == 60
    profiled = runner.invoke(app, ["dataset", "profile", str(path), "--json", "--no-plots"])
    assert profiled.exit_code == 0, profiled.output
    assert json.loads(profiled.stdout)["rows"] == 60
    proposed = runner.invoke(app, ["propose", "--data", str(path), "--n", "2", "--iterations", "5", "--particles", "6",
                                   "--plot", str(tmp_path / "c.png"), "--json"])
    assert proposed.exit_code == 0, proposed.output
    assert len(json.loads(proposed.stdout)["proposals"]) == 2


# -- pipes, devices, size --------------------------------------------------------------------
def test_named_pipe_is_refused_without_being_opened(fifo):
    with pytest.raises(DataFileError, match=r"pipe.csv: not a regular file \(a named pipe\)"):
        _within(10, lambda: read_csv_text(fifo), release=fifo)
    with pytest.raises(DataFileError, match="not a regular file"):
        _within(10, lambda: read_user_bytes(fifo), release=fifo)


@pytest.mark.skipif(not DEV_ZERO.exists(), reason="no /dev/zero")
def test_dev_zero_is_refused_not_read(tmp_path):
    with pytest.raises(DataFileError, match="/dev/zero: not a regular file"):
        _within(10, lambda: read_csv_text(DEV_ZERO))
    alias = tmp_path / "zero.cif"
    alias.symlink_to(DEV_ZERO)  # a harmless-looking name does not help
    with pytest.raises(DataFileError, match="zero.cif: not a regular file"):
        _within(10, lambda: read_user_bytes(alias))


def test_size_limit_is_checked_before_reading(tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"ni\n" + b"0.9\n" * 1000)
    with pytest.raises(DataFileError, match=r"big.csv: [\d,]+ bytes, more than the 100-byte limit"):
        check_regular_file(big, max_bytes=100)
    with pytest.raises(DataFileError, match="more than the 100-byte limit"):
        read_user_bytes(big, max_bytes=100)
    assert read_user_bytes(big) == big.read_bytes()
    with pytest.raises(DataFileError, match="is a folder"):
        read_csv_text(tmp_path)


def test_design_space_from_a_pipe_is_refused(tmp_path):
    if not HAS_FIFO:
        pytest.skip("no named pipes on this platform")
    path = tmp_path / "space.yaml"
    os.mkfifo(path)
    from tools.domain.design_space import load_design_space

    with pytest.raises(DesignSpaceError, match="not a regular file"):
        _within(10, lambda: load_design_space(path), release=path)


def _pipe_commands(pipe: Path, good: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "dataset validate": ["dataset", "validate", str(pipe)],
        "dataset profile": ["dataset", "profile", str(pipe), "--no-plots"],
        "dataset import": ["dataset", "import", str(pipe)],
        "propose --data": ["propose", "--data", str(pipe)],
        "record --results": ["record", "--data", str(good), "--results", str(pipe), "--no-store"],
        "augment --data": ["augment", "--data", str(pipe), "--out", str(tmp_path / "aug.csv"), "--method", "gaussian_copula"],
        "ask --attach": ["ask", "check this file", "--attach", str(pipe)],
        "validate-cif": ["validate-cif", str(pipe)],
    }


def test_every_command_refuses_a_named_pipe_in_one_line(fifo, demo_record, tmp_path):
    good = _small_csv(demo_record, tmp_path / "good.csv")
    before = good.read_bytes()
    for name, args in _pipe_commands(fifo, good, tmp_path).items():
        result = _within(60, lambda args=args: runner.invoke(app, args), release=fifo)
        text = _one_line_error(result)
        assert "not a regular file" in text, (name, text)
    assert good.read_bytes() == before


@pytest.mark.skipif(not DEV_ZERO.exists(), reason="no /dev/zero")
def test_every_command_refuses_dev_zero_in_one_line(demo_record, tmp_path):
    good = _small_csv(demo_record, tmp_path / "good.csv")
    for name, args in _pipe_commands(DEV_ZERO, good, tmp_path).items():
        result = _within(60, lambda args=args: runner.invoke(app, args))
        text = _one_line_error(result)
        assert "not a regular file" in text, (name, text)


def test_knowledge_ingest_reports_a_pipe_as_failed_without_hanging(tmp_path):
    if not HAS_FIFO:
        pytest.skip("no named pipes on this platform")
    pipe = tmp_path / "notes.md"
    os.mkfifo(pipe)
    from tools.literature.documents import document_chunks, sha256_file

    for read in (sha256_file, document_chunks):
        with pytest.raises(DataFileError, match="notes.md: not a regular file"):
            _within(10, lambda read=read: read(pipe), release=pipe)


def test_a_semicolon_separated_file_gets_a_hint(demo_csv, tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(demo_csv.read_text().replace(",", ";"))
    with pytest.raises(RecordValidationError, match="separates columns with ';': save it as comma-separated CSV"):
        read_record(path)


# -- numbers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("7_50", "'7_50' is not a number (write it without '_')"),
        ("1_8_0", "'1_8_0' is not a number (write it without '_')"),
        ("\uff11\uff18\uff10", "is not a number"),  # full-width digits: float() would take them
        ("inf", "'inf' is not a number"),
        ("0x10", "'0x10' is not a number"),
    ],
)
def test_numbers_are_plain_decimals(demo_csv, tmp_path, value, fragment):
    frame = pd.read_csv(demo_csv, dtype=str, keep_default_na=False)
    ok_row = frame.index[frame["status"] == "ok"][0]
    frame.loc[ok_row, "capacity_mah_g"] = value
    path = tmp_path / "edited.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(RecordValidationError) as info:
        read_record(path)
    assert any(i.row == ok_row and i.column == "capacity_mah_g" and fragment in i.message for i in info.value.issues), str(info.value)


def test_decimal_comma_and_exponents_still_read(demo_csv, tmp_path):
    frame = pd.read_csv(demo_csv, dtype=str, keep_default_na=False)
    ok_rows = frame.index[frame["status"] == "ok"]
    frame.loc[ok_rows[0], "capacity_mah_g"] = "201,5"
    frame.loc[ok_rows[1], "capacity_mah_g"] = "2.015e2"
    path = tmp_path / "edited.csv"
    frame.to_csv(path, index=False)
    record = read_record(path)
    assert record.frame.loc[ok_rows[0], "capacity_mah_g"] == pytest.approx(201.5)
    assert record.frame.loc[ok_rows[1], "capacity_mah_g"] == pytest.approx(201.5)


# -- spreadsheet formulas in exported text -----------------------------------------------------
INJECTION = "=cmd|' /C calc'!A0"


def test_exported_text_cells_are_escaped_and_read_back(demo_record, tmp_path):
    frame = demo_record.frame.head(5).copy()
    frame.loc[0, "experiment_id"] = INJECTION
    frame.loc[1, "experiment_id"] = "+1+1"
    frame.loc[2, "experiment_id"] = "@SUM(A1)"
    frame.loc[3, "shot"] = "-2+3"
    record = ExperimentRecord(frame=frame, space=demo_record.space)
    path = tmp_path / "export.csv"
    write_record(record, path)
    cells = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert cells.loc[0, "experiment_id"] == "'" + INJECTION
    assert list(cells["experiment_id"][1:3]) == ["'+1+1", "'@SUM(A1)"]
    assert cells.loc[3, "shot"] == "'-2+3"
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in cells.to_numpy().ravel())
    again = read_record(path)  # the quote is ours: reading the file back restores the values
    assert list(again.frame["experiment_id"][:3]) == [INJECTION, "+1+1", "@SUM(A1)"]
    assert again.frame.loc[3, "shot"] == "-2+3"


def test_negative_numbers_are_not_escaped(tmp_path):
    from tools.domain.space_inference import infer_design_space

    raw = pd.DataFrame({"offset_c": ["-5", "0", "5", "-10"], "label": ["-x", "a", "=b", "c"], "y": ["1", "2", "3", "4"]})
    space = infer_design_space(raw, "y", name="neg")
    src = tmp_path / "neg.csv"
    raw.to_csv(src, index=False)
    record = read_record(src, space=space)
    text = record_to_csv(record)
    assert "-5," in text and "-10," in text and "'-5" not in text
    assert "'-x" in text and "'=b" in text
    out = tmp_path / "again.csv"
    out.write_text(text)
    assert list(read_record(out, space=space).frame["label"]) == ["-x", "a", "=b", "c"]


def test_escape_formula_rules():
    assert [escape_formula(t) for t in ["=1", "+1", "-1", "@a", "a=1", "", "'=1"]] == ["'=1", "'+1", "'-1", "'@a", "a=1", "", "'=1"]


def test_plan_and_proposals_csv_escape_text_cells(ncm_space):
    from tools.planning.plan import _to_csv

    frame = pd.DataFrame({"experiment_id": [INJECTION], "reason": ["user"], "capacity_mah_g": ["-3"]})
    text = _to_csv(frame, ["experiment_id", "reason"])
    assert text.splitlines()[1] == "'" + INJECTION + ",user,-3"  # the number column is left alone
    from assistant.service import proposals_csv

    data = {"proposals": [{"params": {"coating": "=B"}, "predicted_mah_g": 200.0, "uncertainty_mah_g": 1.0,
                           "failure_probability": 0.0, "distance_to_record": 0.1, "nearest_run": "x",
                           "acquisition": 1.0, "reason": "exploit"}]}
    assert "'=B" in proposals_csv(data)


# -- predictions beyond the record -------------------------------------------------------------
def _constant_record(demo_record: ExperimentRecord, path: Path) -> Path:
    frame = demo_record.frame[demo_record.frame["status"] == "ok"].head(60).reset_index(drop=True).copy()
    frame["capacity_mah_g"] = 180.0
    write_record(ExperimentRecord(frame=frame, space=demo_record.space), path)
    return path


def test_propose_says_when_every_measured_capacity_is_the_same(demo_record, tmp_path, standin_fit):
    path = _constant_record(demo_record, tmp_path / "flat.csv")
    args = ["propose", "--data", str(path), "--n", "2", "--iterations", "5", "--particles", "6", "--plot", str(tmp_path / "c.png")]
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    warnings = json.loads(as_json.stdout)["warnings"]
    assert any("Every measured capacity_mah_g in the record is the same (180 mAh/g)" in w for w in warnings), warnings
    human = runner.invoke(app, args)
    assert human.exit_code == 0, human.output
    assert "warning: Every measured capacity_mah_g in the record is the same" in " ".join(human.stdout.split())


def test_propose_says_when_no_run_has_the_fixed_values(demo_record, tmp_path, standin_fit):
    path = _small_csv(demo_record, tmp_path / "rec.csv", rows=60)
    args = ["propose", "--data", str(path), "--fix", "ni=0.96", "--n", "2", "--iterations", "5", "--particles", "6",
            "--plot", str(tmp_path / "c.png")]
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["incumbent_mah_g"] is None
    assert any("every prediction here extrapolates beyond the record" in w for w in payload["warnings"])
    human = runner.invoke(app, args)
    assert "warning: No measured run in the record satisfies these constraints" in " ".join(human.stdout.split())
    inside = runner.invoke(app, [*args[:3], "--fix", "ni=0.92", *args[5:], "--json"])
    assert json.loads(inside.stdout)["warnings"] == []


def test_the_propose_tool_states_both_limits(demo_record, tmp_path, standin_fit):
    from assistant.settings import Settings
    from assistant.tools import build_registry
    from assistant.tools.base import ToolContext, run_tool

    path = _constant_record(demo_record, tmp_path / "flat.csv")
    ctx = ToolContext(settings=Settings(data_dir=tmp_path / "data"), record_path=path,
                      proposer_overrides={"iterations": 5, "particles": 6})
    output = run_tool(ctx, build_registry()["propose_conditions"], {"fixed": {"ni": 0.96}, "n": 2})
    assert output.ok, output.summary
    assert "extrapolates beyond the record" in output.summary
    assert "is the same (180 mAh/g): the model cannot tell runs apart" in output.summary
    assert len(output.data["warnings"]) == 2
