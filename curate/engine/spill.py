"""The audit's findings kept in a file on the driver, not in its memory.

On a big input the audit's findings grow with the rows (``conflicting_answers``: ~4,500
findings at 400k rows, each with its message, lines, example and detail: ~2.3 KB a finding
in memory). ``SpilledFindings`` is the report's ``findings`` as a read-only sequence over
pickled findings in an unnamed temporary file: the driver holds ~17 bytes a finding (an
offset, a length, its code), and each reader (``report.json``, the page, the card, the
manifest's summary) gets them back one at a time. A pass costs an unpickling per finding
(~16 us), so the per-code questions the report asks many times (records flagged, findings of
a code) read only that code's findings, and the flagged counts are remembered. The file is
gone when the object is (or when the process ends).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, overload

import numpy as np

from curate.findings import Finding


def back_to_back(sizes: np.ndarray) -> np.ndarray:
    """Where each of ``sizes`` starts when they are written back to back from 0."""
    starts = np.zeros(sizes.size, np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    return starts


class SpillWriter:
    """Appends pickled findings to one temporary file; ``finish`` orders them."""

    def __init__(self) -> None:
        self.fh: IO[bytes] = tempfile.TemporaryFile()
        self._close = weakref.finalize(self, self.fh.close)  # until ``finish`` hands it on
        self._starts: list[np.ndarray] = []
        self._sizes: list[np.ndarray] = []
        self._codes: list[np.ndarray] = []
        self.names: list[str] = []  # code index -> code
        self.pos = 0
        self.n = 0

    def add_pickled(self, blobs: Sequence[bytes], code: str) -> np.ndarray:
        """Writes already pickled findings, all of ``code``; returns their ids."""
        sizes = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs))
        starts = back_to_back(sizes)
        for b in blobs:
            self.fh.write(b)
        return self._note(starts, sizes, code, int(sizes.sum()))

    def add_file(self, path: str | os.PathLike, starts: Any, sizes: Any, code: str) -> np.ndarray:
        """Appends a file of findings, all of ``code``, pickled back to back (a worker's:
        the findings never pass through this process's memory, a 1 MiB buffer at a time);
        ``starts`` / ``sizes``: each finding's place in that file. Returns their ids, in
        the order of ``starts``."""
        starts, sizes = np.asarray(starts, np.int64), np.asarray(sizes, np.int64)
        with open(path, "rb") as src:
            nbytes = os.fstat(src.fileno()).st_size
            # Checked before a byte is copied: a file that is not exactly its findings back
            # to back would leave the spill's offsets wrong for every later finding.
            order = np.argsort(starts, kind="stable")
            packed = back_to_back(sizes[order])
            if int(sizes.sum()) != nbytes or not np.array_equal(starts[order], packed):
                raise ValueError(f"{path}: {nbytes} bytes, not the {sizes.size} findings named")
            shutil.copyfileobj(src, self.fh, 1 << 20)
        return self._note(starts, sizes, code, nbytes)

    def _note(self, starts: np.ndarray, sizes: np.ndarray, code: str, nbytes: int) -> np.ndarray:
        if code not in self.names:
            self.names.append(code)
        self._starts.append(starts + self.pos)
        self._sizes.append(sizes)
        self._codes.append(np.full(sizes.size, self.names.index(code), np.uint8))
        self.pos += nbytes
        self.n += sizes.size
        return np.arange(self.n - sizes.size, self.n, dtype=np.int64)

    def add(self, findings: Iterable[Finding]) -> np.ndarray:
        ids = [self.add_pickled([pickle.dumps(f)], f.code) for f in findings]
        return np.concatenate(ids) if ids else np.zeros(0, np.int64)

    def finish(self, order: np.ndarray) -> SpilledFindings:
        """The findings written so far, in ``order`` (ids from ``add``)."""
        self.fh.flush()
        self._close.detach()
        order = np.asarray(order, dtype=np.int64)

        def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
            return (np.concatenate(parts) if parts else np.zeros(0, dtype))[order]

        return SpilledFindings(
            self.fh,
            cat(self._starts, np.int64),
            cat(self._sizes, np.int64),
            cat(self._codes, np.uint8),
            self.names,
        )


class SpilledFindings(Sequence[Finding]):
    """A read-only ``list[Finding]`` stand-in whose items live in a file (see module doc)."""

    def __init__(
        self,
        fh: IO[bytes],
        starts: np.ndarray,
        sizes: np.ndarray,
        codes: np.ndarray,
        names: list[str],
    ) -> None:
        self._fh = fh
        self._starts = starts
        self._sizes = sizes
        self._codes = codes
        self._names = list(names)
        self._flagged: dict[str, int] = {}
        weakref.finalize(self, fh.close)  # the unnamed file goes with its last reader

    def __len__(self) -> int:
        return int(self._starts.size)

    def _read(self, k: int) -> Finding:
        # pread: no shared file offset, so readers on other threads cannot interleave.
        return pickle.loads(os.pread(self._fh.fileno(), int(self._sizes[k]), int(self._starts[k])))

    @overload
    def __getitem__(self, k: int) -> Finding: ...
    @overload
    def __getitem__(self, k: slice) -> list[Finding]: ...
    def __getitem__(self, k: int | slice) -> Finding | list[Finding]:
        if isinstance(k, slice):
            return [self._read(i) for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        return self._read(k)

    def __iter__(self) -> Iterator[Finding]:
        for k in range(len(self)):
            yield self._read(k)

    def _where(self, code: str) -> np.ndarray:
        if code not in self._names:
            return np.zeros(0, np.int64)
        return np.flatnonzero(self._codes == self._names.index(code))

    def of_code(self, code: str) -> Iterator[Finding]:
        """The findings of ``code``, in order, reading only those."""
        for k in self._where(code).tolist():
            yield self._read(k)

    def count_of(self, code: str) -> int:
        """How many findings have ``code`` (nothing read)."""
        return int(self._where(code).size)

    def flagged(self, code: str) -> int:
        """Records named by the findings of ``code`` (``AuditReport.flagged``), remembered:
        the findings never change."""
        if code not in self._flagged:
            self._flagged[code] = len({ln for f in self.of_code(code) for ln in f.lines})
        return self._flagged[code]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, SpilledFindings)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        # Nothing sends it to another process today; if something does, it goes as the plain
        # list it stands for (a file handle cannot be pickled).
        return (list, (list(self),))

    def __repr__(self) -> str:
        return f"SpilledFindings({len(self)} findings)"
