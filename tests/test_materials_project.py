"""Materials Project tool and CLI, driven through the real MPRester against a local stub server.

No test needs a key or the internet: every request goes to a StubMPServer on 127.0.0.1, and a
guard fails any attempt to resolve or connect to another host. The one live test is marked
`network` and runs only when MP_API_KEY is set in the environment that started pytest.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.mp_key import resolve_mp_api_key
from assistant.settings import Settings
from cli.app import app
from tests.mp_stub import API_KEY, DB_VERSION, StubMPServer
from tools.domain.errors import MPAuthError, MPQueryError, MPResponseError, MPUnavailableError
from tools.materials_project.client import MaterialsProjectClient
from tools.materials_project.http import run_with_deadline
from tools.materials_project.queries import (
    ElectrodeQuery,
    StructureQuery,
    SummaryQuery,
    build_query,
)
from tools.materials_project.query_parser import MPQuery, parse_mp_query

# Read before conftest's autouse fixture removes it for every test.
LIVE_KEY = os.environ.get("MP_API_KEY")
SUMMARY = "/materials/summary/"
ELECTRODES = "/materials/insertion_electrodes/"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def only_localhost(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail fast (and record) any attempt to reach a host other than 127.0.0.1/localhost."""
    attempts: list[str] = []
    if request.node.get_closest_marker("network"):
        yield attempts
        return
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in {"127.0.0.1", "localhost", "::1"}:
            attempts.append(name)
            raise socket.gaierror(f"test guard: no internet (tried {name})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts
    assert attempts == [], f"tried to reach the internet: {attempts}"


@pytest.fixture()
def server() -> Any:
    with StubMPServer() as stub:
        yield stub


def make_client(endpoint: str, cache: Path | None, api_key: str | None = API_KEY, **overrides: Any) -> MaterialsProjectClient:
    """A client with short timeouts and near-zero backoff, so every failure test stays fast."""
    options: dict[str, Any] = {
        "timeout_s": 1.0, "connect_timeout_s": 1.0, "max_retries": 2, "backoff_s": 0.01, "max_retry_after_s": 0.05,
    }
    options.update(overrides)
    return MaterialsProjectClient(api_key, cache_dir=cache, endpoint=endpoint, **options)


@pytest.fixture()
def client(server: StubMPServer, tmp_path: Path) -> Any:
    mp = make_client(server.endpoint, tmp_path / "mp-cache")
    yield mp
    mp.close()


def params_of(server: StubMPServer, path: str) -> dict[str, str]:
    seen = [s for s in server.seen if s.path == path][-1]
    return {k: v[-1] for k, v in seen.params.items()}


# --------------------------------------------------------------------------- success paths


def test_building_the_client_contacts_nobody(server: StubMPServer, tmp_path: Path) -> None:
    make_client(server.endpoint, tmp_path)
    assert server.seen == []


def test_summary_by_formula(client: MaterialsProjectClient, server: StubMPServer) -> None:
    result = client.summary(SummaryQuery(formula="LiNiO2"))
    assert [m.material_id for m in result.materials] == ["mp-25411"]
    material = result.materials[0]
    assert material.formula_pretty == "LiNiO2"
    assert material.crystal_system == "Trigonal" and material.spacegroup_symbol == "R-3m"
    assert material.band_gap == pytest.approx(0.41)
    assert material.energy_above_hull == pytest.approx(0.012)
    assert result.provenance.database_version == DB_VERSION
    assert result.provenance.from_cache is False
    assert result.limit_reached is False
    assert result.warnings == []
    params = params_of(server, SUMMARY)
    assert params["formula"] == "LiNiO2" and params["_limit"] == "20" and params["deprecated"] == "False"
    assert "band_gap" in params["_fields"].split(",")
    assert {s.api_key for s in server.seen if s.path == SUMMARY} == {API_KEY}


def test_summary_filters_reach_the_server(client: MaterialsProjectClient, server: StubMPServer) -> None:
    query = SummaryQuery(chemsys="Li-Fe-P-O", band_gap_min=1.0, energy_above_hull_max=0.05, is_stable=True, limit=5)
    result = client.summary(query)
    assert [m.material_id for m in result.materials] == ["mp-19017"]
    params = params_of(server, SUMMARY)
    assert params["band_gap_min"] == "1.0" and "band_gap_max" not in params
    assert params["energy_above_hull_max"] == "0.05" and params["is_stable"] == "True"
    assert params["_limit"] == "5"


def test_limit_reached_is_reported(client: MaterialsProjectClient) -> None:
    result = client.summary(SummaryQuery(elements=["Li", "O"], limit=2))
    assert len(result.materials) == 2 and result.limit_reached is True


def test_empty_result_is_not_an_error(client: MaterialsProjectClient) -> None:
    result = client.summary(SummaryQuery(formula="NaCl"))
    assert result.materials == [] and result.limit_reached is False


def test_electrodes_voltage_and_capacity(client: MaterialsProjectClient, server: StubMPServer) -> None:
    result = client.electrodes(ElectrodeQuery(working_ion="Li", average_voltage_min=4, capacity_grav_min=200))
    assert [e.battery_id for e in result.electrodes] == ["mp-1000002_Li"]
    electrode = result.electrodes[0]
    assert electrode.average_voltage == pytest.approx(4.9) and electrode.capacity_grav == pytest.approx(287.0)
    params = params_of(server, ELECTRODES)
    assert params["working_ion"] == "Li" and params["average_voltage_min"] == "4.0"
    assert params["capacity_grav_min"] == "200.0"


def test_electrode_id_derived_when_the_document_has_none(client: MaterialsProjectClient) -> None:
    result = client.electrodes(ElectrodeQuery(formula="LiNiO2"))
    assert [e.battery_id for e in result.electrodes] == ["mp-25411_Li"]  # lowest mp- ID, mvc- ignored
    assert result.electrodes[0].stability_charge == pytest.approx(0.05)


def test_structure_as_cif(client: MaterialsProjectClient) -> None:
    from pymatgen.io.cif import CifParser

    result = client.structure(StructureQuery(material_id="MP-25411"))
    assert result.material_id == "mp-25411" and result.nsites == 4
    assert result.cif.lstrip().startswith("# generated using pymatgen")
    parsed = CifParser.from_str(result.cif).parse_structures(primitive=False)[0]
    assert parsed.composition.reduced_formula == "LiNiO2"
    conventional = client.structure(StructureQuery(material_id="mp-25411", conventional=True))
    assert conventional.nsites == 12


def test_structure_of_unknown_material(client: MaterialsProjectClient) -> None:
    with pytest.raises(MPQueryError, match="mp-999999: no such material"):
        client.structure(StructureQuery(material_id="mp-999999"))


# --------------------------------------------------------------------------- failure paths


def test_missing_key_names_mp_api_key_and_sends_nothing(server: StubMPServer, tmp_path: Path) -> None:
    mp = MaterialsProjectClient(None, cache_dir=tmp_path, endpoint=server.endpoint)
    with pytest.raises(MPAuthError, match="MP_API_KEY"):
        mp.summary(SummaryQuery(formula="LiNiO2"))
    assert server.seen == []


def test_malformed_key_is_refused_before_any_request(server: StubMPServer, tmp_path: Path) -> None:
    mp = make_client(server.endpoint, tmp_path, api_key="short")
    with pytest.raises(MPAuthError, match="not 32"):
        mp.summary(SummaryQuery(formula="LiNiO2"))
    assert server.seen == []


def test_rejected_key_401(tmp_path: Path) -> None:
    with StubMPServer(api_key="f" * 32) as stub:
        mp = make_client(stub.endpoint, tmp_path)
        with pytest.raises(MPAuthError, match=r"rejected the API key \(HTTP 401\).*MP_API_KEY"):
            mp.summary(SummaryQuery(formula="LiNiO2"))


def test_rate_limit_then_success(client: MaterialsProjectClient, server: StubMPServer) -> None:
    server.queue(SUMMARY, status=429, body={"detail": "slow down"}, headers={"Retry-After": "1"})
    started = time.monotonic()
    result = client.summary(SummaryQuery(formula="LiNiO2"))
    assert [m.material_id for m in result.materials] == ["mp-25411"]
    assert server.hits(SUMMARY) == 2
    assert time.monotonic() - started < 3.0  # Retry-After capped at max_retry_after_s


def test_persistent_rate_limit_gives_up(client: MaterialsProjectClient, server: StubMPServer) -> None:
    for _ in range(3):
        server.queue(SUMMARY, status=429, body={"detail": "slow down"})
    with pytest.raises(MPUnavailableError, match="HTTP 429"):
        client.summary(SummaryQuery(formula="LiNiO2"))
    assert server.hits(SUMMARY) == 3  # first try + 2 retries


def test_server_error_gives_up_after_retries(client: MaterialsProjectClient, server: StubMPServer) -> None:
    for _ in range(3):
        server.queue(SUMMARY, status=502, body={"detail": "bad gateway"})
    with pytest.raises(MPUnavailableError, match="HTTP 502"):
        client.summary(SummaryQuery(formula="LiNiO2"))


def test_timeout_is_bounded(server: StubMPServer, tmp_path: Path) -> None:
    server.queue(SUMMARY, delay_s=3.0, body={"data": [], "errors": [], "meta": {}})
    mp = make_client(server.endpoint, tmp_path, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(MPUnavailableError, match=r"did not answer within 0.3 s"):
        mp.summary(SummaryQuery(formula="LiNiO2"))
    assert time.monotonic() - started < 2.5


def test_heartbeat_timeout_is_bounded(server: StubMPServer, tmp_path: Path) -> None:
    server.queue("/heartbeat", delay_s=3.0, body={"db_version": "x"})
    mp = make_client(server.endpoint, tmp_path, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(MPUnavailableError, match="timeout"):
        mp.summary(SummaryQuery(formula="LiCoO2"))
    assert time.monotonic() - started < 2.5


def test_refused_heartbeat(server: StubMPServer, tmp_path: Path) -> None:
    server.queue("/heartbeat", status=403, body={"detail": "forbidden"})
    with pytest.raises(MPUnavailableError, match="status check .* HTTP 403"):
        make_client(server.endpoint, tmp_path).summary(SummaryQuery(formula="LiNiO2"))


def test_malformed_heartbeat(server: StubMPServer, tmp_path: Path) -> None:
    server.queue("/heartbeat", status=200, body=b"<html>maintenance</html>")
    with pytest.raises(MPResponseError, match="heartbeat did not answer with a JSON object"):
        make_client(server.endpoint, tmp_path).summary(SummaryQuery(formula="LiNiO2"))


def test_malformed_json(client: MaterialsProjectClient, server: StubMPServer) -> None:
    server.queue(SUMMARY, status=200, body=b'{"data": [ {"material_id": ')
    with pytest.raises(MPResponseError, match="not valid JSON"):
        client.summary(SummaryQuery(formula="LiNiO2"))


def test_envelope_without_data(client: MaterialsProjectClient, server: StubMPServer) -> None:
    server.queue(SUMMARY, status=200, body={"errors": [], "meta": {}})
    with pytest.raises(MPResponseError, match="unexpected shape"):
        client.summary(SummaryQuery(formula="LiNiO2"))


def test_document_of_the_wrong_shape(client: MaterialsProjectClient, server: StubMPServer) -> None:
    server.queue(SUMMARY, status=200, body={"data": [{"formula_pretty": "LiNiO2"}], "errors": [], "meta": {}})
    with pytest.raises(MPResponseError, match="unexpected shape"):
        client.summary(SummaryQuery(formula="LiNiO2"))


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp = make_client(f"http://127.0.0.1:{port}/", tmp_path, max_retries=1)
    with pytest.raises(MPUnavailableError, match="cannot reach the Materials Project"):
        mp.summary(SummaryQuery(formula="LiNiO2"))


def test_hard_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(MPUnavailableError, match="no complete answer"):
        run_with_deadline(lambda: time.sleep(2.0), 0.2, "test")
    assert time.monotonic() - started < 1.0


# --------------------------------------------------------------------------- cache


def test_cache_serves_repeats_offline(server: StubMPServer, tmp_path: Path) -> None:
    cache = tmp_path / "mp-cache"
    mp = make_client(server.endpoint, cache)
    first = mp.summary(SummaryQuery(formula="LiNiO2"))
    assert first.provenance.from_cache is False
    files = sorted(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"  # no temp files left behind
    stored = json.loads(files[0].read_text())
    assert stored["result"]["provenance"]["database_version"] == DB_VERSION
    assert API_KEY not in files[0].read_text()
    server.stop()

    again = make_client(server.endpoint, cache)  # a fresh process, server gone
    started = time.monotonic()
    second = again.summary(SummaryQuery(formula="LiNiO2"))
    assert time.monotonic() - started < 0.5
    assert second.provenance.from_cache is True
    assert second.materials == first.materials
    day = first.provenance.retrieved_at.strftime("%Y-%m-%d")
    assert second.provenance.label() == f"(cached {day}, database version {DB_VERSION})"

    # no key is needed for an answer already on disk
    keyless = MaterialsProjectClient(None, cache_dir=cache, endpoint=server.endpoint)
    assert keyless.summary(SummaryQuery(formula="LiNiO2"), offline=True).provenance.from_cache

    with pytest.raises(MPUnavailableError, match="offline mode: no cached"):
        again.summary(SummaryQuery(formula="LiCoO2"), offline=True)
    with pytest.raises(MPUnavailableError, match="cannot reach"):
        again.summary(SummaryQuery(formula="LiNiO2"), refresh=True)


def test_unreadable_cache_file_is_replaced_with_a_note(client: MaterialsProjectClient, server: StubMPServer) -> None:
    query = SummaryQuery(formula="LiNiO2")
    client.summary(query)
    assert client.cache is not None
    path = client.cache.path_for("summary", client.endpoint, query)
    path.write_text("{ half written")
    result = client.summary(query)
    assert result.provenance.from_cache is False
    assert any("unreadable cache file" in note for note in result.warnings)
    assert json.loads(path.read_text())["format"] == 1


# --------------------------------------------------------------------------- queries


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "at least one criterion"),
        ({"formula": "LiNiO2", "band_gap_min": 3, "band_gap_max": 1}, "band_gap_min"),
        ({"elements": "Li,Xx"}, "Xx"),
        ({"chemsys": "Li-Qq-O"}, "Qq"),
        ({"material_ids": ["25411"]}, "not a Materials Project ID"),
        ({"formula": "Li Ni O2"}, "not a formula"),
        ({"formula": "LiNiO2", "unknown": 1}, "unknown"),
    ],
)
def test_invalid_summary_queries(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(MPQueryError, match=message):
        build_query(SummaryQuery, **fields)


def test_invalid_electrode_queries() -> None:
    with pytest.raises(MPQueryError, match="working_ion"):
        build_query(ElectrodeQuery, working_ion="Xe")
    with pytest.raises(MPQueryError, match="electrode ID"):
        build_query(ElectrodeQuery, battery_ids=["mp-25411"])
    assert build_query(ElectrodeQuery, battery_ids="MP-25411_Li").battery_ids == ["mp-25411_Li"]


def test_query_kwargs_match_mp_api_search() -> None:
    import inspect

    from mp_api.client.routes.materials.electrodes import ElectrodeRester
    from mp_api.client.routes.materials.summary import SummaryRester

    summary = SummaryQuery(
        formula="LiNiO2", chemsys="Li-Ni-O", elements=["Li"], exclude_elements=["Co"], material_ids=["mp-1"],
        band_gap_min=0, energy_above_hull_max=0.1, formation_energy_per_atom_max=-1, density_min=1,
        nelements_max=4, is_stable=True, is_metal=False, theoretical=False, crystal_system="Trigonal",
        spacegroup_symbol="R-3m", sort_by="-band_gap",
    ).to_search_kwargs()
    assert set(summary) <= set(inspect.signature(SummaryRester.search).parameters)
    electrode = ElectrodeQuery(
        formula="LiNiO2", elements=["Ni"], exclude_elements=["Co"], battery_ids=["mp-1_Li"], average_voltage_min=4,
        capacity_grav_min=1, capacity_vol_min=1, energy_grav_min=1, energy_vol_min=1, stability_charge_max=1,
        stability_discharge_max=1, max_voltage_step_max=1, max_delta_volume_max=1, sort_by="-capacity_grav",
    ).to_search_kwargs()
    assert set(electrode) <= set(inspect.signature(ElectrodeRester.search).parameters)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what does the Materials Project say about LiNiO2?", {"kind": "summary", "formulas": ["LiNiO2"]}),
        (
            "which Li cathodes have an average voltage above 4 V and capacity above 200 mAh/g?",
            {"kind": "electrodes", "working_ion": "Li", "average_voltage_min": 4.0, "capacity_grav_min": 200.0},
        ),
        ("what is the band gap and energy above hull of mp-25411?", {"kind": "summary", "material_ids": ["mp-25411"]}),
        ("LiNi0.8Co0.1Mn0.1O2 with band gap below 2 eV", {"formulas": ["LiNi0.8Co0.1Mn0.1O2"], "band_gap_max": 2.0}),
        ("Li-Fe-P-O phases with energy above hull under 0.05 eV/atom", {"chemsys": ["Fe-Li-O-P"], "energy_above_hull_max": 0.05}),
        ("stable Li-Mn-O phases", {"chemsys": ["Li-Mn-O"], "is_stable": True}),
        ("Is LiCoO2 stable?", {"formulas": ["LiCoO2"], "is_stable": None}),
        ("within 25 meV/atom of the hull", {"energy_above_hull_max": 0.025}),
        ("band gap between 1 and 3 eV", {"band_gap_min": 1.0, "band_gap_max": 3.0}),
        ("formation energy below -2 eV/atom", {"formation_energy_per_atom_max": -2.0}),
        ("sodium-ion cathodes with voltage > 3.5V", {"kind": "electrodes", "working_ion": "Na", "average_voltage_min": 3.5}),
        ("200 mAh/g or more and max voltage step under 0.5 V", {"capacity_grav_min": 200.0, "max_voltage_step_max": 0.5}),
        ("CV, ICP and SOC data for NCM811", {"formulas": [], "chemsys": []}),
        ("density over 4.5 g/cm3", {"density_min": 4.5}),
    ],
)
def test_parse_mp_query(text: str, expected: dict[str, Any]) -> None:
    parsed = parse_mp_query(text).model_dump()
    for key, value in expected.items():
        assert parsed[key] == value, (key, parsed)


