"""A local stand-in for the Materials Project API, for tests: 127.0.0.1 only, started per test.

It answers GET /heartbeat, /materials/summary/ and /materials/insertion_electrodes/ with the API's
envelope ({"data", "errors", "meta"}), filters its documents by the same query parameters the real
API takes (<field>_min/_max, formula, chemsys, elements, material_ids, working_ion, _fields,
_limit, ...) and rejects parameters it does not know, so a misspelt query fails loudly.

The documents have the real schema's field names and shapes; their NUMBERS ARE ILLUSTRATIVE, chosen
for the tests, and are not Materials Project data.

Scripted faults (`server.queue(path, status=..., body=..., delay=...)`) are served once each, in
order, before normal answers resume: 401, 429 with Retry-After, slow answers, malformed JSON.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, like a real key; not a real key
DB_VERSION = "2025.09.25"
EMMET_VERSION = "0.87.3"

SUMMARY_DOCS: list[dict[str, Any]] = [
    {
        "material_id": "mp-25411", "formula_pretty": "LiNiO2", "chemsys": "Li-Ni-O", "elements": ["Li", "Ni", "O"],
        "nelements": 3, "nsites": 4, "band_gap": 0.41, "is_gap_direct": False, "is_metal": False,
        "energy_above_hull": 0.012, "formation_energy_per_atom": -1.52, "is_stable": False, "theoretical": False,
        "density": 4.78, "volume": 34.1, "ordering": "FM", "deprecated": False,
        "symmetry": {"crystal_system": "Trigonal", "symbol": "R-3m", "number": 166, "point_group": "-3m",
                     "symprec": 0.1, "version": "2.5.0"},
    },
    {
        "material_id": "mp-22526", "formula_pretty": "LiCoO2", "chemsys": "Co-Li-O", "elements": ["Co", "Li", "O"],
        "nelements": 3, "nsites": 4, "band_gap": 2.1, "is_gap_direct": False, "is_metal": False,
        "energy_above_hull": 0.0, "formation_energy_per_atom": -1.63, "is_stable": True, "theoretical": False,
        "density": 5.05, "volume": 32.4, "ordering": "NM", "deprecated": False,
        "symmetry": {"crystal_system": "Trigonal", "symbol": "R-3m", "number": 166, "point_group": "-3m",
                     "symprec": 0.1, "version": "2.5.0"},
    },
    {
        "material_id": "mp-19017", "formula_pretty": "LiFePO4", "chemsys": "Fe-Li-O-P",
        "elements": ["Fe", "Li", "O", "P"], "nelements": 4, "nsites": 28, "band_gap": 3.7, "is_gap_direct": False,
        "is_metal": False, "energy_above_hull": 0.0, "formation_energy_per_atom": -2.53, "is_stable": True,
        "theoretical": False, "density": 3.56, "volume": 300.6, "ordering": "AFM", "deprecated": False,
        "symmetry": {"crystal_system": "Orthorhombic", "symbol": "Pnma", "number": 62, "point_group": "mmm",
                     "symprec": 0.1, "version": "2.5.0"},
    },
]

ELECTRODE_DOCS: list[dict[str, Any]] = [
    {
        "battery_formula": "Li0-1NiO2", "working_ion": "Li", "framework_formula": "NiO2", "formula_charge": "NiO2",
        "formula_discharge": "LiNiO2", "id_charge": "mp-1000001", "id_discharge": "mp-25411",
        "material_ids": ["mp-25411", "mp-1000001", "mvc-42"], "average_voltage": 3.85, "max_voltage_step": 0.6,
        "capacity_grav": 274.6, "capacity_vol": 1312.0, "energy_grav": 1057.2, "energy_vol": 5051.0,
        "stability_charge": 0.05, "stability_discharge": 0.012, "max_delta_volume": 7.5, "num_steps": 3,
        "fracA_charge": 0.0, "fracA_discharge": 0.25, "elements": ["Ni", "O"], "nelements": 2,
    },
    {
        "battery_formula": "Li0-1FePO4", "working_ion": "Li", "framework_formula": "FePO4", "formula_charge": "FePO4",
        "formula_discharge": "LiFePO4", "id_charge": "mp-20361", "id_discharge": "mp-19017",
        "material_ids": ["mp-19017", "mp-20361"], "average_voltage": 3.45, "max_voltage_step": 0.0,
        "capacity_grav": 169.9, "capacity_vol": 604.9, "energy_grav": 586.2, "energy_vol": 2087.0,
        "stability_charge": 0.0, "stability_discharge": 0.0, "max_delta_volume": 6.8, "num_steps": 1,
        "fracA_charge": 0.0, "fracA_discharge": 0.1429, "elements": ["Fe", "O", "P"], "nelements": 3,
    },
    {
        "battery_id": "mp-1000002_Li",
        "battery_formula": "Li1-2CoPO4F", "working_ion": "Li", "framework_formula": "CoPO4F",
        "formula_charge": "LiCoPO4F", "formula_discharge": "Li2CoPO4F", "id_charge": "mp-1000003",
        "id_discharge": "mp-1000002", "material_ids": ["mp-1000002", "mp-1000003"], "average_voltage": 4.9,
        "max_voltage_step": 0.2, "capacity_grav": 287.0, "capacity_vol": 1060.0, "energy_grav": 1406.0,
        "energy_vol": 5194.0, "stability_charge": 0.08, "stability_discharge": 0.03, "max_delta_volume": 4.1,
        "num_steps": 2, "fracA_charge": 0.125, "fracA_discharge": 0.2222, "elements": ["Co", "F", "O", "P"],
        "nelements": 4,
    },
]

_SUMMARY_PARAMS = {
    "formula", "chemsys", "elements", "exclude_elements", "material_ids", "is_stable", "is_metal", "theoretical",
    "deprecated", "crystal_system", "spacegroup_symbol", "batch_id_not_eq",
}
_ELECTRODE_PARAMS = {"formula", "elements", "exclude_elements", "battery_ids", "working_ion"}
_PAGING = {"_limit", "_skip", "_fields", "_all_fields", "_per_page", "_page", "_sort_fields"}
_RANGE_FIELDS = {
    "summary": {"band_gap", "energy_above_hull", "formation_energy_per_atom", "density", "nelements", "nsites", "volume"},
    "electrodes": {"average_voltage", "capacity_grav", "capacity_vol", "energy_grav", "energy_vol", "stability_charge",
                   "stability_discharge", "max_voltage_step", "max_delta_volume", "nelements"},
}


def lini_o2_structure() -> dict[str, Any]:
    """A layered R-3m LiNiO2 cell as pymatgen's Structure dict (illustrative lattice)."""
    from pymatgen.core import Lattice, Structure

    structure = Structure.from_spacegroup(
        "R-3m", Lattice.hexagonal(2.88, 14.19), ["Li", "Ni", "O"], [[0, 0, 0.5], [0, 0, 0], [0, 0, 0.2413]]
    )
    return structure.get_primitive_structure().as_dict()


