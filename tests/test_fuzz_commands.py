"""Seeded fuzz over every command that reads data, with JSONL and JSON-array containers.

A few thousand mutated records (syntax damage, invalid UTF-8, nesting at 254/255/256/1000,
big integers, lone surrogates, NaN, CR/CRLF/LF/U+2028 line ends...). Every command must end
without a traceback, exit 0 or 1, and account for every record it read:
kept + rejected == records read (issue 16, "Done when").
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from curate.cli import main
from curate.records import RecordReader

SEED = 16
N = 1500


def base_record(rng: random.Random, i: int) -> dict[str, Any]:
    topic = rng.choice(["sorting", "tides", "bread", "taxes", "chess", "rust", "opera"])
    q = f"Question {i} about {topic}: what matters most, and why {rng.randint(0, 99)}?"
    a = f"Answer {i}: for {topic}, start small, check step {rng.randint(0, 9)}, then grow."
    shape = rng.random()
    if shape < 0.6:
        rec: dict[str, Any] = {
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        }
    elif shape < 0.8:
        rec = {"instruction": q, "input": "", "output": a}
    else:
        rec = {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}
    rec["id"] = i
    return rec


def nested(rec: dict[str, Any], levels: int) -> str:
    return json.dumps(rec)[:-1] + ', "meta": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


SPECIAL = [
    lambda r: nested(r, 254),
    lambda r: nested(r, 255),
    lambda r: nested(r, 256),
    lambda r: nested(r, 1000),
    lambda r: json.dumps(r)[:-1] + ', "n": 18446744073709551616}',
    lambda r: json.dumps(r)[:-1] + ', "n": -9223372036854775809}',
    lambda r: json.dumps(r)[:-1] + ', "n": 1' + "0" * 4400 + "}",
    lambda r: json.dumps(r)[:-1] + ', "n": 18446744073709551615}',
    lambda r: json.dumps(r)[:-1] + ', "s": "\\ud800"}',
    lambda r: json.dumps(r)[:-1] + ', "s": "\\udfff tail"}',
    lambda r: json.dumps(r)[:-1] + ', "x": NaN}',
    lambda r: json.dumps(r)[:-1] + ', "x": -Infinity}',
    lambda r: json.dumps(r)[:-1] + ', "x": 1e400}',
    lambda r: json.dumps(r, ensure_ascii=False)[:-1] + ', "t": "a\u2028b\u2029c"}',
    lambda r: json.dumps(r)[:-1] + ', "e": "caf\xe9 \U0001f600"}',
    lambda r: "[1, 2, 3]",
    lambda r: '"just a string"',
    lambda r: "null",
    lambda r: "{}",
]


def mutate(rng: random.Random, text: str) -> str:
    """Damage one record's JSON text (or leave it alone)."""
    roll = rng.random()
    if roll < 0.45:
        return text
    if roll < 0.6:
        return rng.choice(SPECIAL)(json.loads(text))
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        pos = rng.randrange(len(chars) + 1)
        if op < 0.3 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op < 0.6:
            chars.insert(pos, rng.choice('{}[]",:\\ \t0e-.tnfu\x00\x7f'))
        elif op < 0.8:
            chars = chars[: max(1, pos)]
        else:
            chars.insert(pos, rng.choice(["\\u", "\\x", "\\", '"', "\udc80"]))
    return "".join(chars)


def encode(text: str) -> bytes:
    # A lone surrogate from a mutation becomes an invalid byte: invalid UTF-8 in the file.
    return text.encode("utf-8", "surrogateescape")


