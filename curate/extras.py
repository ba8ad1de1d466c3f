"""Optional extras: which engines exist, and a one-line error when an extra is missing.

On the bottom floor so that the config (``run.engine``) can be checked at load, before any
data is read, without importing the engine that runs it.
"""

from __future__ import annotations

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
