"""Guards for the shortcuts of `curate run`'s reading phase (issue 15): each one decides or
builds exactly what the longer way did, on varied records."""

from __future__ import annotations

import io
import json
import random
import sys
from pathlib import Path
from typing import Any

import orjson

from curate.pipeline.filters import FilterConfig, make_filter
from curate.pipeline.stages import RejectSink, compact, front
from curate.records import MAX_DEPTH, BadLine, Record, RecordReader, parse_record
from curate.validate import Validator
from curate.validate.lengths import LengthStats


def _old_compact(record: Record) -> Record:
    """``compact`` as it was before the shortcut (3894a38), the reference."""
    data = record.data
    if type(data) is not dict:
        return record
    for key, value in data.items():
        if type(value) is str and len(value) <= 64:
            data[key] = sys.intern(value)
    msgs = data.get("messages")
    if type(msgs) is list:
        for m in msgs:
            if type(m) is dict:
                role = m.get("role")
                if type(role) is str:
                    m["role"] = sys.intern(role)
                    content = m.get("content")
                    if role in ("system", "developer") and type(content) is str:
                        m["content"] = sys.intern(content)
    return record


def _varied(rng: random.Random) -> Any:
    roles = ["system", "developer", "user", "assistant", "tool", 7, None]
    contents: list[Any] = ["", "Be brief.", "x" * 80, 3, None, [{"type": "text", "text": "a"}]]
    msgs: list[Any] = []
    for _ in range(rng.randrange(0, 5)):
        pick = rng.random()
        if pick < 0.1:
            msgs.append("not a message")
        elif pick < 0.2:
            msgs.append({"content": rng.choice(contents)})
        else:
            msgs.append({"role": rng.choice(roles), "content": rng.choice(contents)})
    data: dict[str, Any] = {"messages": msgs if rng.random() < 0.9 else "nope"}
    if rng.random() < 0.5:
        data["category"] = rng.choice(["qa", "x" * 65, "", 5])
    return data if rng.random() < 0.95 else [data]


def _fresh(data: Any) -> Any:
    # Strings rebuilt at run time, so none is interned before compact sees it.
    return json.loads(json.dumps(data))


def _interned(s: str) -> bool:
    # sys.intern(s) itself would intern s when no equal string is: ask with an equal copy.
    return sys.intern(s.encode().decode()) is s


def test_compact_matches_the_old_code_on_varied_records() -> None:
    rng = random.Random(7)
    for i in range(2000):
        data = _varied(rng)
        old, new = Record("f", i, _fresh(data)), Record("f", i, _fresh(data))
        assert compact(new) is new
        _old_compact(old)
        assert orjson.dumps(new.data) == orjson.dumps(old.data) == orjson.dumps(data)
        if type(data) is dict and type(data["messages"]) is list:
            for a, b in zip(old.data["messages"], new.data["messages"], strict=True):
                if type(a) is not dict or type(a.get("role")) is not str:
                    continue
                # The same strings shared (interned) as before, no more, no fewer: parsed
                # strings are fresh objects (one-character ones aside), so a string is the
                # interned one only where compact put it.
                shared = a["role"] in ("system", "developer")
                for m in (a, b):
                    assert _interned(m["role"])
                    c = m.get("content")
                    if type(c) is str and len(c) > 1:
                        assert _interned(c) == shared, (a, b)


def _lines(rng: random.Random) -> list[str]:
    """JSONL lines around the reader's two cheap scans: nesting by "[" and "{" mixed near
    ``MAX_DEPTH``, brackets inside strings, digit runs of 18-21 inside and outside strings."""
    out = []
    for _ in range(400):
        depth = rng.choice([1, 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 3])
        opens = [rng.choice("[{") for _ in range(depth - 1)]
        inner = "1"
        for o in reversed(opens):
            inner = f"[{inner}]" if o == "[" else f'{{"k": {inner}}}'
        text = rng.choice(["hi", "[" * 300, "{" * 260 + "x", "9" * 25])
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([18, 19, 20, 21])))
        number = rng.choice([digits.lstrip("0") or "0", "-" + (digits.lstrip("0") or "0"), "1.5"])
        out.append(f'{{"messages": [], "t": "{text}", "n": {number}, "deep": {inner}}}')
    return out


def test_reader_scans_decide_as_the_full_rules(tmp_path: Path) -> None:
    lines = _lines(random.Random(3))
    path = tmp_path / "mix.jsonl"
    path.write_text("\n".join(lines) + "\n")
    got = list(RecordReader(path))
    assert len(got) == len(lines)
    reasons = set()
    for line, item in zip(lines, got, strict=True):
        _value, reason, _msg = parse_record(line.encode())
        assert (item.reason if isinstance(item, BadLine) else "") == reason, line[:80]
        reasons.add(reason)
    assert {"", "too_deep", "integer_out_of_range"} <= reasons  # every branch was taken


def _run_front(path: Path, filter_step: Any) -> tuple[list[tuple[int, bytes]], bytes, Any]:
    out = io.BytesIO()
    validator = Validator(max_tokens=40)
    stream, stats, conv = front(
        str(path), RejectSink(out), fmt=None, validator=validator, filter_step=filter_step
    )
    kept = [(r.line, orjson.dumps(r.data)) for r in stream]
    return kept, out.getvalue(), (stats.as_dict(), conv.stats(), validator.stats())


def test_front_without_a_filter_step_is_the_inactive_filter(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = []
    for i in range(300):
        data = _varied(rng)
        rows.append(json.dumps(data) if i % 37 else "{broken")
    rows.append(json.dumps({"messages": [{"role": "user", "content": "q " * 200}]}))
    ok = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    rows += [json.dumps(ok)] * 5 + [json.dumps({**ok, "category": "qa"})]
    path = tmp_path / "v.jsonl"
    path.write_text("\n".join(rows) + "\n")
    config = FilterConfig()
    assert not config.active
    with_step = _run_front(path, make_filter(config))
    without = _run_front(path, None)
    assert with_step == without
    assert len(without[0]) >= 6 and without[1]  # records kept and lines rejected


def test_validator_fast_path_tallies_as_length_stats() -> None:
    # The fast path hands its lengths over in batches (4096, and whenever they are read).
    rng = random.Random(11)
    v = Validator(max_tokens=30)
    ref = LengthStats(None, 30)
    for i in range(9000):
        if i in (300, 4100):
            assert v.lengths.summary() == ref.summary()
        n_turns = rng.randrange(1, 4)
        msgs = []
        for _ in range(n_turns):
            msgs += [
                {"role": "user", "content": "w" * rng.randrange(1, 80)},
                {"role": "assistant", "content": "é" * rng.randrange(1, 60)},
            ]
        record = Record("f", i + 1, {"messages": msgs})
        assert v(record) is record
        ref.add(ref.measure(msgs))
    assert v.lengths.summary() == ref.summary()
    assert v.lengths.over == ref.over > 0
    assert v.warnings_by_code["over_max_tokens"] == ref.over