@pytest.fixture(scope="module")
def fuzz_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = random.Random(SEED)
    root = tmp_path_factory.mktemp("fuzz")
    texts = [mutate(rng, json.dumps(base_record(rng, i))) for i in range(N)]
    # Line ends vary per line (LF, CRLF, CR); a few blank lines in between.
    out = bytearray()
    for t in texts:
        out += encode(t.replace("\n", " ").replace("\r", " "))
        out += rng.choice([b"\n", b"\n", b"\r\n", b"\r"])
        if rng.random() < 0.02:
            out += b"  \n"
    (root / "fuzz.jsonl").write_bytes(bytes(out))
    (root / "fuzz.json").write_bytes(
        b"[\n" + b",\r\n".join(encode(t) for t in texts) + b"\n]\n"
    )  # fmt: skip
    return {"jsonl": root / "fuzz.jsonl", "json": root / "fuzz.json"}


def read_count(path: Path) -> int:
    reader = RecordReader(path)
    for _ in reader:
        pass
    return reader.stats.records + reader.stats.bad_lines


def lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def invoke(*args: str) -> Result:
    res = CliRunner().invoke(main, list(args))
    # No traceback: only click's own exits (0 clean, 1 findings).
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert res.exit_code in (0, 1), res.output
    assert "Traceback" not in res.output
    return res


def test_jsonl_is_read_line_by_line(fuzz_files: dict[str, Path]) -> None:
    raw = fuzz_files["jsonl"].read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    non_blank = [ln for ln in raw.split(b"\n") if ln.strip()]
    assert read_count(fuzz_files["jsonl"]) == len(non_blank) == N


@pytest.mark.parametrize("container", ["jsonl", "json"])
def test_every_reading_command_accounts_for_every_record(
    fuzz_files: dict[str, Path], tmp_path: Path, container: str
) -> None:
    src = fuzz_files[container]
    n = read_count(src)
    # Every line is a record in JSONL; in an array damage may merge or split a few elements.
    assert n == N if container == "jsonl" else abs(n - N) <= N // 50

    res = invoke("validate", str(src), "--json", "--rejects", str(tmp_path / "v.rej"))
    v = json.loads(res.stdout)
    assert v["records"] == n and v["valid"] + v["stats"]["invalid_records"] == n
    assert lines(tmp_path / "v.rej") == v["stats"]["invalid_records"]

    out, rej = tmp_path / "c.jsonl", tmp_path / "c.rej"
    c = json.loads(
        invoke("convert", str(src), "-o", str(out), "--rejects", str(rej), "--json").stdout
    )
    assert c["records"] == n == c["converted"] + c["stats"]["rejected_count"]
    assert lines(out) + lines(rej) == n

    out, rej = tmp_path / "d.jsonl", tmp_path / "d.rej"
    d = json.loads(
        invoke("dedup", str(src), "-o", str(out), "--rejects", str(rej), "--json").stdout
    )
    assert d["lines_in"] == n == d["kept"] + d["rejected"]
    assert lines(out) + lines(rej) == n

    a = json.loads(invoke("audit", str(src), "--no-embeddings", "--json").stdout)
    assert a["metrics"]["records"] == n

    run_out = tmp_path / "run"
    invoke("run", str(src), "-o", str(run_out), "--no-semantic")
    m = json.loads((run_out / "manifest.json").read_text())
    assert m["input"]["records"] == n and m["balanced"]
    assert m["kept"] + m["rejected"] == n
    assert sum(lines(run_out / f"{s}.jsonl") for s in m["outputs"]) == m["kept"]
    assert lines(run_out / "rejects.jsonl") == m["rejected"]

    # split takes clean data (a bad line is an exit-2 error naming it); give it the run's
    # train split, which went through every rule above.
    split_out = tmp_path / "split"
    train = run_out / "train.jsonl"
    res = invoke("split", str(train), "-o", str(split_out), "--no-semantic", "--json")
    s = json.loads(res.stdout)
    assert sum(s["counts"].values()) == read_count(train)


def test_split_names_the_first_bad_line(fuzz_files: dict[str, Path], tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["split", str(fuzz_files["jsonl"]), "-o", str(tmp_path / "s")])
    assert res.exit_code == 2 and res.exception is not None
    assert isinstance(res.exception, SystemExit)
    assert res.stderr.count("\n") == 1 and "(try curate run)" in res.stderr
