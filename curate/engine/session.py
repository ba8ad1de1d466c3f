"""A connected Ray for one run: the caller's, a cluster's (``RAY_ADDRESS``), or a local one."""

from __future__ import annotations

import contextlib
import os
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