@dataclass
class Fault:
    """One scripted answer: status, body (JSON-able or raw bytes), extra headers, delay before answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    """A request the stub received."""

    path: str
    params: dict[str, list[str]]
    api_key: str | None


def _battery_id(doc: dict[str, Any]) -> str:
    if "battery_id" in doc:
        return str(doc["battery_id"])
    ids = sorted((i for i in doc["material_ids"] if not i.startswith("mvc")), key=lambda i: int(i.split("-")[1]))
    return f"{ids[0]}_{doc['working_ion']}"


class StubMPServer:
    """Start with `with StubMPServer() as server:`; point MPRester at `server.endpoint`."""

    def __init__(self, api_key: str = API_KEY, db_version: str = DB_VERSION):
        self.api_key = api_key
        self.db_version = db_version
        self.seen: list[Seen] = []
        self._faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ control

    @property
    def endpoint(self) -> str:
        assert self.port is not None, "server not started"
        return f"http://127.0.0.1:{self.port}/"

    def queue(self, path: str, status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
              delay_s: float = 0.0) -> None:
        """Serve this answer once, the next time `path` is requested (before normal answers)."""
        with self._lock:
            self._faults.setdefault(path, []).append(Fault(status, body, headers or {}, delay_s))

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)

    def start(self) -> StubMPServer:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                return

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = parse_qs(parts.query, keep_blank_values=True)
                stub.seen.append(Seen(parts.path, params, self.headers.get("x-api-key")))
                status, body, headers = stub._answer(parts.path, params, self.headers.get("x-api-key"))
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StubMPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ answers

    def _answer(self, path: str, params: dict[str, list[str]], key: str | None) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            queued = self._faults.get(path)
            fault = queued.pop(0) if queued else None
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.body is not None or fault.status != 200:
                return fault.status, fault.body if fault.body is not None else {"detail": "scripted"}, fault.headers
        if path == "/heartbeat":
            return 200, {"db_version": self.db_version, "access_controlled_batch_ids": [], "version": EMMET_VERSION}, {}
        if key != self.api_key:
            return 401, {"detail": "Invalid or missing API key"}, {}
        if path == "/materials/summary/":
            return self._search("summary", SUMMARY_DOCS, params)
        if path == "/materials/insertion_electrodes/":
            return self._search("electrodes", ELECTRODE_DOCS, params)
        return 404, {"detail": "Not Found"}, {}

    def _search(self, kind: str, docs: list[dict[str, Any]], params: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        allowed = (_SUMMARY_PARAMS if kind == "summary" else _ELECTRODE_PARAMS) | _PAGING
        ranges = _RANGE_FIELDS[kind]
        selected = [dict(d) for d in docs]
        for name, values in params.items():
            value = values[-1]
            base, _, side = name.rpartition("_")
            if side in {"min", "max"} and base in ranges:
                bound = float(value)
                selected = [d for d in selected if d.get(base) is not None
                            and (d[base] >= bound if side == "min" else d[base] <= bound)]
            elif name not in allowed:
                return 400, {"detail": f"unknown query parameter {name}"}, {}
            elif name in {"formula"}:
                wanted = set(value.split(","))
                keys = ("formula_pretty",) if kind == "summary" else ("formula_charge", "formula_discharge")
                selected = [d for d in selected if any(d.get(k) in wanted for k in keys)]
            elif name == "chemsys":
                wanted = {"-".join(sorted(s.split("-"))) for s in value.split(",")}
                selected = [d for d in selected if d["chemsys"] in wanted]
            elif name == "elements":
                selected = [d for d in selected if set(value.split(",")) <= set(d["elements"])]
            elif name == "exclude_elements":
                selected = [d for d in selected if not set(value.split(",")) & set(d["elements"])]
            elif name == "material_ids":
                selected = [d for d in selected if d["material_id"] in value.split(",")]
            elif name == "battery_ids":
                selected = [d for d in selected if _battery_id(d) in value.split(",")]
            elif name == "working_ion":
                selected = [d for d in selected if d["working_ion"] in value.split(",")]
            elif name in {"is_stable", "is_metal", "theoretical", "deprecated"}:
                selected = [d for d in selected if str(d.get(name)).lower() == value.lower()]
            elif name == "crystal_system":
                selected = [d for d in selected if d["symmetry"]["crystal_system"] == value]
            elif name == "spacegroup_symbol":
                selected = [d for d in selected if d["symmetry"]["symbol"] == value]
        if "_sort_fields" in params:
            sort_field = params["_sort_fields"][-1]
            selected.sort(key=lambda d: d[sort_field.lstrip("-")], reverse=sort_field.startswith("-"))
        total = len(selected)
        skip = int(params.get("_skip", ["0"])[-1])
        limit = int(params.get("_limit", ["1000"])[-1])
        selected = selected[skip : skip + limit]
        if "_fields" in params:
            wanted_fields = params["_fields"][-1].split(",")
            if "structure" in wanted_fields:
                for doc in selected:
                    if doc.get("material_id") == "mp-25411":
                        doc["structure"] = lini_o2_structure()
            selected = [{k: d[k] for k in wanted_fields if k in d} for d in selected]
        meta = {"api_version": "stub", "time_stamp": "2025-10-01T00:00:00", "total_doc": total, "max_limit": 1000,
                "db_version": self.db_version}
        return 200, {"data": selected, "errors": [], "meta": meta}, {}
