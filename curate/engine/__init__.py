"""Where the row-heavy stages run: ``local`` (this process) or ``ray`` (a Ray cluster).

``curate run/dedup/audit --engine ray`` run the same stages on Ray Data: read + convert +
validate + filter per shard on the workers, exact dedup by hash aggregation, near dedup by
MinHash band buckets (shuffle) with verification on the workers, semantic dedup with an
embedding actor pool and a partitioned exact search. The answers match ``local`` (see
docs/ray.md for where and by how much they can differ). Ray is the optional extra ``ray``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from curate.errors import ConfigError

ENGINES = ("local", "ray")
EXTRA_HINT = "pip install 'curate-finetune-data[ray]'"


def check_engine(engine: str) -> None:
    """Fail early (before any data is read) on an unknown engine or a missing Ray."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if engine == "ray":
        require_ray()


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra that installs it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is part of the extra
    except ImportError as exc:
        raise ConfigError(
            f"--engine ray needs the optional 'ray' extra (not installed: {exc.name}); "
            f"install it with: {EXTRA_HINT}"
        ) from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """A connected Ray: the caller's (already initialised), ``address``, or a local one.

    ``address`` None means ``auto`` when ``RAY_ADDRESS`` is set (join that cluster), else a
    Ray started for this run and stopped after it.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    if address is None:
        # "local" starts a private Ray even when another one runs on this machine (a bare
        # ray.init() would join that one).
        address = "auto" if os.environ.get("RAY_ADDRESS") else "local"
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",
            configure_logging=True,
        )
    except ConnectionError as exc:
        raise ConfigError(f"--ray-address {address}: cannot connect to Ray: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()
