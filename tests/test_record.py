"""Reading, validating and writing the experiment record."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tools.domain.errors import DataFileError, RecordValidationError
from tools.domain.fileio import read_csv_text
from tools.domain.record import read_record, write_record
from tools.domain.record_columns import columns_for
from tools.domain.space_inference import infer_design_space


def _edit(demo_csv: Path, tmp_path: Path, fn) -> Path:
    frame = pd.read_csv(demo_csv, dtype=str, keep_default_na=False)
    frame = fn(frame)
    out = tmp_path / "edited.csv"
    frame.to_csv(out, index=False)
    return out


def test_round_trip_keeps_everything(demo_csv, demo_record, tmp_path):
    again = read_record(demo_csv)
    assert len(again) == 652
    pd.testing.assert_frame_equal(again.frame, demo_record.frame)
    out = tmp_path / "again.csv"
    write_record(again, out)
    assert out.read_text() == demo_csv.read_text()
    assert list(again.frame.columns) == columns_for(again.space)


def test_failed_runs_are_kept_with_empty_capacity(demo_record):
    failed = demo_record.failed_runs
    assert len(failed) > 0
    assert failed["capacity_mah_g"].isna().any()
    assert (demo_record.frame["source"] == "synthetic").all()


def test_typo_column_is_named_with_a_suggestion(demo_csv, tmp_path):
    path = _edit(demo_csv, tmp_path, lambda f: f.rename(columns={"calcination_temp_c": "calcination_temp"}))
    with pytest.raises(RecordValidationError) as info:
        read_record(path)
    text = str(info.value)
    assert "column 'calcination_temp': unknown column (did you mean 'calcination_temp_c'?)" in text
    assert "column 'calcination_temp_c': missing column" in text


def test_a_header_problem_does_not_hide_the_cell_problems(demo_csv, tmp_path):
    def spoil(f):
        f = f.rename(columns={"calcination_temp_c": "calcinaton_temp_c"})
        f.loc[3, "coating"] = "Zn"
        f.loc[5, "ni"] = "0.945"
        f.loc[7, "coating"], f.loc[7, "coating_temp_c"] = "none", "0"  # pinned by its coating: fine
        return f

    with pytest.raises(RecordValidationError) as info:
        read_record(_edit(demo_csv, tmp_path, spoil))
    assert [(i.row, i.column) for i in info.value.issues] == [
        (None, "calcination_temp_c"), (None, "calcinaton_temp_c"), (3, "coating"), (5, "ni")]
    assert "row 4 (line 5), column 'coating': 'Zn' is not one of none, B, W, Co, Al" in str(info.value)


def test_temperature_off_step_names_row_and_column(demo_csv, tmp_path):
    def bump(f):
        f.loc[4, "calcination_temp_c"] = "762"
        return f

    with pytest.raises(RecordValidationError) as info:
        read_record(_edit(demo_csv, tmp_path, bump))
    assert [(i.row, i.column) for i in info.value.issues] == [(4, "calcination_temp_c")]
    assert "row 5 (line 6), column 'calcination_temp_c': 762 is not on the 5 degC step" in str(info.value)


def test_composition_not_summing_to_one(demo_csv, tmp_path):
    def skew(f):
        f.loc[9, "mn"] = str(round(float(f.loc[9, "mn"]) + 0.05, 3))
        return f

    with pytest.raises(RecordValidationError) as info:
        read_record(_edit(demo_csv, tmp_path, skew))
    (issue,) = info.value.issues
    assert issue.row == 9
    assert "composition: ni + co + mn = 1.05, must be 1" in issue.message


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("atmosphere", "argon", "'argon' is not one of O2, air"),
        ("dopant_al", "-0.001", "negative amount"),
        ("capacity_mah_g", "0.21", None),
        ("capacity_mah_g", "abc", "'abc' is not a number"),
        ("status", "maybe", "'maybe' is not one of ok, failed"),
        ("source", "guess", "'guess' is not one of measured"),
        ("ni", "92", "looks like a percentage"),
    ],
)
def test_bad_cells_are_reported(demo_csv, tmp_path, column, value, fragment):
    def put(f):
        f.loc[2, column] = value
        return f

    if fragment is None:  # 0.21 mAh/g is a plausible unit slip (Ah/g) but inside 0..300: accepted
        read_record(_edit(demo_csv, tmp_path, put))
        return
    with pytest.raises(RecordValidationError) as info:
        read_record(_edit(demo_csv, tmp_path, put))
    assert any(i.row == 2 and i.column == column and fragment in i.message for i in info.value.issues), str(info.value)


def test_capacity_in_wrong_unit_is_flagged(demo_csv, tmp_path):
    def put(f):
        f.loc[3, "capacity_mah_g"] = "205000"  # mAh/kg
        return f

    with pytest.raises(RecordValidationError, match="outside the plausible range 0 to 300 mAh/g"):
        read_record(_edit(demo_csv, tmp_path, put))


def test_duplicated_experiment_id(demo_csv, tmp_path):
    def dup(f):
        f.loc[7, "experiment_id"] = f.loc[3, "experiment_id"]
        return f

    with pytest.raises(RecordValidationError, match=r"duplicated experiment_id 'demo-0004' \(first at row 4\)"):
        read_record(_edit(demo_csv, tmp_path, dup))


def test_ok_run_without_capacity_is_an_error(demo_csv, tmp_path):
    def empty(f):
        ok = f.index[f["status"] == "ok"][0]
        f.loc[ok, "capacity_mah_g"] = ""
        return f

    with pytest.raises(RecordValidationError, match="empty, but the run is marked ok"):
        read_record(_edit(demo_csv, tmp_path, empty))


def test_bookkeeping_columns_are_optional(demo_csv, tmp_path):
    path = _edit(demo_csv, tmp_path, lambda f: f.drop(columns=["status", "experiment_id", "shot", "source", "predicted_mah_g"]))
    record = read_record(path)
    assert set(record.frame["shot"]) == {"history"}
    assert set(record.frame["source"]) == {"measured"}
    assert record.frame["experiment_id"].is_unique
    # status is inferred from whether a capacity was measured
    assert (record.frame.loc[record.frame["capacity_mah_g"].isna(), "status"] == "failed").all()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty"),
        (b"PK\x03\x04\x00\x00binary", "binary file"),
        (b"\xff\xfe\xfa not utf8 \xff", "not UTF-8"),
        (b"ni,ni\n0.9,0.9\n", "duplicated column(s): ni"),
    ],
)
def test_unreadable_files(tmp_path, content, fragment):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        read_csv_text(path)


def test_header_only_record(tmp_path, ncm_space):
    path = tmp_path / "h.csv"
    path.write_text(",".join(columns_for(ncm_space)) + "\n")
    with pytest.raises(RecordValidationError, match="the record has no rows"):
        read_record(path)


def test_infer_space_from_any_csv(tmp_path):
    path = tmp_path / "lfp.csv"
    path.write_text(
        "temp_c,carbon,time_h,capacity\n600,glucose,2.5,150.1\n650,sucrose,5,155.3\n700,glucose,7.5,158.0\n"
    )
    raw = read_csv_text(path)
    space = infer_design_space(raw, "capacity", name="lfp")
    assert space.names == ["temp_c", "carbon", "time_h"]
    temp = space.parameter("temp_c")
    assert (temp.low, temp.high, temp.step) == (600, 700, 50)
    assert space.parameter("time_h").step == 2.5
    assert space.parameter("carbon").values == ("glucose", "sucrose")
    record = read_record(path, target="capacity")
    assert len(record) == 3 and record.target == "capacity"


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import os as _os

    from tools.domain.fileio import atomic_write_text

    target = tmp_path / "r.csv"
    target.write_text("old\n")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]
    with pytest.raises(DataFileError, match="does not exist"):
        atomic_write_text(tmp_path / "missing" / "x.csv", "x")


def test_validation_error_is_one_line_for_one_problem_and_a_list_for_several():
    from tools.domain.errors import RecordIssue

    one = RecordValidationError([RecordIssue(3, "ni", "composition: ni + co + mn = 1.05, must be 1")], source="d.csv")
    assert str(one) == "d.csv: row 4 (line 5), column 'ni': composition: ni + co + mn = 1.05, must be 1"
    many = RecordValidationError([RecordIssue(None, None, "a"), RecordIssue(0, "co", "b")], source="d.csv")
    assert str(many).splitlines() == ["d.csv: 2 problems in the experiment record", "  - a", "  - row 1 (line 2), column 'co': b"]


def test_atomic_write_keeps_the_mode_and_writes_through_a_link(tmp_path):
    import os as _os
    import stat as _stat

    from tools.domain.fileio import atomic_write_text

    target = tmp_path / "real" / "r.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    _os.chmod(target, 0o640)
    link = tmp_path / "r.csv"
    link.symlink_to(target)
    atomic_write_text(link, "new\n")
    assert link.is_symlink() and _os.readlink(link) == str(target)
    assert target.read_text() == "new\n"
    assert _stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["r.csv"]  # no temporary file left behind
    fresh = tmp_path / "fresh.txt"
    atomic_write_text(fresh, "x")
    assert _stat.S_IMODE(fresh.stat().st_mode) == 0o600  # a new file is its owner's until they share it