def test_parsed_query_becomes_a_search() -> None:
    electrodes = parse_mp_query("Li cathodes above 4 V with capacity above 200 mAh/g").to_electrode_query()
    assert electrodes.working_ion == "Li" and electrodes.average_voltage_min == 4.0
    assert electrodes.capacity_grav_min == 200.0
    summary = parse_mp_query("band gap of mp-25411").to_summary_query()
    assert summary.material_ids == ["mp-25411"]
    with pytest.raises(MPQueryError, match="at least one criterion"):
        MPQuery(kind="summary").to_summary_query()
    assert parse_mp_query("what can you tell me?").is_empty
    assert not parse_mp_query("tell me about LiNiO2").is_empty


def test_parsed_query_fields_are_query_model_fields() -> None:
    """MPQuery (the LLM's structured query) keeps its own short descriptions, but every numeric
    bound it holds is a field of the library query models, so none is dropped on the way."""
    bounds = {n for n in MPQuery.model_fields if n.endswith(("_min", "_max"))}
    library = set(SummaryQuery.model_fields) | set(ElectrodeQuery.model_fields)
    assert bounds and bounds <= library, bounds - library


# --------------------------------------------------------------------------- key lookup


@pytest.fixture()
def no_pymatgen_key(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from pymatgen.core import SETTINGS

    monkeypatch.delitem(SETTINGS, "PMG_MAPI_KEY", raising=False)
    return SETTINGS


def test_key_lookup_order(monkeypatch: pytest.MonkeyPatch, no_pymatgen_key: dict[str, Any]) -> None:
    assert resolve_mp_api_key(settings=Settings()) is None
    monkeypatch.setitem(no_pymatgen_key, "PMG_MAPI_KEY", "p" * 32)
    assert resolve_mp_api_key(settings=Settings()) is not None
    found = resolve_mp_api_key(settings=Settings())
    assert found is not None and (found.value, found.source) == ("p" * 32, "pymatgen config")
    monkeypatch.setenv("MP_API_KEY", "e" * 32)
    found = resolve_mp_api_key(settings=Settings())
    assert found is not None and (found.value, found.source) == ("e" * 32, "environment")
    found = resolve_mp_api_key("a" * 32, settings=Settings())
    assert found is not None and (found.value, found.source) == ("a" * 32, "argument")
    assert "a" * 32 not in repr(found)


# --------------------------------------------------------------------------- CLI


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_summary_table_then_cached(server: StubMPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_API_KEY", API_KEY)
    args = ("mp", "summary", "--formula", "LiNiO2", "--endpoint", server.endpoint, "--timeout", "2")
    first = run_cli(*args)
    assert first.exit_code == 0, first.output
    assert "mp-25411" in first.stdout and "R-3m" in first.stdout
    assert "(retrieved" in first.stdout and f"database version {DB_VERSION})" in first.stdout
    server.stop()
    monkeypatch.delenv("MP_API_KEY")
    second = run_cli(*args)
    assert second.exit_code == 0, second.output
    assert "(cached " in second.stdout and f"database version {DB_VERSION})" in second.stdout


def test_cli_electrodes_json(server: StubMPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_API_KEY", API_KEY)
    result = run_cli("mp", "electrodes", "--ion", "Li", "--voltage-min", "4", "--capacity-min", "200",
                     "--endpoint", server.endpoint, "--timeout", "2", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [e["battery_id"] for e in payload["electrodes"]] == ["mp-1000002_Li"]
    assert payload["provenance"]["database_version"] == DB_VERSION
    assert payload["provenance"]["from_cache"] is False


def test_cli_structure_to_file(server: StubMPServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MP_API_KEY", API_KEY)
    target = tmp_path / "LiNiO2.cif"
    result = run_cli("mp", "structure", "mp-25411", "--out", str(target), "--endpoint", server.endpoint, "--timeout", "2")
    assert result.exit_code == 0, result.output
    assert target.read_text().count("_atom_site_fract_x") == 1


def test_cli_without_key_exits_nonzero_with_a_message(
    server: StubMPServer, no_pymatgen_key: dict[str, Any]
) -> None:
    result = run_cli("mp", "summary", "--formula", "LiNiO2", "--endpoint", server.endpoint)
    assert result.exit_code == 2
    assert "MP_API_KEY" in result.stderr and "Traceback" not in result.output
    assert server.seen == []


def test_cli_unreachable_exits_nonzero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_API_KEY", API_KEY)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("mp", "electrodes", "--ion", "Li", "--endpoint", f"http://127.0.0.1:{port}/", "--timeout", "1",
                     "--retries", "0")
    assert result.exit_code == 2
    assert "cannot reach the Materials Project" in result.stderr


def test_cli_rejects_bad_options_without_traceback() -> None:
    result = run_cli("mp", "summary", "--formula", "LiNiO2", "--band-gap-min", "3", "--band-gap-max", "1")
    assert result.exit_code == 2 and "band_gap_min" in result.stderr
    result = run_cli("mp", "summary")
    assert result.exit_code == 2 and "at least one criterion" in result.stderr


# --------------------------------------------------------------------------- live


@pytest.mark.network
@pytest.mark.skipif(not LIVE_KEY, reason="MP_API_KEY not set: live Materials Project test skipped")
def test_live_materials_project(tmp_path: Path) -> None:
    mp = MaterialsProjectClient(LIVE_KEY, cache_dir=tmp_path, timeout_s=30.0)
    result = mp.summary(SummaryQuery(material_ids=["mp-25411"]))
    assert [m.material_id for m in result.materials] == ["mp-25411"]
    assert result.materials[0].formula_pretty == "LiNiO2"
    assert result.provenance.database_version
    electrodes = mp.electrodes(ElectrodeQuery(working_ion="Li", average_voltage_min=4, capacity_grav_min=200, limit=5))
    assert all(e.average_voltage is not None and e.average_voltage >= 4 for e in electrodes.electrodes)


def test_cli_electrodes_without_key_point_to_the_snapshot(server: StubMPServer, no_pymatgen_key: dict[str, Any]) -> None:
    result = run_cli("mp", "electrodes", "--ion", "Li", "--voltage-min", "4", "--endpoint", server.endpoint)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "MP_API_KEY" in result.stderr and "--snapshot" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert server.seen == []


def test_cli_electrodes_from_the_snapshot_obey_the_filters(server: StubMPServer, no_pymatgen_key: dict[str, Any]) -> None:
    result = run_cli("mp", "electrodes", "--ion", "Na", "--voltage-min", "3.5", "--voltage-max", "4", "--limit", "50",
                     "--snapshot", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    voltages = [e["average_voltage"] for e in payload["electrodes"]]
    assert voltages and all(3.5 <= v <= 4 for v in voltages)
    assert {e["working_ion"] for e in payload["electrodes"]} == {"Na"}
    assert payload["copied_on"] == "2026-11-30" and "CC BY 4.0" in payload["licence"]
    assert server.seen == []
    table = run_cli("mp", "electrodes", "--ion", "Na", "--voltage-min", "3.5", "--snapshot", "--limit", "3")
    assert table.exit_code == 0 and "snapshot" in table.stdout and "copied 2026-11-30" in table.stdout
