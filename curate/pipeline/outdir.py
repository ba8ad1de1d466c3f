"""Moved to ``curate.outdir`` (the bottom floor, beside the atomic writer); kept for old imports."""

from curate.outdir import atomic_directory, check_target, fsync_tree

__all__ = ["atomic_directory", "check_target", "fsync_tree"]
