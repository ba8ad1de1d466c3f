"""All-or-nothing output folders: build in a hidden temp folder beside DIR, then swap it in.

A run killed at any moment (SIGKILL included) leaves DIR as it was (absent, empty or the
previous complete output) or complete; the only debris is a hidden ``.DIR.curate-tmp-PID-*``
folder, which the next run beside it removes once that PID is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from curate.errors import ConfigError, InputError
from curate.records import TMP_MARK, check_output_paths, current_umask, remove_stale

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse early (before any work) to replace a non-empty DIR without ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: exists and is not empty; pass --overwrite to replace it")


def make_staging(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(out)
        prefix = f".{out.name}{TMP_MARK}{os.getpid()}-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    except OSError as exc:
        # Name the folder the user asked for, not our temp sibling of it.
        raise InputError(f"{out}: cannot create the output folder: {exc.strerror or exc}") from exc


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` so the rename publishes durable content.

    Also gives them the modes a plain ``open``/``mkdir`` would have (temp files and folders
    are created private, 0600/0700).
    """
    mask = current_umask()
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            os.chmod(path, 0o666 & ~mask)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(dirpath, 0o777 & ~mask)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def publish(staging: Path, out: Path) -> None:
    """Move the finished ``staging`` folder to ``out`` in one atomic step."""
    fsync_tree(staging)
    if out.is_dir() and any(out.iterdir()):
        if _exchange(staging, out):
            shutil.rmtree(staging)  # now holds the previous output
        else:  # no renameat2 (not Linux): two renames; a crash between them leaves DIR absent
            old = Path(
                tempfile.mkdtemp(prefix=f".{out.name}{TMP_MARK}{os.getpid()}-old-", dir=out.parent)
            )
            os.replace(out, old / out.name)
            os.replace(staging, out)
            shutil.rmtree(old)
    else:
        # rename(2) replaces an empty directory atomically.
        os.replace(staging, out)
    with contextlib.suppress(OSError):
        fd = os.open(out.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(
    out: str | os.PathLike[str],
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> Iterator[Path]:
    """Build a folder in a temp sibling and swap it in whole at the end.

    A folder that holds one of ``inputs`` is refused (``--overwrite`` would delete it), so is a
    non-empty ``out`` unless ``overwrite``; an exception or a kill leaves ``out`` as it was.
    Used by ``curate run``, ``curate merge`` and ``curate demo-model``.
    """
    target = Path(out)
    check_output_paths(inputs, [], [target])
    check_target(target, overwrite)
    staging = make_staging(target)
    try:
        yield staging
        publish(staging, target)
    except BaseException:
        discard(staging)
        raise
