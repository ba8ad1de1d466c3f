"""``curate run --engine ray``: the split drawn and written on the workers.

The local split (``curate.split``) visits each stratum's groups in the order of a seeded hash
of the group's first record (``curate.split.allocate._order_key``) and takes them until the
stratum's exact share is reached. In a run most groups are one record (dedup already left one
per cluster); the others (rows asking one prompt, rows a leak joined) are few and held on the
driver (``curate.engine.ray_groups``), which replays the greedy take over them and the
singletons counted between them: a stratum's singletons then go to test up to a cut in
(order key, position), to val up to a second. That needs no global sort, only each
stratum's cuts, found from mergeable pieces:

* the workers label each kept row (stratum from its fields, order key from its position in
  the split's input) and count labels: strata are pooled as ``allocate`` pools them;
* a histogram of the keys' top 16 bits per stratum locates the bucket each cut falls in;
  only the rows of those buckets (about ``n / 65536`` per stratum) come to the driver;
* each row's side is then a comparison with its stratum's cuts, on the workers, which also
  write each side's rows as ordered part files; the driver concatenates them by file copy
  into ``<side>.jsonl``, byte for byte what ``write_splits`` writes;
* the leakage check after the split: exact leaks cannot exist (dedup's exact pass left one
  row per digest; rows sharing a prompt are one group); near leaks are looked for as local
  does (``find_leaks``: MinHash bands over side A then side B, the 64-neighbour window,
  pairs across the sides, true Jaccard, each row's best match), with the band shuffle and
  the verification on the workers. Leaks found join their rows' groups and the split is
  drawn again, in rounds, as local repairs it.

The driver holds per-stratum counts, the cut buckets' rows, one entry per multi-record
group and the leaks; the records stay on the workers. When the config asks for something
this path does not do (``not_eligible``), or leaks are left after the last repair round
(local then moves rows to train), the run falls back to the driver's split over the records
streamed back: the answers are the local engine's either way.
"""

from __future__ import annotations

import dataclasses
import itertools
import pickle
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate.engine.ray_groups import (
    Group,
    _gap_counts,
    _member_labels,
    _prompt_keys,
    _repeats,
    bounds_of,
    draw_stratum,
    form_strata,
    group_of,
    merged_groups,
)
from curate.engine.ray_rows import (
    BATCH,
    SIDES,
    _atomic_bytes,
    _collect,
    _log,
    _records,
    check_count,
    ids_of,
    row_ids,
)
from curate.records import Record, atomic_writer
from curate.split import MAX_REPAIR_ROUNDS, SplitResult
from curate.split.allocate import (
    POOLED,
    TEST,
    TRAIN,
    VAL,
    StratumReport,
    mark_off_target,
    order_keys,
    share_counts,
)

BUCKET_SHIFT = np.uint64(48)  # histogram buckets: the order key's top 16 bits
MAX_KEY = np.uint64(2**64 - 1)
MAX_POS = 2**62
ITER_ROWS = 8192  # records made at a time when the driver streams kept rows (Rows)
# The leakage check's side pairs, as ``curate.split._PAIRS``.
PAIRS = ((TEST, TRAIN), (VAL, TRAIN), (TEST, VAL))
BANDS = ("bk", "bok")  # the near pass's band keys, carried by the rows (ray_udfs._with_bands)
VECTORS = ("vec", "unseen")  # the semantic leakage check's (the embedding actors' columns)


def not_eligible(config: Any) -> str | None:
    """Why this run's split cannot run on the workers (None: it can)."""
    from curate.split.strata import COMPUTED

    s = config.split
    if config.filter.drop_findings:
        return "filter.drop_findings drops audited rows before the split"
    if s.group:
        return "split.group joins rows into groups"
    for key in s.stratify:
        if key in COMPUTED or not key or key.strip() != key:
            return f"stratify key {key!r} is not a record field"
    if config.run.parquet or config.run.hf_dataset:
        return "Parquet / HF dataset outputs are written from memory"
    if s.check_leakage and s.leakage_key not in (None, config.dedup.key):
        # Rows sharing a prompt are grouped before the draw (curate.split), so groups are
        # not single rows here.
        return f"the leakage check's key ({s.leakage_key}) is not dedup's"
    return None


class WorkerSplit(SplitResult):
    """A ``SplitResult`` whose records stay on the workers (``splits`` are ``Rows``) and
    whose ``<side>.jsonl`` files are already written (``written``)."""

    written = True

    def shares(self) -> dict[str, Any]:
        counts = {name: len(rows) for name, rows in self.splits.items()}
        pooled = sum(len(s.pooled) for s in self.strata)
        c = self.config
        return share_counts(
            counts, sum(counts.values()), c.test_size, c.val_size, c.tolerance, pooled
        )


# -- on the workers ----------------------------------------------------------------------


