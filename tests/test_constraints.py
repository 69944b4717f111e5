"""Constraints as domain objects: merging, checks against the space, narrowing, violations, the --where syntax."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cli.common import constraint_arguments, parse_where
from tests.constraint_strategies import constraint_sets, rough_constraint_sets
from tools.domain.constraints import (
    Bound,
    ConstraintFields,
    ConstraintSet,
    choice,
    fixed_value,
    value_range,
)
from tools.domain.design_space import NumberParameter
from tools.domain.errors import DesignSpaceError, MatassistError


def test_a_follow_up_narrows_a_range_end_by_end_and_replaces_fixed_values(ncm_space):
    cs = ConstraintSet().extend([fixed_value("ni", 0.94), value_range("calcination_temp_c", upper=760, upper_strict=True)])
    cs = cs.add(value_range("calcination_temp_c", lower=740)).add(fixed_value("ni", 0.93))
    temp = cs.get("calcination_temp_c")
    assert temp is not None and temp.lower == Bound(value=740) and temp.upper == Bound(value=760, strict=True)
    assert cs.fixed == {"ni": 0.93}
    assert cs.holding_line(ncm_space) == "Holding: ni = 0.93; 740 <= calcination_temp_c < 760 degC."
    assert cs.without("calcination_temp_c").parameters == ["ni"]


def test_exclusions_accumulate_and_allowed_replaces():
    cs = ConstraintSet().add(choice("coating", excluded=["W"])).add(choice("coating", excluded=["B"]))
    assert cs.get("coating") == choice("coating", excluded=["W", "B"])
    cs = cs.add(choice("coating", allowed=["Al", "Co"]))
    assert cs.get("coating") == choice("coating", allowed=["Al", "Co"])


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        (value_range("temp", upper=760), "unknown parameter 'temp'"),
        (value_range("calcination_temp_c", upper=600, upper_strict=True), "no allowed value of calcination_temp_c"),
        (choice("coating", excluded=["Q"]), "'Q' is not one of none, B, W, Co, Al"),
        (value_range("calcination_temp_c", upper=763), "763 is not on the 5 degC step (nearest allowed: 760 or 765)"),
        (fixed_value("ni", 0.943), "cannot fix ni: 0.943 is not on the 0.01"),
        (value_range("coating", upper=3), "is a category"),
        (choice("ni", excluded=["0.94"]), "is a number"),
        (choice("coating", allowed=["B"], excluded=["B"]), "leaves no value of coating"),
    ],
)
def test_one_line_errors_against_the_space(ncm_space, constraint, message):
    with pytest.raises(DesignSpaceError) as err:
        ConstraintSet(items=(constraint,)).validated(ncm_space)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_conflict_with_the_composition_equality_names_the_constraints(ncm_space):
    cs = ConstraintSet().extend([value_range("ni", upper=0.85), value_range("co", upper=0.02), value_range("mn", upper=0.05)])
    with pytest.raises(DesignSpaceError) as err:
        cs.validated(ncm_space)
    text = str(err.value)
    assert text.startswith("infeasible") and "composition must be 1" in text and "ni <= 0.85" in text


def test_narrowed_space_snaps_strict_limits_to_the_grid(ncm_space):
    cs = ConstraintSet().extend([value_range("calcination_temp_c", 740, 760, lower_strict=True, upper_strict=True),
                                 choice("atmosphere", excluded=["air"])])
    narrowed = cs.validated(ncm_space).narrowed_space(ncm_space)
    temp = narrowed.parameter("calcination_temp_c")
    assert isinstance(temp, NumberParameter) and (temp.low, temp.high) == (745.0, 755.0)
    assert narrowed.fixed == {"atmosphere": "O2"}  # one category left: held


def test_a_fixed_value_rules_out_the_category_that_would_pin_it_elsewhere(ncm_space):
    """Holding coating_time_h = 2 means coated runs: coating none would pin it to 0 (a limit only applies where active)."""
    narrowed = ConstraintSet().extend([fixed_value("coating_time_h", 2.0)]).validated(ncm_space).narrowed_space(ncm_space)
    assert narrowed.parameter("coating").values == ("B", "W", "Co", "Al")
    limited = ConstraintSet().extend([value_range("coating_time_h", upper=2.0)]).validated(ncm_space).narrowed_space(ncm_space)
    assert "none" in limited.parameter("coating").values
    for other in (fixed_value("coating", "none"), choice("coating", allowed=["none"])):
        with pytest.raises(DesignSpaceError) as err:
            ConstraintSet().extend([fixed_value("coating_time_h", 2.0), other]).validated(ncm_space)
        assert str(err.value) == "contradictory constraints: coating = none pins coating_time_h to 0, but coating_time_h = 2 is held"


def test_violations_name_the_broken_constraint_and_skip_inactive_parameters(ncm_space, demo_record):
    row = demo_record.frame.iloc[0][ncm_space.names].to_dict()
    row.update({"calcination_temp_c": 770.0, "coating": "none", "coating_temp_c": 0.0, "coating_amount": 0.0, "coating_time_h": 0.0})
    cs = ConstraintSet().extend([value_range("calcination_temp_c", upper=760, upper_strict=True),
                                 value_range("coating_temp_c", lower=400)])
    assert cs.violations(row, ncm_space) == ["calcination_temp_c = 770 breaks calcination_temp_c < 760 degC"]


def test_fixed_strings_are_typed_for_the_space(ncm_space):
    cs = ConstraintSet.from_fixed({"ni": "0.94", "atmosphere": "air"}).validated(ncm_space)
    assert cs.fixed == {"ni": 0.94, "atmosphere": "air"}


def test_fields_round_trip():
    cs = ConstraintSet().extend([fixed_value("ni", 0.94), value_range("calcination_temp_c", 740, 760, upper_strict=True),
                                 choice("coating", allowed=["B", "Al"]), choice("atmosphere", excluded=["air"])])
    fields = ConstraintFields.from_set(cs)
    assert fields == {"fixed": {"ni": 0.94}, "at_least": {"calcination_temp_c": 740.0}, "below": {"calcination_temp_c": 760.0},
                      "allowed": {"coating": ["B", "Al"]}, "excluded": {"atmosphere": ["air"]}}
    assert ConstraintSet().extend(ConstraintFields(**fields).constraints()) == cs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("calcination_temp_c<760", value_range("calcination_temp_c", upper=760, upper_strict=True)),
        ("dopant_nb <= 0.003", value_range("dopant_nb", upper=0.003)),
        ("740<=calcination_temp_c<=760", value_range("calcination_temp_c", 740, 760)),
        ("coating!=W", choice("coating", excluded=["W"])),
        ("coating in {B, Al}", choice("coating", allowed=["B", "Al"])),
        ("coating not in {W,Co}", choice("coating", excluded=["W", "Co"])),
        ("atmosphere=O2", fixed_value("atmosphere", "O2")),
    ],
)
def test_where_syntax(text, expected):
    assert parse_where([text]) == [expected]


@pytest.mark.parametrize("text", ["calcination_temp_c", "<760", "calcination_temp_c<abc", "coating in {}"])
def test_where_syntax_errors_say_how_to_write_it(text):
    with pytest.raises(MatassistError, match="write e.g."):
        parse_where([text])


def test_fix_and_where_must_both_hold():
    assert constraint_arguments(["ni=0.94"], ["ni>=0.93"]) == {"fixed": {"ni": "0.94"}}
    with pytest.raises(DesignSpaceError, match="contradictory constraints"):
        constraint_arguments(["ni=0.94"], ["ni<0.9"])
    with pytest.raises(DesignSpaceError, match="no allowed value|contradictory"):
        ConstraintSet().intersect(value_range("calcination_temp_c", upper=760)).intersect(
            value_range("calcination_temp_c", lower=770)).validated(
            __import__("tools.domain.design_space", fromlist=["load_design_space"]).load_design_space("ncm"))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_sets_validate_or_fail_with_one_line(ncm_space, data):
    cs = data.draw(constraint_sets(ncm_space))
    try:
        typed = cs.validated(ncm_space)
    except DesignSpaceError as err:
        assert "\n" not in str(err) and str(err)
        return
    narrowed = typed.narrowed_space(ncm_space)
    for p in narrowed.numbers:
        assert p.low <= p.high
        c = typed.get(p.name)
        if c is not None and c.kind == "range":  # the narrowed ends are allowed values
            assert c.holds(p.low) and c.holds(p.high), (c.describe(), p.low, p.high)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_rough_sets_validate_or_fail_with_one_line(ncm_space, data):
    """Limits anywhere (off the grid, outside the range, past each other): an error in one line, or ends that hold."""
    cs = data.draw(rough_constraint_sets(ncm_space))
    try:
        typed = cs.validated(ncm_space)
    except DesignSpaceError as err:
        assert "\n" not in str(err) and str(err)
        return
    for p in typed.narrowed_space(ncm_space).numbers:
        c = typed.get(p.name)
        if c is not None and c.kind == "range":
            assert c.holds(p.low) and c.holds(p.high), (c.describe(), p.low, p.high)


@pytest.fixture(scope="module")
def tool_context(tmp_path_factory):
    """One conversation's tools on the demo record: the stand-in model and a tiny swarm (module-wide, so hypothesis reuses it)."""
    import tools.modelling.capacity_model as cm
    from assistant.settings import Settings
    from assistant.tools.base import ToolContext
    from tests.proposer_standin import ncm_standin

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cm, "load_or_fit", lambda record, folder, seed=0, **_kw: (ncm_standin(record.space), False))
        ctx = ToolContext(settings=Settings(data_dir=tmp_path_factory.mktemp("data")),
                          proposer_overrides={"iterations": 12, "particles": 12})
        ctx.record()
        yield ctx


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_constraints_through_the_propose_tool_hold_or_fail_in_one_line(tool_context, ncm_space, data):
    """Every proposal satisfies every stated constraint, or one line names the problem; never a traceback."""
    from assistant.tools import build_registry
    from assistant.tools.base import run_tool

    cs = data.draw(st.one_of(constraint_sets(ncm_space), rough_constraint_sets(ncm_space)))
    n = data.draw(st.integers(1, 4))
    tool_context.constraints = ConstraintSet()
    output = run_tool(tool_context, build_registry()["propose_conditions"], {**ConstraintFields.from_set(cs), "n": n})
    event("refused" if not output.ok else "proposed")
    if not output.ok:
        assert output.summary.startswith("error: ") and "\n" not in output.summary and "Traceback" not in output.summary
        assert tool_context.constraints == ConstraintSet()  # a refused request changes nothing
        return
    proposals = output.data["proposals"]
    assert len(proposals) == n
    for p in proposals:
        assert ncm_space.row_problems(p["params"]) == []
        assert cs.violations(p["params"], ncm_space) == [], (cs.holding_line(ncm_space), p["params"])
    assert set(tool_context.constraints.parameters) == set(cs.parameters)
