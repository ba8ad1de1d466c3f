"""A connected Ray for one run: the caller's, a cluster's (``RAY_ADDRESS``), or a local one."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from curate.errors import ConfigError
from curate.extras import require_ray

# The logger of Ray's "Token authentication is enabled for this Ray cluster" notice.
AUTH_NOTICE = "ray._private.authentication.authentication_token_setup"


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
    if address == "local":
        # A Ray started here turns token authentication on (its default) and says so in a
        # WARNING line on every run's stderr; that notice alone is left out. (Setting
        # RAY_AUTH_MODE=token instead makes Ray 2.60 start without generating the token.)
        logging.getLogger(AUTH_NOTICE).setLevel(logging.ERROR)
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
    except (RuntimeError, ray.exceptions.RayError) as exc:  # not started: GCS, auth token...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = "cannot start a local Ray" if address == "local" else f"--ray-address {address}"
        raise ConfigError(f"{where}: {first} (Ray's logs: /tmp/ray/session_latest/logs)") from exc
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
