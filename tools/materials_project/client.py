"""Materials Project look-ups: material summaries, insertion electrodes and structures as CIF.

Built on `mp_api.client.MPRester` (imported lazily: its import is slow and its constructor calls
the server). Every request has a bounded timeout and a few retries with backoff on 429/5xx; the
whole exchange also runs under a hard deadline, because mp-api's own heartbeat call has no timeout.
Answers are cached on disk (one JSON file per question, written atomically), labelled with their
retrieval date and database version, so repeated questions are instant and work offline.

The key is passed in: this module never reads environment variables (the assistant layer does).
The queries are in queries.py, the answers in results.py, the disk cache in cache.py, the HTTP
plumbing and error mapping in http.py; query_parser.py turns a plain-language question into a
structured query without any network.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, SecretStr

from tools.domain.errors import (
    MaterialsProjectError,
    MPAuthError,
    MPQueryError,
    MPResponseError,
    MPUnavailableError,
)
from tools.materials_project.cache import ResponseCache
from tools.materials_project.http import (
    KEY_HELP,
    heartbeat,
    new_session,
    run_with_deadline,
    short_message,
    translate_failure,
    warning_text,
)
from tools.materials_project.queries import ElectrodeQuery, StructureQuery, SummaryQuery
from tools.materials_project.results import (
    ELECTRODE_FIELDS,
    SUMMARY_FIELDS,
    ElectrodeResult,
    Provenance,
    ResultT,
    StructureResult,
    SummaryResult,
    electrode_from_doc,
    summary_from_doc,
)

if TYPE_CHECKING:
    import requests

T = TypeVar("T")

DEFAULT_ENDPOINT = "https://api.materialsproject.org/"

_IGNORED_WARNINGS = (
    # spglib (called by pymatgen's SpacegroupAnalyzer) warns about its own error-handling API on every call.
    r"Set OLD_ERROR_HANDLING to false",
)


class MaterialsProjectClient:
    """Cached, time-bounded access to the Materials Project through mp-api's MPRester.

    Nothing touches the network until a question misses the cache; the MPRester is built then.
    """

    def __init__(
        self,
        api_key: str | None,
        *,
        cache_dir: Path | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = 20.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 10.0,
    ):
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise MPQueryError("timeouts must be positive")
        if max_retries < 0:
            raise MPQueryError("max_retries must be 0 or more")
        self._api_key = SecretStr(api_key.strip()) if api_key and api_key.strip() else None
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._session: requests.Session | None = None
        self._rester: Any = None
        self._db_version: str | None = None
        self._last_status: int | None = None

    # ----------------------------------------------------------------- public questions

    def summary(self, query: SummaryQuery, *, refresh: bool = False, offline: bool = False) -> SummaryResult:
        """Materials matching `query` (summary endpoint)."""

        def fetch(rester: Any) -> list[dict[str, Any]]:
            return list(
                rester.materials.summary.search(
                    **query.to_search_kwargs(), fields=SUMMARY_FIELDS, num_chunks=1, chunk_size=query.limit
                )
            )

        def build(docs: list[dict[str, Any]], provenance: Provenance, notes: list[str]) -> SummaryResult:
            materials = [summary_from_doc(d) for d in docs]
            return SummaryResult(
                query=query, materials=materials, limit_reached=len(materials) >= query.limit,
                provenance=provenance, warnings=notes,
            )

        return self._answer("summary", query, SummaryResult, fetch, build, refresh=refresh, offline=offline)

    def electrodes(self, query: ElectrodeQuery, *, refresh: bool = False, offline: bool = False) -> ElectrodeResult:
        """Insertion electrodes matching `query`."""

        def fetch(rester: Any) -> list[dict[str, Any]]:
            return list(
                rester.materials.insertion_electrodes.search(
                    **query.to_search_kwargs(), fields=ELECTRODE_FIELDS, num_chunks=1, chunk_size=query.limit
                )
            )

        def build(docs: list[dict[str, Any]], provenance: Provenance, notes: list[str]) -> ElectrodeResult:
            electrodes = [electrode_from_doc(d) for d in docs]
            return ElectrodeResult(
                query=query, electrodes=electrodes, limit_reached=len(electrodes) >= query.limit,
                provenance=provenance, warnings=notes,
            )

        return self._answer("electrodes", query, ElectrodeResult, fetch, build, refresh=refresh, offline=offline)

    def structure(self, query: StructureQuery, *, refresh: bool = False, offline: bool = False) -> StructureResult:
        """The relaxed structure of one material as CIF text (pymatgen's CifWriter)."""

        def fetch(rester: Any) -> list[dict[str, Any]]:
            return list(
                rester.materials.summary.search(
                    material_ids=[query.material_id], fields=["material_id", "formula_pretty", "structure"],
                    num_chunks=1, chunk_size=1, deprecated=None,
                )
            )

        def build(docs: list[dict[str, Any]], provenance: Provenance, notes: list[str]) -> StructureResult:
            if not docs:
                raise MPQueryError(f"{query.material_id}: no such material in the Materials Project")
            from pymatgen.core import Structure
            from pymatgen.io.cif import CifWriter

            structure = Structure.from_dict(docs[0]["structure"])
            if query.conventional:
                from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

                structure = SpacegroupAnalyzer(structure).get_conventional_standard_structure()
            return StructureResult(
                query=query, material_id=str(docs[0].get("material_id", query.material_id)),
                formula_pretty=docs[0].get("formula_pretty"), nsites=len(structure),
                cif=str(CifWriter(structure)), provenance=provenance, warnings=notes,
            )

        return self._answer("structure", query, StructureResult, fetch, build, refresh=refresh, offline=offline)

    def close(self) -> None:
        """Close the HTTP session (a later question opens a new one)."""
        if self._session is not None:
            self._session.close()
        self._session = None
        self._rester = None

    # ----------------------------------------------------------------- machinery

    def _answer(
        self,
        kind: str,
        query: BaseModel,
        result_type: type[ResultT],
        fetch: Callable[[Any], list[dict[str, Any]]],
        build: Callable[[list[dict[str, Any]], Provenance, list[str]], ResultT],
        *,
        refresh: bool,
        offline: bool,
    ) -> ResultT:
        notes: list[str] = []
        if self.cache is not None and not refresh:
            cached, note = self.cache.load(kind, self.endpoint, query, result_type)
            if cached is not None:
                return cached
            if note:
                notes.append(note)
        if offline:
            where = f"in {self.cache.folder}" if self.cache is not None else "(no cache folder configured)"
            raise MPUnavailableError(f"offline mode: no cached Materials Project answer to this {kind} question {where}")
        if self._api_key is None:
            raise MPAuthError(f"no Materials Project API key: {KEY_HELP}")
        key = self._api_key.get_secret_value()
        if len(key) != 32:
            raise MPAuthError(f"the Materials Project API key has {len(key)} characters, not 32: {KEY_HELP}")

        with warnings.catch_warnings(record=True) as caught:
            # Warnings are information for the user: collect them into the result, except
            # library noise that says nothing about the answer.
            warnings.simplefilter("always")
            for pattern in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            rester = self._get_rester()
            docs = self._call(lambda: fetch(rester), kind)
            provenance = Provenance(
                source="Materials Project", endpoint=self.endpoint, database_version=self._db_version,
                retrieved_at=datetime.now(UTC), from_cache=False, cache_file=None,
            )
            try:
                result = build([dict(d) for d in docs], provenance, [])
            except (KeyError, TypeError, ValueError) as err:  # ValidationError is a ValueError
                raise MPResponseError(
                    f"the Materials Project answer to the {kind} question has an unexpected shape: {short_message(err)}"
                ) from err
        notes.extend(dict.fromkeys(warning_text(w.message) for w in caught))
        if notes:
            result = result.model_copy(update={"warnings": notes})
        if self.cache is not None:
            self.cache.save(kind, self.endpoint, query, result)
        return result

    def _deadline(self, requests_made: int) -> float:
        """Upper bound for `requests_made` requests including retries, backoff and Retry-After waits."""
        attempts = self.max_retries + 1
        per_request = attempts * (self.connect_timeout_s + self.timeout_s) + self.max_retries * max(
            self.max_retry_after_s, self.backoff_s * 2**self.max_retries
        )
        return requests_made * per_request + 5.0

    def _get_rester(self) -> Any:
        if self._rester is not None:
            return self._rester
        assert self._api_key is not None
        key = self._api_key.get_secret_value()
        session = self._session or new_session(
            self.max_retries, self.backoff_s, self.max_retry_after_s, self._remember_status,
            timeout=(self.connect_timeout_s, self.timeout_s),
        )
        self._session = session
        self._db_version = self._call(
            lambda: heartbeat(session, self.endpoint, (self.connect_timeout_s, self.timeout_s)), "heartbeat"
        )

        # Imported here, outside the deadline: a cold import takes 5-15 s and is not a network wait.
        from mp_api.client import MPRester

        def construct() -> Any:
            rester = MPRester(
                api_key=key, endpoint=self.endpoint, session=session, use_document_model=False,
                mute_progress_bars=True, include_user_agent=False,
            )
            # MPRester does not pass a timeout on to its sub-resters (they default to 20 s), and
            # `rester.materials.<name>` is a LazyImport proxy that refuses new attributes: set it on
            # the instance the proxy holds.
            for name in ("summary", "insertion_electrodes"):
                proxy = getattr(rester.materials, name)
                getattr(proxy, "_obj", proxy).timeout = (self.connect_timeout_s, self.timeout_s)
            return rester

        # The constructor asks the server twice more (emmet version, heartbeat) through plain
        # requests.get, with no timeout. Both answers are cached per endpoint for the process: ask
        # here first, each under one silence period, so a server that goes silent is given up in
        # time; the constructor then only does local work, under the usual deadline.
        for name in ("get_emmet_version", "_get_heartbeat_info"):
            status_check: Callable[[str], Any] | None = getattr(MPRester, name, None)
            if status_check is not None:
                self._call(partial(status_check, self.endpoint), "status check", deadline_s=self.timeout_s + 1.0)
        self._rester = self._call(construct, "connection", requests_made=2)
        return self._rester

    def _call(self, fn: Callable[[], T], what: str, requests_made: int = 1, deadline_s: float | None = None) -> T:
        """Run one exchange under the hard deadline and translate every failure into a typed error."""
        self._last_status = None
        try:
            return run_with_deadline(fn, deadline_s if deadline_s is not None else self._deadline(requests_made), what,
                                     self.endpoint)
        except MaterialsProjectError:
            raise
        except Exception as err:
            raise translate_failure(
                err, what, endpoint=self.endpoint, timeout_s=self.timeout_s, max_retries=self.max_retries,
                last_status=self._last_status,
            ) from err

    def _remember_status(self, status: int) -> None:
        """Keep the last HTTP status seen: mp-api's own errors do not always carry it."""
        self._last_status = status

