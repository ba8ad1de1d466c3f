"""Moved to ``curate.progress`` (the bottom floor: ``curate.embed`` uses it too); kept for old
imports."""

from curate.progress import PLAIN_EVERY, SHOW_AFTER, Progress

__all__ = ["PLAIN_EVERY", "SHOW_AFTER", "Progress"]
