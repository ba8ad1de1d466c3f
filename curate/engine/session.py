"""A connected Ray for one run: the caller's, a cluster's (``RAY_ADDRESS``), or a local one."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from typing import Any

from curate.errors import ConfigError
from curate.extras import require_ray


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
    check_reachable(address)
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


def check_reachable(address: str) -> None:
    """A cluster address nothing answers at fails at once, in one line: ``ray.init`` would
    retry it for minutes, printing GCS warnings. ``auto`` checks ``RAY_ADDRESS``; ``local``
    and forms Ray resolves itself (no ``host:port``) are left to Ray."""
    named = os.environ.get("RAY_ADDRESS", "") if address == "auto" else address
    host, sep, port = named.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        where = f"RAY_ADDRESS={named}" if address == "auto" else f"--ray-address {named}"
        raise ConfigError(
            f"{where}: cannot connect to Ray: nothing answers at {host}:{port} "
            f"({exc.strerror or exc})"
        ) from exc
