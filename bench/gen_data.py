"""Benchmark data: rows from ../shared/bench/gen_chat.py, generated once and reused.

``generate(..., paraphrases=share)`` also plants paraphrases: rewrites of existing rows with
the same meaning in other words (synonyms, contractions, a reordered pair of sentences, a
re-worded request), appended after gen_chat's rows so its truth file stays valid. They are
recorded in the truth as ``paraphrase: [[line, source_line, jaccard5], ...]`` and join their
source's cluster, so pair precision/recall counts them like any planted duplicate. Their
5-gram Jaccard to the source is mostly far below near dedup's 0.75: only a semantic method
can find them.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

GEN = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_chat.py"

# Same meaning, other words (gen_chat's common vocabulary; both directions are used).
SYNONYMS = {
    "should": "ought to",
    "avoid": "steer clear of",
    "first": "initially",
    "usually": "typically",
    "often": "frequently",
    "quick": "fast",
    "helps": "assists",
    "explain": "describe",
    "compare": "contrast",
    "check": "verify",
    "checking": "verifying",
    "keep": "retain",
    "keeps": "retains",
    "main": "primary",
    "whole": "entire",
    "measure": "gauge",
    "start": "begin",
    "choose": "pick",
    "show": "demonstrate",
    "mistake": "error",
    "wrong": "incorrect",
    "later": "afterwards",
    "finally": "lastly",
    "example": "instance",
    "approach": "method",
    "common": "frequent",
    "short": "brief",
    "simple": "straightforward",
    "easier": "simpler",
    "clear": "plain",
    "help": "assist",
    "plan": "organise",
    "list": "enumerate",
    "answer": "reply",
    "question": "query",
    "good": "fine",
    "better": "preferable",
    "many": "numerous",
    "people": "folks",
    "teams": "groups",
    "result": "outcome",
    "option": "choice",
    "things": "items",
    "mind": "attention",
    "works": "functions",
    "makes": "renders",
    "gives": "provides",
    "step": "stage",
    "rule": "guideline",
    "worth": "worthwhile",
    "really": "truly",
    "little": "slightly",
    "careful": "cautious",
    "give": "provide",
    "use": "employ",
    "using": "employing",
    "idea": "notion",
    "estimate": "approximate",
}
CONTRACTIONS = {
    "do not": "don't",
    "it is": "it's",
    "you are": "you're",
    "is not": "isn't",
    "can not": "cannot",
    "that is": "that's",
    "I am": "I'm",
}
OPENERS = ["Could you ", "Please ", "I'd like you to ", "Can you "]
_WORD = re.compile(r"[A-Za-z']+")


def _paraphrase_text(rng: random.Random, text: str) -> str:
    def swap(m: re.Match[str]) -> str:
        w = m.group(0)
        low = w.lower()
        alt = SYNONYMS.get(low)
        if alt is None or rng.random() > 0.85:
            return w
        return alt.capitalize() if w[:1].isupper() else alt

    out = _WORD.sub(swap, text)
    for a, b in CONTRACTIONS.items():
        out = out.replace(a, b)
    # One pair of neighbouring sentences (or list lines) in the other order.
    sep = "\n" if "\n" in out else ". "
    parts = out.split(sep)
    if len(parts) >= 4:
        k = rng.randrange(1, len(parts) - 2)
        parts[k], parts[k + 1] = parts[k + 1], parts[k]
        out = sep.join(parts)
    return out


def paraphrase_row(rng: random.Random, row: dict) -> dict:
    """The same conversation in other words (roles and order of turns unchanged)."""
    msgs = []
    for m in row["messages"]:
        text = _paraphrase_text(rng, m["content"])
        if m["role"] == "user" and not text.startswith(tuple(OPENERS)):
            text = rng.choice(OPENERS) + text[:1].lower() + text[1:]
        msgs.append({**m, "content": text})
    return {**row, "messages": msgs}


def _shingles(text: str) -> set[str]:
    toks = re.sub(r"\W+", " ", text.lower()).split()
    return {" ".join(toks[i : i + 5]) for i in range(max(1, len(toks) - 4))}


def _jaccard(a: dict, b: dict) -> float:
    sa = _shingles("\n".join(m["content"] for m in a["messages"]))
    sb = _shingles("\n".join(m["content"] for m in b["messages"]))
    return len(sa & sb) / max(1, len(sa | sb))


def plant_paraphrases(data: Path, truth: Path, share: float, seed: int, out: Path) -> Path:
    """Append ``share * rows`` paraphrases of well-formed original rows; extend the truth."""
    rng = random.Random(seed * 7919 + 1)
    t = json.loads(truth.read_text())
    copies = {line for line, *_ in t["exact"]} | {line for line, *_ in t["near"]}
    skip = copies | {line for line, _ in t["malformed"]} | {x[0] for x in t["same_prompt"]}
    lines = data.read_bytes().splitlines()
    sources = [i for i in range(1, len(lines) + 1) if i not in skip]
    picks = sorted(rng.sample(sources, min(len(sources), round(share * len(lines)))))
    extra, rows = [], []
    cluster_of = {m: c for c in t["clusters"] for m in c}
    for src in picks:
        row = json.loads(lines[src - 1])
        para = paraphrase_row(rng, row)
        line = len(lines) + len(rows) + 1
        rows.append(json.dumps(para, ensure_ascii=True).encode())
        extra.append([line, src, round(_jaccard(row, para), 4)])
        if src in cluster_of:
            cluster_of[src].append(line)
        else:
            cluster_of[src] = [src, line]
            t["clusters"].append(cluster_of[src])
    t["clusters"] = sorted([c[0], *sorted(c[1:])] for c in t["clusters"])
    t["paraphrase"] = extra
    out.write_bytes(b"\n".join(lines + rows) + b"\n")
    out.with_suffix(".truth.json").write_text(json.dumps(t))
    return out


def generate(
    rows: int,
    seed: int,
    workdir: Path,
    gen: Path = GEN,
    quiet: bool = False,
    paraphrases: float = 0.0,
) -> tuple[Path, Path]:
    """(data JSONL, truth JSON) for ``rows`` rows with ``seed``, made on first use.

    ``paraphrases``: share of rows to add as planted paraphrases (see the module doc).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"chat-{rows}-{seed}.jsonl"
    truth = workdir / f"chat-{rows}-{seed}.truth.json"
    if not data.exists() or not truth.exists():
        print(f"generating {rows:,} rows with {gen.name} ...", file=sys.stderr)
        tmp = data.with_suffix(".part")
        args = ["--rows", str(rows), "--seed", str(seed), "--out", str(tmp), "--truth", str(truth)]
        subprocess.run(
            [sys.executable, str(gen), *args],
            check=True,
            stdout=subprocess.DEVNULL if quiet else None,
        )
        tmp.rename(data)  # a killed generation never passes for a finished file
    if paraphrases <= 0:
        return data, truth
    para = workdir / f"chat-{rows}-{seed}-para{paraphrases:g}.jsonl"
    if not para.exists() or not para.with_suffix(".truth.json").exists():
        plant_paraphrases(data, truth, paraphrases, seed, para)
    return para, para.with_suffix(".truth.json")