def _label_rows(
    batch: dict[str, np.ndarray],
    *,
    gone: np.ndarray | str,
    seed: int,
    paths: list[str],
    key: str,
    dedup: Any = None,
    vectors: bool = False,
) -> dict[str, np.ndarray]:
    """Each kept row's position in the split's input, stratum label and order key (and,
    given ``dedup``, its prompt's exact digest as ``ph1``, ``ph2``; ``hasp``: a prompt; with
    ``vectors``, its ``vec`` and ``unseen`` for the semantic leakage check)."""
    from curate.dedup.exact import digest
    from curate.dedup.normalize import key_text
    from curate.split.strata import field_value

    recs = _records(batch)
    extra = {}
    if dedup is not None:
        texts = [key_text(r, "prompt") for r in recs]
        found = [digest(dedup.normalizer.to_bytes(t)) if t.strip() else bytes(16) for t in texts]
        # All 16 bytes, as two halves: an 8-byte collision would join two prompts silently.
        halves = np.frombuffer(b"".join(found), dtype="<u8").reshape(-1, 2)
        extra["ph1"] = halves[:, 0].copy()
        extra["ph2"] = halves[:, 1].copy()
        extra["hasp"] = np.array([bool(t.strip()) for t in texts], dtype=bool)
    idx = batch["idx"]
    pos = (idx - np.searchsorted(ids_of(gone), idx)).astype(np.int64)
    labels = ["|".join(field_value(r.data, p) for p in paths) for r in recs]
    return {
        "idx": idx,
        "pos": pos,
        "source": batch["source"],
        "line": batch["line"],
        "text_line": batch["text_line"],
        "data": batch["data"],
        "label": np.array(labels, dtype=object),
        "okey": np.array(order_keys(seed, pos.tolist()), dtype=np.uint64),
        "nonempty": np.array([bool(key_text(r, key).strip()) for r in recs], dtype=bool),
        **{c: batch[c] for c in BANDS if c in batch},
        **({c: batch[c] for c in VECTORS} if vectors else {}),
        **extra,
    }


def _summary(batch: dict[str, np.ndarray], *, fields: list[str]) -> dict[str, np.ndarray]:
    """One block: its position range, label counts, how many rows have each field and how
    many have a prompt (grouping by prompt only)."""
    from curate.split.strata import MISSING, field_value

    pos = batch["pos"]
    present = [0] * len(fields)
    if fields:
        for r in _records(batch):
            for k, path in enumerate(fields):
                present[k] += field_value(r.data, path) != MISSING
    state = (
        int(pos.min()) if pos.size else -1,
        int(pos.max()) if pos.size else -1,
        int(pos.size),
        Counter(batch["label"].tolist()),
        present,
        int(np.count_nonzero(batch["hasp"])) if "hasp" in batch else 0,
    )
    return {"state": np.array([pickle.dumps(state)], dtype=object)}


