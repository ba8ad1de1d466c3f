"""The ``curate`` command line: a thin Click layer over the library.

Each command lives in its own module and registers itself on ``main``; this is the only
package that imports click or prints.
"""

# Importing a command module registers its commands on ``main``.
from curate.cli import (  # noqa: E402,F401  (import for registration)
    audit_cmd,
    convert_cmd,
    dedup_cmd,
    eval_cmd,
    models_cmd,
    run_cmd,
    split_cmd,
    train_cmd,
    validate_cmd,
)
from curate.cli.app import main

__all__ = ["main"]
