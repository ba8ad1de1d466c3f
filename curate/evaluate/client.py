"""A small OpenAI-compatible chat completions client: plain HTTP, retries, rate limiting.

Works with OpenAI, vLLM (``vllm serve``), Ollama (``/v1``), llama.cpp's server and anything else
that speaks ``POST {base_url}/chat/completions``. Standard library only (urllib), so no SDK is
needed. Retries 429 and 5xx answers and connection errors with exponential backoff, honouring a
``Retry-After`` header; other 4xx answers fail at once (a wrong model name will not fix itself).
Redirects are an error, never followed: the API key must not travel to another host.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from curate.errors import ConfigError, CurateError

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


class EndpointError(CurateError):
    """The endpoint kept failing, or answered something that is not a chat completion."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: it surfaces as an ``HTTPError`` with the 3xx status.

    urllib would otherwise resend the ``Authorization`` header to whatever host the
    ``Location`` names, and turn a 301/302/303 POST into a GET whose answer we would take
    for the model's output.
    """

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# Our own opener: no redirects; proxies from the environment as urlopen would use them.
_OPENER = urllib.request.build_opener(_NoRedirect())


class RateLimiter:
    """At most ``rps`` request starts per second (0 = unlimited); thread-safe.

    ``clock`` and ``sleep`` are injectable so the arithmetic is testable without waiting.
    """

    def __init__(
        self,
        rps: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rps < 0:
            raise ConfigError("requests per second must be >= 0")
        self.interval = 1.0 / rps if rps else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next request may start; returns the seconds waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return delay


@dataclass
class ChatClient:
    """POSTs chat completions to ``{base_url}/chat/completions``.

    Attributes:
        base_url: e.g. ``http://localhost:8000/v1`` (a trailing ``/chat/completions`` is accepted).
        model: the ``model`` field sent.
        api_key: sent as ``Authorization: Bearer``; None sends no header (local servers).
        timeout: seconds per request.
        max_retries: retries after the first attempt for 429/5xx/connection errors.
        backoff: first retry delay in seconds, doubled each retry (capped at 30 s).
        rps: client-side rate limit in requests per second (0 = none).
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    max_retries: int = 4
    backoff: float = 1.0
    rps: float = 0.0
    stats: dict[str, int] = field(default_factory=lambda: {"requests": 0, "retries": 0})
    _limiter: RateLimiter = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        url = self.base_url.rstrip("/")
        if url.endswith("/chat/completions"):
            url = url[: -len("/chat/completions")]
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{self.base_url}: endpoint URL must start with http:// or https://")
        self.base_url = url
        if self.max_retries < 0:
            raise ConfigError("retries must be >= 0")
        self._limiter = RateLimiter(self.rps)

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def complete(self, messages: Sequence[Mapping[str, Any]], **params: Any) -> str:
        """The assistant text of one chat completion (``params``: temperature, max_tokens...)."""
        body = {"model": self.model, "messages": list(messages), **params}
        answer = self._post(body)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise EndpointError(
                f"{self.url}: answer is not a chat completion: {answer!r:.200}"
            ) from exc
        return content if isinstance(content, str) else ""

    def _post(self, body: Mapping[str, Any]) -> Any:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            self._limiter.wait()
            self._count("requests")
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            retry_after: float | None = None
            try:
                with _OPENER.open(request, timeout=self.timeout) as response:
                    raw = response.read()
                try:
                    return json.loads(raw)
                except ValueError as exc:
                    raise EndpointError(f"{self.url}: answer is not JSON: {raw[:200]!r}") from exc
            except urllib.error.HTTPError as exc:
                if 300 <= exc.code < 400:
                    where = exc.headers.get("Location", "?")
                    raise EndpointError(
                        f"{self.url}: HTTP {exc.code} redirect to {where} refused (API calls "
                        "never follow redirects, so the key is not sent elsewhere); use the "
                        "final URL as the endpoint"
                    ) from exc
                detail = exc.read()[:300].decode("utf-8", "replace")
                last = f"HTTP {exc.code}: {detail.strip()}"
                if exc.code not in RETRY_STATUS:
                    raise EndpointError(f"{self.url}: {last}") from exc
                retry_after = _retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = f"{getattr(exc, 'reason', exc)}"
            if attempt == self.max_retries:
                break
            self._count("retries")
            delay = min(MAX_BACKOFF_S, self.backoff * 2**attempt)
            time.sleep(retry_after if retry_after is not None else delay)
        raise EndpointError(f"{self.url}: failed after {self.max_retries + 1} attempts: {last}")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(MAX_BACKOFF_S, max(0.0, float(value)))
    except ValueError:  # an HTTP date; not worth parsing, use our own backoff
        return None


def api_key_from_env(env_var: str | None) -> str | None:
    """The key from the named environment variable; None when unset (local servers need none)."""
    if not env_var:
        return None
    return os.environ.get(env_var) or None
