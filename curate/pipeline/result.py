"""What ``run_pipeline`` returns (its own module: ``pipeline.run`` builds it, the package
re-exports it, and neither imports the other's names)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class RunResult:
    """What ``run_pipeline`` did: the manifest written and whether gates held."""

    out_dir: Path
    manifest: dict[str, Any]
    gates_failed: list[str]
    leakage: int
    flagged_leaks: int = 0
    off_target: bool = False  # a split share off target under split.strict

    @property
    def exit_code(self) -> int:
        failed = self.gates_failed or self.leakage or self.flagged_leaks or self.off_target
        return 1 if failed else 0
