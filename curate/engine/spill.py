"""The audit's findings kept in a file on the driver, not in its memory.

On a big input the audit's findings grow with the rows (``conflicting_answers``: ~4,500
findings at 400k rows, each with its message, lines, example and detail). ``SpilledFindings``
is the report's ``findings`` as a read-only sequence over pickled findings in an unnamed
temporary file: the driver holds 16 bytes a finding (an offset and a length), and each
reader (``report.json``, the page, the card, the manifest's summary) gets them back one at
a time. The file is gone when the object is (or when the process ends).
"""

from __future__ import annotations

import pickle
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, overload

import numpy as np

from curate.findings import Finding


class SpillWriter:
    """Appends pickled findings to one temporary file; ``index`` says where each one is."""

    def __init__(self) -> None:
        self.fh: IO[bytes] = tempfile.TemporaryFile()
        self._close = weakref.finalize(self, self.fh.close)  # until ``finish`` hands it on
        self._starts: list[np.ndarray] = []
        self._sizes: list[np.ndarray] = []
        self.pos = 0

    def add_pickled(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Writes already pickled findings; returns their positions in the file (ids)."""
        first = sum(a.size for a in self._starts)
        sizes = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs))
        starts = self.pos + np.concatenate(([0], np.cumsum(sizes)[:-1])) if len(blobs) else sizes
        for b in blobs:
            self.fh.write(b)
        self.pos += int(sizes.sum())
        self._starts.append(np.asarray(starts, dtype=np.int64))
        self._sizes.append(sizes)
        return np.arange(first, first + len(blobs), dtype=np.int64)

    def add(self, findings: Iterable[Finding]) -> np.ndarray:
        return self.add_pickled([pickle.dumps(f) for f in findings])

    def finish(self, order: np.ndarray) -> SpilledFindings:
        """The findings written so far, in ``order`` (ids from ``add``)."""
        self.fh.flush()
        self._close.detach()
        starts = np.concatenate(self._starts) if self._starts else np.zeros(0, np.int64)
        sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, np.int64)
        order = np.asarray(order, dtype=np.int64)
        return SpilledFindings(self.fh, starts[order], sizes[order])


class SpilledFindings(Sequence[Finding]):
    """A read-only ``list[Finding]`` stand-in whose items live in a file (see module doc)."""

    def __init__(self, fh: IO[bytes], starts: np.ndarray, sizes: np.ndarray) -> None:
        self._fh = fh
        self._starts = starts
        self._sizes = sizes
        weakref.finalize(self, fh.close)  # the unnamed file goes with its last reader

    def __len__(self) -> int:
        return int(self._starts.size)

    def _read(self, k: int) -> Finding:
        self._fh.seek(int(self._starts[k]))
        return pickle.loads(self._fh.read(int(self._sizes[k])))

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

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, SpilledFindings)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        # Sent to another process (a page worker): as the plain list it stands for.
        return (list, (list(self),))

    def __repr__(self) -> str:
        return f"SpilledFindings({len(self)} findings)"
