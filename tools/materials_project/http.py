"""HTTP under mp-api: a retrying session, a hard deadline, the heartbeat, and failures turned into typed errors.

Every request has a bounded timeout and a few retries with backoff on 429/5xx; the whole
exchange also runs under a hard deadline, because mp-api's own heartbeat call has no timeout.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tools.domain.errors import (
    MaterialsProjectError,
    MPAuthError,
    MPQueryError,
    MPResponseError,
    MPUnavailableError,
)

if TYPE_CHECKING:
    import requests

KEY_HELP = (
    "set the MP_API_KEY environment variable (or PMG_MAPI_KEY in ~/.config/.pmgrc.yaml) "
    "to your 32-character key from https://next-gen.materialsproject.org/api"
)

T = TypeVar("T")


def run_with_deadline(fn: Callable[[], T], seconds: float, what: str, where: str = "") -> T:
    """Run `fn` in a daemon thread; give up after `seconds` (the thread is left to die with the process)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below, never swallowed
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"mp-{what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        at = f" at {where}" if where else ""
        raise MPUnavailableError(f"the Materials Project{at} gave no complete answer to the {what} within {seconds:g} s; try again later")
    if "error" in box:
        raise box["error"]
    return box["value"]


def new_session(
    max_retries: int, backoff_s: float, max_retry_after_s: float, on_status: Callable[[int], None],
    timeout: tuple[float, float] | None = None,
) -> requests.Session:
    """A requests session retrying connections and 429/5xx answers with backoff; `on_status` hears every status.

    `timeout` (connect, read seconds) applies to every request sent without one of its own: mp-api's
    heartbeat calls pass none, and a server that accepts and stays silent would hold them forever.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    cap = max_retry_after_s

    class _CappedRetry(Retry):
        """Retry that never waits longer than `cap` seconds for a Retry-After header."""

        def get_retry_after(self, response: Any) -> float | None:
            wait = super().get_retry_after(response)
            return None if wait is None else min(wait, cap)

    retry = _CappedRetry(
        total=max_retries,
        connect=max_retries,
        read=False,  # a server that is slow once is slow again; a read timeout ends the question
        status=max_retries,
        other=0,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff_s,
        backoff_max=max(backoff_s, 8.0),
        respect_retry_after_header=True,
        raise_on_status=False,  # hand the last 429/5xx to the caller, which reports its status
    )
    class _BoundedAdapter(HTTPAdapter):
        """An adapter that gives every request a timeout (a silent server ends the wait)."""

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None and timeout is not None:
                kwargs["timeout"] = timeout
            return super().send(request, *args, **kwargs)

    session = requests.Session()
    adapter = _BoundedAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["user-agent"] = "matassist (materials-assistant) via mp-api"

    def remember(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        on_status(response.status_code)

    session.hooks["response"].append(remember)
    return session


def heartbeat(session: requests.Session, endpoint: str, timeout: tuple[float, float]) -> str | None:
    """GET /heartbeat with our timeouts and retries; returns the database version."""
    response = session.get(endpoint + "heartbeat", timeout=timeout)
    status = response.status_code
    if status == 429 or status >= 500:
        raise StatusError(status, response.text[:200])  # reported like any rate limit / server failure
    if status != 200:
        # mp-api reads a refused heartbeat as a service problem, not as a bad key; so do we.
        raise MPUnavailableError(
            f"the Materials Project status check ({endpoint}heartbeat) answered HTTP {status}; "
            "see https://status.materialsproject.org/ or try again later"
        )
    try:
        body = response.json()
        version = body.get("db_version")
    except (ValueError, AttributeError) as err:
        raise MPResponseError(f"{endpoint}heartbeat did not answer with a JSON object") from err
    return str(version) if version else None


def translate_failure(
    err: Exception, what: str, *, endpoint: str, timeout_s: float, max_retries: int, last_status: int | None
) -> MaterialsProjectError:
    """The typed error for a failed exchange, read from the whole exception chain and the last HTTP status."""
    import requests
    from urllib3.exceptions import (
        ConnectTimeoutError,
        NameResolutionError,
        NewConnectionError,
        ReadTimeoutError,
    )

    host = endpoint
    chain = _exception_chain(err)
    status = next((e.status for e in chain if isinstance(e, StatusError)), None)
    if status is None:
        status = _status_from_message(err) or last_status
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: test refusals before timeouts.
    if any(isinstance(e, NameResolutionError | NewConnectionError) for e in chain):
        return MPUnavailableError(
            f"cannot reach the Materials Project at {host}: no network connection? ({short_message(_root(chain))})"
        )
    if any(isinstance(e, requests.Timeout | ReadTimeoutError | ConnectTimeoutError) for e in chain) or (
        "timed out" in str(err).lower()
    ):
        return MPUnavailableError(
            f"the Materials Project ({host}) did not answer within {timeout_s:g} s (timeout); "
            "check the network connection or try again later"
        )
    if any(isinstance(e, requests.ConnectionError) for e in chain):
        return MPUnavailableError(
            f"cannot reach the Materials Project at {host}: connection failed ({short_message(_root(chain))})"
        )
    if status in (401, 403):
        return MPAuthError(
            f"the Materials Project rejected the API key (HTTP {status}); check the key: {KEY_HELP}"
        )
    if status == 429:
        return MPUnavailableError(
            f"the Materials Project is rate-limiting requests (HTTP 429, still after {max_retries} retries); "
            "wait a minute and try again"
        )
    if status is not None and status >= 500:
        return MPUnavailableError(
            f"the Materials Project server failed (HTTP {status}, still after {max_retries} retries); try again later"
        )
    if status is not None and status in (400, 404, 414, 422):
        return MPQueryError(f"the Materials Project rejected the {what} query (HTTP {status}): {short_message(err)}")
    if any(isinstance(e, ValueError) for e in chain):
        return MPResponseError(f"the Materials Project answer to the {what} was not valid JSON: {short_message(err)}")
    if any(isinstance(e, KeyError | TypeError) for e in chain):
        return MPResponseError(f"the Materials Project answer to the {what} has an unexpected shape: {short_message(err)}")
    return MaterialsProjectError(f"the Materials Project {what} failed: {type(err).__name__}: {short_message(err)}")


class StatusError(Exception):
    """A non-200 answer to our own heartbeat request."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


def _exception_chain(err: BaseException) -> list[BaseException]:
    """The error and every error it wraps (causes, contexts, arguments, urllib3 reasons), outermost first."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([current.__cause__, current.__context__])
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return seen


def _root(chain: list[BaseException]) -> BaseException:
    """The innermost cause: its message is the most specific (e.g. 'Connection refused')."""
    return chain[-1] if chain else Exception("unknown error")


_STATUS_RE = re.compile(r"status code (\d{3})")


def _status_from_message(err: BaseException) -> int | None:
    """The HTTP status that mp-api wrote into its error message, if any."""
    match = _STATUS_RE.search(str(err))
    return int(match.group(1)) if match else None


def short_message(err: BaseException, limit: int = 240) -> str:
    """An error's message on one line, without terminal colour codes, at most `limit` characters."""
    text = " ".join(str(err).split())
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def warning_text(message: Warning | str) -> str:
    """A warning's message as one short line."""
    return short_message(message if isinstance(message, Warning) else Warning(message), 300)