def _codes(
    batch: dict[str, np.ndarray], sid_of: dict[str, int], tables: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The singletons' (stratum, key bucket) codes, and which rows are singletons (the
    cuts are among them; a group's rows take its side)."""
    single = group_of(batch, tables) < 0
    labels = batch["label"][single].tolist()
    sid = np.array([sid_of[x] for x in labels], dtype=np.uint64)
    return (sid << np.uint64(16)) | (batch["okey"][single] >> BUCKET_SHIFT), single


def _hist(
    batch: dict[str, np.ndarray], *, sid_of: dict[str, int], tables: dict[str, Any]
) -> dict[str, np.ndarray]:
    code, count = np.unique(_codes(batch, sid_of, tables)[0], return_counts=True)
    return {"code": code, "count": count.astype(np.int64)}


def _in_buckets(
    batch: dict[str, np.ndarray],
    *,
    sid_of: dict[str, int],
    tables: dict[str, Any],
    wanted: np.ndarray,
) -> dict[str, np.ndarray]:
    code, single = _codes(batch, sid_of, tables)
    m = np.isin(code, wanted)
    return {"code": code[m], "okey": batch["okey"][single][m], "pos": batch["pos"][single][m]}


def _below(k: np.ndarray, p: np.ndarray, tk: np.ndarray, tp: np.ndarray) -> np.ndarray:
    return (k < tk) | ((k == tk) & (p < tp))


def _sides(
    batch: dict[str, np.ndarray], *, sid_of: dict[str, int], cuts: dict, tables: dict[str, Any]
) -> dict:
    """Each row's stratum and side: a singleton's by its stratum's cuts, a group's row its
    group's (``tables``: ``gsid``, ``gside``)."""
    grp = group_of(batch, tables)
    single = grp < 0
    sid = np.zeros(grp.size, dtype=np.int64)
    sid[single] = [sid_of[x] for x in batch["label"][single].tolist()]
    sid[~single] = tables["gsid"][grp[~single]]
    k, p = batch["okey"], batch["pos"]
    test = _below(k, p, cuts["tk"][sid], cuts["tp"][sid])
    val = _below(k, p, cuts["vk"][sid], cuts["vp"][sid]) & ~test
    side = np.where(test, 2, np.where(val, 1, 0)).astype(np.int8)
    side[~single] = tables["gside"][grp[~single]]
    cols = ("idx", "pos", "source", "line", "text_line", "data", "nonempty", *BANDS, *VECTORS)
    out = {c: batch[c] for c in cols if c in batch}
    return {**out, "sid": sid, "side": side}


def _side_counts(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The block's row count per (stratum, side): the plan's check, without per-row data."""
    code, count = np.unique(batch["sid"] * 4 + batch["side"], return_counts=True)
    return {"sid": code // 4, "side": code % 4, "n": count.astype(np.int64)}


def _write_parts(batch: dict[str, np.ndarray], *, folder: str) -> dict[str, np.ndarray]:
    """Each side's rows of this block, in input order, as one part file named by its first
    row's position (a retried task rewrites the same bytes). Returns, per part, the side,
    first position and rows, and the block's position range (``lo``, ``hi``)."""
    order = np.argsort(batch["pos"], kind="stable")
    side, pos, data = batch["side"][order], batch["pos"][order], batch["data"][order]
    sides, firsts, rows = [], [], []
    for code, name in enumerate(SIDES):
        m = np.flatnonzero(side == code)
        if not m.size:
            continue
        first = int(pos[m[0]])
        body = b"".join(bytes(data[t]) + b"\n" for t in m.tolist())
        _atomic_bytes(Path(folder) / name / f"{first:012d}.jsonl", body)
        sides.append(code)
        firsts.append(first)
        rows.append(m.size)
    lo, hi = (int(pos[0]), int(pos[-1])) if pos.size else (-1, -1)
    return {
        "side": np.array(sides, dtype=np.int64),
        "first": np.array(firsts, dtype=np.int64),
        "rows": np.array(rows, dtype=np.int64),
        "lo": np.full(len(sides), lo, dtype=np.int64),
        "hi": np.full(len(sides), hi, dtype=np.int64),
    }


def _pair_counts(batch: dict[str, np.ndarray], *, a: int, b: int) -> dict[str, np.ndarray]:
    ok = batch["nonempty"]
    pos = batch["pos"]
    state = (
        int(pos.min()) if pos.size else -1,
        int(np.count_nonzero(ok & (batch["side"] == a))),
        int(np.count_nonzero(ok & (batch["side"] == b))),
    )
    return {"state": np.array([pickle.dumps(state)], dtype=object)}


def _leak_rows(
    batch: dict[str, np.ndarray], *, a: int, b: int, off_a: dict, off_b: dict, na: int
) -> dict[str, np.ndarray]:
    """The rows of sides ``a`` and ``b`` at their place in local ``find_leaks``'s list:
    side ``a``'s rows first (input order), then side ``b``'s (``idx`` = that place); with
    their band keys when the near pass carried them (``bk``, ``bok``), else their text."""
    extra = BANDS if "bk" in batch else ("source", "line", "text_line", "data")
    ok = batch["nonempty"]
    order = np.argsort(batch["pos"], kind="stable")
    first = int(batch["pos"].min()) if batch["pos"].size else -1
    cols: dict[str, list[np.ndarray]] = {}
    for code, base in ((a, off_a.get(first, 0)), (b, na + off_b.get(first, 0))):
        m = order[(ok & (batch["side"] == code))[order]]
        place = base + np.arange(m.size, dtype=np.int64)
        for c, v in (("idx", place), ("orig", batch["idx"][m]), *((c, batch[c][m]) for c in extra)):
            cols.setdefault(c, []).append(v)
    return {c: np.concatenate(v) for c, v in cols.items()}


def _pick(batch: dict[str, np.ndarray], *, ids: np.ndarray) -> dict[str, np.ndarray]:
    """The rows at the given positions: their label and prompt digest (a leak's rows)."""
    keep = np.isin(batch["pos"], ids)
    cols = ("pos", "label", "hasp", "ph1", "ph2")
    return {k: batch[k][keep] for k in cols if k in batch}


def _only_pos(batch: dict[str, np.ndarray], *, ids: np.ndarray) -> dict[str, np.ndarray]:
    keep = np.isin(batch["pos"], ids)
    return {k: batch[k][keep] for k in ("pos", "source", "line", "text_line", "data")}


def _with_lines(batch: dict[str, np.ndarray], *, lines: np.ndarray) -> dict[str, np.ndarray]:
    keep = np.isin(batch["line"], lines)
    return {k: batch[k][keep] for k in ("pos", "source", "line", "text_line", "data")}


def _placed(batch: dict[str, np.ndarray], *, lines: np.ndarray) -> dict[str, np.ndarray]:
    keep = np.isin(batch["line"], lines)
    return {k: batch[k][keep] for k in ("source", "line", "side", "sid")}


def _first_pos(block: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.min(block.column("pos")).as_py()) if block.num_rows else -1


# -- on the driver -------------------------------------------------------------------------


class Rows(Sequence[Record]):
    """The kept records (or one side's) of a run, left on the workers: ``len`` is known,
    iterating streams them block by block in input order, and single records are fetched
    (``prefetch`` brings many in one pass). Never holds them all."""

    def __init__(self, ray: Any, ds: Any, n: int, side: int | None = None) -> None:
        self.ray, self.ds, self.n, self.side = ray, ds, n, side
        self._refs: list[Any] | None = None
        self._cache: dict[int, Record] = {}

    def __len__(self) -> int:
        return self.n

    def _blocks(self) -> list[Any]:
        if self._refs is None:
            refs = self.ds.to_arrow_refs()
            # Blocks hold disjoint position ranges (checked when the split was written).
            first = self.ray.get([self.ray.remote(_first_pos).remote(r) for r in refs])
            self._refs = [r for f, r in sorted(zip(first, refs, strict=True), key=lambda x: x[0])]
        return self._refs

    def __iter__(self) -> Iterator[Record]:
        for ref in self._blocks():
            t = self.ray.get(ref).select(["pos", "side", *_COLS])
            if self.side is not None:
                import pyarrow.compute as pc

                t = t.filter(pc.equal(t.column("side"), self.side))
            if not t.num_rows:
                continue
            t = t.sort_by("pos")
            # Records a slice at a time: a reader's transient memory is one block's bytes
            # plus one slice of records, not a block of records.
            for lo in range(0, t.num_rows, ITER_ROWS):
                part = t.slice(lo, ITER_ROWS)
                batch = {c: part.column(c).to_numpy(zero_copy_only=False) for c in ("pos", *_COLS)}
                yield from _records({"idx": batch["pos"], **batch})

    def prefetch(self, positions: Any) -> None:
        ids = np.setdiff1d(np.unique(np.asarray(positions, dtype=np.int64)), list(self._cache))
        if not ids.size:
            return
        got = _collect(
            self.ds.map_batches(_only_pos, batch_format="numpy", fn_kwargs={"ids": ids}),
            ["pos", *_COLS],
        )
        for t, r in enumerate(_records({"idx": got["pos"], **got})):
            self._cache[int(got["pos"][t])] = r

    def by_lines(self, lines: Any) -> dict[int, Record]:
        """The first record (input order) with each of the given line numbers: what
        ``curate.report.evidence.collect_findings`` looks up, in one pass, none of the rest."""
        want = np.unique(np.asarray(list(lines), dtype=np.int64))
        if not want.size:
            return {}
        got = _collect(
            self.ds.map_batches(_with_lines, batch_format="numpy", fn_kwargs={"lines": want}),
            ["pos", *_COLS],
        )
        out: dict[int, Record] = {}
        order = np.argsort(got["pos"], kind="stable")
        recs = _records({"idx": got["pos"], **got})
        for t in order.tolist():
            out.setdefault(recs[t].line, recs[t])
        return out

    def places(self, keys: Any) -> dict[tuple[str, int], tuple[str, int]]:
        """(source, line) -> (side name, stratum id) of the given kept rows, in one pass:
        the page's ``Placement`` for the few rows it lists, not an index of all of them."""
        keys = set(keys)
        if not keys:
            return {}
        lines = np.unique(np.array([ln for _, ln in keys], dtype=np.int64))
        got = _collect(
            self.ds.map_batches(_placed, batch_format="numpy", fn_kwargs={"lines": lines}),
            ["source", "line", "side", "sid"],
        )
        out = {}
        for src, ln, side, sid in zip(
            got["source"].tolist(),
            got["line"].tolist(),
            got["side"].tolist(),
            got["sid"].tolist(),
            strict=True,
        ):
            if (str(src), int(ln)) in keys:
                out.setdefault((str(src), int(ln)), (SIDES[int(side)], int(sid)))
        return out

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return list(itertools.islice(iter(self), *i.indices(self.n)))
        if self.side is not None:
            raise TypeError("one side's rows are read in order, not by position")
        i = int(i) + (self.n if int(i) < 0 else 0)
        if not 0 <= i < self.n:
            raise IndexError(i)
        if i not in self._cache:
            self.prefetch([i])
        return self._cache[i]


_COLS = ("source", "line", "text_line", "data")


def split_on_workers(eng: Any, alive: Any, gone: np.ndarray, n: int, config: Any, staging: Path):
    """Draw the split on the workers and write ``<side>.jsonl`` into ``staging``.

    Returns ``(all kept rows, WorkerSplit)``, or None when the split must run on the driver
    (``not_eligible``, blocks out of order, a field no row has, or leaks left after the
    repair rounds, which local ends by moving rows to train).
    """
    from curate.pipeline.checks import named_fields
    from curate.split.strata import FIELD_PREFIX

    why = not_eligible(config)
    if why:
        _log(f"split on the driver: {why}")
        return None
    s = config.split
    # The check's key is dedup's (``not_eligible``): its semantic part is dedup's method.
    semantic = s.check_leakage and n > 0 and "semantic" in config.dedup.methods
    if semantic and eng.partitioning is None:
        # Too few rows to centre (``too_few_to_centre``): local then searches the sides
        # afresh, as the driver's split does; there are no partitions of dedup's to reuse.
        _log("split on the driver: semantic dedup did not centre its rows (too few)")
        return None
    ray = eng.ray
    paths = [k.removeprefix(FIELD_PREFIX) for k in s.stratify]
    fields = [p for _, p in named_fields(config)]
    # Rows asking the same prompt are one group (local ``_prompt_digests``), by default.
    by_prompt = s.check_leakage and s.leakage_key is None
    lab = alive.map_batches(
        _label_rows,
        batch_format="numpy",
        fn_kwargs={
            "gone": row_ids(gone, eng.work),
            "seed": s.seed,
            "paths": paths,
            "key": config.dedup.key,
            "dedup": config.dedup if by_prompt else None,
            # The vectors ride along for the leakage check and the audit's topics (their
            # counts per side: ``ray_audit.topics_on_workers``).
            "vectors": semantic or bool(config.run.semantic),
        },
    ).materialize()
    states = _summaries(lab, fields)
    if _interleave(states):
        # Blocks whose position ranges overlap (a shuffle upstream) would not write parts
        # that concatenate into input order: range-partition them once.
        lab = lab.sort("pos").materialize()
        states = _summaries(lab, fields)
        if _interleave(states):
            _log("split on the driver: blocks interleave")
            return None
    labels: Counter[str] = Counter()
    present = [0] * len(fields)
    for st in states:
        labels.update(st[3])
        present = [x + y for x, y in zip(present, st[4], strict=True)]
    check_count("ray split: labelled rows", sum(labels.values()), n)
    if n and not all(present):
        return None  # the driver's check names the missing field, as local does

    stats: dict[str, Any] = {"records": n}
    digest_groups: list[Group] = []
    dig_index: dict[tuple[int, int], int] = {}
    if by_prompt and n:
        if sum(st[5] for st in states) > 1:
            digest_groups, dig_index = _prompt_groups(eng, lab)
        stats["prompt_clusters"] = len(digest_groups)
        stats["records_in_prompt_clusters"] = sum(g.size for g in digest_groups)
    check = s.check_leakage and n > 0
    dcfg = config.dedup
    # One finder per leak method, in local's order (``Engine.leaks``: a row a method found
    # is not looked at by the next); each gives (row of side a, method, row of side b).
    finders = [_near_finder] if check and "near" in dcfg.methods else []
    if semantic:
        finders.append(_semantic_finder)
    side_names = [TRAIN, TEST] + ([VAL] if s.val_size > 0 else [])
    leak_rows: dict[int, tuple[str, int]] = {}
    pairs: list[tuple[int, int]] = []
    for round_no in range(MAX_REPAIR_ROUNDS):
        sided, reports, totals, gstats = _draw(
            lab, labels, digest_groups, dig_index, leak_rows, pairs, s
        )
        present_sides = {name for name in side_names if totals[SIDES.index(name)]}
        if not check:
            break
        leaks = _leaks(eng, alive, sided, gone, present_sides, finders)
        if not leaks:
            break
        if round_no == MAX_REPAIR_ROUNDS - 1:
            _log(f"split on the driver: leaks left after {MAX_REPAIR_ROUNDS} rounds")
            return None
        sided = None  # the next draw's rows replace these
        pairs += [(i, j) for i, _method, j in leaks]
        new = [p for i, _method, j in leaks for p in (i, j) if p not in leak_rows]
        if new:  # earlier rounds' rows are known
            leak_rows.update(_leak_rows_of(lab, new, dig_index))
        _log(f"{len(leaks)} leak(s) joined, drawn again (round {round_no + 1})")
    stats.update(gstats)
    del lab

    written = _write_parts_all(sided, eng.work)
    if written is None:
        _log("split on the driver: written blocks interleave")
        return None
    leakage: dict[str, Any] = {"checked": False}
    if check:
        # Exact leaks cannot exist: dedup's exact pass left one row per digest, and rows
        # sharing a prompt are one group (no exact_prompt leak either). The last round
        # found no leak (a leak left ends the split on the driver).
        methods = [*dcfg.methods] + (["exact_prompt"] if s.leakage_key is None else [])
        leakage = {
            "checked": True,
            "key": dcfg.key,
            "methods": methods,
            "pairs_checked": [
                f"{a}~{b}" for a, b in PAIRS if a in present_sides and b in present_sides
            ],
            "by_method": dict.fromkeys(methods, 0),
            "total": 0,
            "repair_rounds": round_no,
            "examples": [],
        }

    _concat(*written, side_names, totals, staging)
    splits = {
        name: Rows(ray, sided, totals[SIDES.index(name)], SIDES.index(name)) for name in side_names
    }
    _log(
        "split on the workers: " + ", ".join(f"{name} {len(rows)}" for name, rows in splits.items())
    )
    # As ``curate run`` configures its split: dedup already joined the duplicates.
    cfg = dataclasses.replace(s, keep_duplicates_together=False)
    return Rows(ray, sided, n), WorkerSplit(splits, reports, leakage, cfg, stats)


def _prompt_groups(eng: Any, lab: Any) -> tuple[list[Group], dict[tuple[int, int], int]]:
    """The rows sharing a prompt digest (a shuffle by digest on the workers), as groups
    ordered by root (local ``exact_groups``), and each digest's group index."""
    keys = lab.map_batches(_prompt_keys, batch_format="numpy", fn_kwargs={"parts": eng.parts})
    rep = keys.groupby("part", num_partitions=eng.parts).map_groups(_repeats, batch_format="numpy")
    got = _collect(rep, ["ph1", "ph2", "n", "first"])
    order = np.argsort(got["first"], kind="stable")
    dig_index = {(int(got["ph1"][t]), int(got["ph2"][t])): k for k, t in enumerate(order.tolist())}
    groups = [Group(int(got["first"][t]), int(got["n"][t])) for t in order.tolist()]
    if not groups:
        return groups, dig_index
    tables = {"digest": dig_index, "pos": {}}
    states = _collect(
        lab.map_batches(
            _member_labels, batch_format="numpy", batch_size=None, fn_kwargs={"tables": tables}
        ),
        ["state"],
    )
    for blob in states["state"].tolist():
        for (g, label), (k, first) in pickle.loads(bytes(blob)).items():
            got_ = groups[g].labels.setdefault(label, [0, first])
            got_[0] += k
            got_[1] = min(got_[1], first)
    for g in groups:
        check_count(
            "ray split: rows of a prompt group", sum(v[0] for v in g.labels.values()), g.size
        )
    return groups, dig_index


def _leak_rows_of(
    lab: Any, positions: list[int], dig_index: dict[tuple[int, int], int]
) -> dict[int, tuple[str, int]]:
    """Position -> (label, digest group or -1) of the given rows, fetched from the workers."""
    ids = np.unique(np.asarray(positions, dtype=np.int64))
    cols = ["pos", "label"] + (["hasp", "ph1", "ph2"] if dig_index else [])
    got = _collect(lab.map_batches(_pick, batch_format="numpy", fn_kwargs={"ids": ids}), cols)
    out = {}
    for t, pos in enumerate(got["pos"].tolist()):
        d = -1
        if dig_index and bool(got["hasp"][t]):
            d = dig_index.get((int(got["ph1"][t]), int(got["ph2"][t])), -1)
        out[int(pos)] = (str(got["label"][t]), d)
    check_count("ray split: leaking rows fetched", len(out), int(ids.size))
    return out


def _draw(
    lab: Any,
    labels: Counter[str],
    digest_groups: list[Group],
    dig_index: dict[tuple[int, int], int],
    leak_rows: dict[int, tuple[str, int]],
    pairs: list[tuple[int, int]],
    s: Any,
) -> tuple[Any, list[StratumReport], Counter[int], dict[str, int]]:
    """One draw of ``allocate`` over the groups (prompt groups joined by ``pairs``) and the
    singletons: the rows with their sides (``sided``), the strata's reports, the rows per
    side and the group figures of the stats."""
    groups, of_digest, of_pos = merged_groups(digest_groups, leak_rows, pairs)
    tables: dict[str, Any] = {"digest": {}, "pos": of_pos}
    if dig_index:
        tables["digest"] = {key: of_digest[d] for key, d in dig_index.items()}
    single: Counter[str] = Counter(labels)
    for g in groups:
        for label, (k, _first) in g.labels.items():
            single[label] -= k
    names, pooled, sid_of, gsid = form_strata(single, groups, s.pool_below())
    bounds = bounds_of(groups, gsid, s.seed)
    gaps: dict[int, np.ndarray] = {}
    if groups:
        got = _collect(
            lab.map_batches(
                _gap_counts,
                batch_format="numpy",
                fn_kwargs={"sid_of": sid_of, "tables": tables, "bounds": bounds},
            ),
            ["sid", "gap", "n"],
        )
        for sid, (keys, _roots, _order) in bounds.items():
            m = got["sid"] == sid
            gaps[sid] = np.bincount(got["gap"][m], weights=got["n"][m], minlength=keys.size + 1)
    gside = np.zeros(len(groups), dtype=np.int8)
    singles_of = Counter()
    for label, k in single.items():
        if k:
            singles_of[sid_of[label]] += k
    reports, ranks = [], []
    for sid, name in enumerate(names):
        order = bounds[sid][2] if sid in bounds else np.zeros(0, dtype=np.int64)
        sizes = [groups[k].size for k in order.tolist()]
        ns = singles_of[sid]
        gap = gaps[sid].astype(np.int64).tolist() if sid in gaps else [ns]
        check_count(f"ray split: singletons of {name!r}", sum(gap), ns)
        n = ns + sum(sizes)
        status, nt, nv, sides = draw_stratum(n, gap, sizes, s.test_size, s.val_size)
        rep = StratumReport(name, n, ns + len(sizes), pooled=pooled if name == POOLED else [])
        rep.target = {TEST: n * s.test_size, VAL: n * s.val_size}
        rep.status = status
        gt = sum(z for z, c in zip(sizes, sides, strict=True) if c == 2)
        gv = sum(z for z, c in zip(sizes, sides, strict=True) if c == 1)
        for k, c in zip(order.tolist(), sides, strict=True):
            gside[k] = c
        test, val = nt + gt, nv + gv
        rep.counts = {k: v for k, v in ((TEST, test), (VAL, val), (TRAIN, n - test - val)) if v}
        mark_off_target(rep)
        reports.append(rep)
        ranks.append((ns, nt, nt + nv))
    tables["gsid"], tables["gside"] = gsid, gside
    cuts = _cuts(lab, sid_of, tables, ranks)
    sided = lab.map_batches(
        _sides, batch_format="numpy", fn_kwargs={"sid_of": sid_of, "cuts": cuts, "tables": tables}
    ).materialize()
    got = _collect(sided.map_batches(_side_counts, batch_format="numpy"), ["sid", "side", "n"])
    totals: Counter[int] = Counter()
    per: dict[int, Counter[int]] = {}
    for sid, side, k in zip(
        got["sid"].tolist(), got["side"].tolist(), got["n"].tolist(), strict=True
    ):
        per.setdefault(sid, Counter())[side] += k
        totals[side] += k
    for sid, rep in enumerate(reports):
        counts = +per.get(sid, Counter())
        want = {SIDES.index(k): v for k, v in rep.counts.items()}
        check_count(f"ray split: stratum {rep.stratum!r}", dict(counts), want)
        # rep.members stays empty: the page places the rows it lists from the workers
        # (``Rows.places``), so no per-row array is kept here.
    n_all = sum(labels.values())
    gstats = {
        "groups": n_all - sum(g.size for g in groups) + len(groups),
        "multi_record_groups": len(groups),
    }
    return sided, reports, totals, gstats


def _summaries(lab: Any, fields: list[str]) -> list[tuple]:
    got = _collect(
        lab.map_batches(
            _summary, batch_format="numpy", batch_size=None, fn_kwargs={"fields": fields}
        ),
        ["state"],
    )
    return [pickle.loads(bytes(b)) for b in got["state"].tolist()]


def _interleave(states: list[tuple]) -> bool:
    ranges = sorted((st[0], st[1]) for st in states if st[2])
    return any(b[0] <= a[1] for a, b in itertools.pairwise(ranges))


def _cuts(
    lab: Any, sid_of: dict[str, int], tables: dict[str, Any], ranks: list[tuple[int, int, int]]
) -> dict:
    """Per stratum, the (order key, position) of the first singleton past test and past
    val (``ranks``: the stratum's singletons, those before each cut)."""
    k = len(ranks)
    tk, vk = np.zeros(k, np.uint64), np.zeros(k, np.uint64)
    tp, vp = np.full(k, -1, np.int64), np.full(k, -1, np.int64)
    hist = _collect(
        lab.map_batches(
            _hist, batch_format="numpy", fn_kwargs={"sid_of": sid_of, "tables": tables}
        ),
        ["code", "count"],
    )
    codes, inv = np.unique(hist["code"].astype(np.uint64), return_inverse=True)
    counts = np.bincount(inv, weights=hist["count"], minlength=codes.size).astype(np.int64)
    sid_of_code = (codes >> np.uint64(16)).astype(np.int64)
    need: dict[tuple[int, int], tuple[np.uint64, int]] = {}  # (sid, which) -> (code, offset)
    for sid, (ns, rt, rv) in enumerate(ranks):
        m = sid_of_code == sid
        c, cum = codes[m], np.cumsum(counts[m])
        for which, r in ((0, rt), (1, rv)):
            if r >= ns:  # everything is below: no cut
                (tk if which == 0 else vk)[sid] = MAX_KEY
                (tp if which == 0 else vp)[sid] = MAX_POS
            elif r > 0:
                b = int(np.searchsorted(cum, r, side="right"))
                need[(sid, which)] = (c[b], r - (int(cum[b - 1]) if b else 0))
    if need:
        wanted = np.unique(np.array([v[0] for v in need.values()], dtype=np.uint64))
        rows = _collect(
            lab.map_batches(
                _in_buckets,
                batch_format="numpy",
                fn_kwargs={"sid_of": sid_of, "tables": tables, "wanted": wanted},
            ),
            ["code", "okey", "pos"],
        )
        for (sid, which), (code, off) in need.items():
            m = rows["code"].astype(np.uint64) == code
            ks, ps = rows["okey"][m].astype(np.uint64), rows["pos"][m]
            order = np.lexsort((ps, ks))
            t = order[off]
            (tk if which == 0 else vk)[sid] = ks[t]
            (tp if which == 0 else vp)[sid] = ps[t]
    return {"tk": tk, "tp": tp, "vk": vk, "vp": vp}


Leak = tuple[int, str, int]  # (position on side a, method, position on side b)


def _leaks(
    eng: Any, alive: Any, sided: Any, gone: np.ndarray, present: set[str], finders: list
) -> list[Leak]:
    """The leaks local ``_leakage`` lists for this draw, side pair by side pair: each finder
    (one per method, in the check's order) gives its leaks; a side-``a`` row one method
    found is not a leak of the next (local ``Engine.leaks`` looks only at rows not found)."""
    found: list[Leak] = []
    for a, b in PAIRS:
        if a not in present or b not in present:
            continue
        seen: set[int] = set()
        for finder in finders:
            got = [lk for lk in finder(eng, alive, sided, gone, a, b) if lk[0] not in seen]
            seen.update(lk[0] for lk in got)
            found.extend(got)
    return found


def _near_finder(eng: Any, alive: Any, sided: Any, gone: np.ndarray, a: str, b: str) -> list[Leak]:
    """The near leaks local ``find_leaks`` finds from side ``a`` to side ``b``: each row of
    ``a`` with its best match of ``b`` (highest Jaccard, ties the first), as positions."""
    got = _near_pairs(eng, alive, sided, a, b)
    if not got["i"].size:
        return []
    # Row ids -> positions in the split's input (the ids of the rows dedup removed, sorted,
    # are below each one), as ``_label_rows`` numbers them.
    gone = np.asarray(gone, dtype=np.int64)
    i = got["i"] - np.searchsorted(gone, got["i"])
    j = got["j"] - np.searchsorted(gone, got["j"])
    order = np.lexsort((j, -got["jac"], i))
    first = np.ones(order.size, dtype=bool)
    first[1:] = i[order][1:] != i[order][:-1]
    best = order[first]
    return [(int(x), "near", int(y)) for x, y in zip(i[best], j[best], strict=True)]


def _semantic_finder(
    eng: Any, alive: Any, sided: Any, gone: np.ndarray, a: str, b: str
) -> list[Leak]:
    """The semantic leaks from side ``a`` to side ``b`` (``ray_leaks.semantic_leaks``:
    each row of ``a`` with its best match of ``b``, in dedup's partitions), as positions."""
    from curate.engine.ray_leaks import semantic_leaks

    return [(i, "semantic", j) for i, j in semantic_leaks(eng, sided, a, b).pairs()]


def _near_pairs(eng: Any, alive: Any, sided: Any, a: str, b: str) -> dict[str, np.ndarray]:
    """The pairs (row ids ``i`` of side ``a``, ``j`` of side ``b``, ``jac``) local
    ``find_leaks`` would verify at or above the threshold: the same candidates (bands over
    the rows of ``a`` then ``b``, the bucket window, pairs across), verified by true
    Jaccard on the workers."""
    from curate.engine.ray_udfs import _band_rows, _bucket_pairs, _carried_bands

    ca, cb = SIDES.index(a), SIDES.index(b)
    got = _collect(
        sided.map_batches(
            _pair_counts, batch_format="numpy", batch_size=None, fn_kwargs={"a": ca, "b": cb}
        ),
        ["state"],
    )
    states = sorted(pickle.loads(bytes(x)) for x in got["state"].tolist())
    off_a, off_b, na, nb = {}, {}, 0, 0
    for first, xa, xb in states:
        off_a[first], off_b[first] = na, nb
        na, nb = na + xa, nb + xb
    if not na or not nb:
        z = np.zeros(0, dtype=np.int64)
        return {"i": z, "j": z, "jac": np.zeros(0)}
    cfg = eng.config.dedup
    rows = sided.map_batches(
        _leak_rows,
        batch_format="numpy",
        batch_size=None,
        fn_kwargs={"a": ca, "b": cb, "off_a": off_a, "off_b": off_b, "na": na},
    ).materialize()
    if "bk" in rows.columns():  # the near pass's band keys: no MinHash again
        banded = rows.map_batches(
            _carried_bands, batch_format="numpy", fn_kwargs={"parts": eng.parts}
        )
    else:
        banded = rows.map_batches(
            _band_rows,
            batch_format="numpy",
            batch_size=BATCH,
            fn_kwargs={"config": cfg, "parts": eng.parts},
        )
    # Only the pairs across the sides are formed (``across``), named by the run's row ids;
    # they stay in the object store and are verified there, as near dedup's own candidates
    # (``_verify_refs``): only the pairs at or above the threshold (leaks) come back. The
    # driver never holds the candidate pairs, which grow faster than the rows.
    cand = banded.groupby("part", num_partitions=eng.parts).map_groups(
        _bucket_pairs, batch_format="numpy", fn_kwargs={"across": na}
    )
    pair_refs = cand.to_arrow_refs()
    del cand, banded, rows
    got = eng._verify_refs(alive, pair_refs, cfg.near_threshold)
    _log(f"leak check {a}~{b}: {got['n']} candidate pairs verified, {got['i'].size} at or above")
    return got


def _write_parts_all(sided: Any, work: Path) -> tuple[dict[str, np.ndarray], Path] | None:
    """Workers write each block's sides as part files; None when blocks interleave (the
    parts would not concatenate into input order)."""
    folder = work / "split"
    for name in SIDES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    got = _collect(
        sided.map_batches(
            _write_parts, batch_format="numpy", batch_size=None, fn_kwargs={"folder": str(folder)}
        ),
        ["side", "first", "rows", "lo", "hi"],
    )
    blocks = sorted(set(zip(got["lo"].tolist(), got["hi"].tolist(), strict=True)))
    if any(b[0] <= a[1] for a, b in itertools.pairwise(blocks)):
        return None
    return got, folder


def _concat(got: dict, folder: Path, names: list[str], totals: Counter, staging: Path) -> None:
    """``<side>.jsonl``: the side's part files in input order, copied, never parsed."""
    for name in names:
        code = SIDES.index(name)
        m = got["side"] == code
        firsts, rows = got["first"][m], got["rows"][m]
        check_count(f"ray split: {name} rows written", int(rows.sum()), totals[code])
        with atomic_writer(staging / f"{name}.jsonl", "wb") as out:
            for first in np.sort(firsts).tolist():
                with open(folder / name / f"{first:012d}.jsonl", "rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
