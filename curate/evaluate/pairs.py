"""The generations file: both sides' responses per example, with keys for reuse.

Each line of ``generations.jsonl`` holds one example and both responses, plus a key per side
(the side's model identity + decoding settings + system prompt + prompt hash). A rerun reuses
every response whose key still matches and only generates the rest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from curate.errors import InputError
from curate.evaluate.examples import Example
from curate.evaluate.generate import Generator, Messages, Progress, with_system_prompt
from curate.records import RecordReader, write_jsonl


@dataclass
class Generation:
    """One example with both responses (a line of ``generations.jsonl``)."""

    id: str
    source: str
    line: int
    label: str | None
    prompt: Messages
    reference: str
    base: str
    tuned: str
    base_key: str
    tuned_key: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "line": self.line,
            "label": self.label,
            "prompt": self.prompt,
            "reference": self.reference,
            "base": self.base,
            "tuned": self.tuned,
            "base_key": self.base_key,
            "tuned_key": self.tuned_key,
        }


def _key(fingerprint: str, system: str | None, example: Example) -> str:
    blob = orjson.dumps([fingerprint, system, example.prompt_hash])
    return hashlib.sha256(blob).hexdigest()[:32]


def read_generations(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Saved generations by id; an unreadable file is an error naming its line."""
    saved = {}
    for rec in RecordReader(path).records():
        data = rec.data
        if not isinstance(data.get("id"), str) or not {"base", "tuned"} <= data.keys():
            raise InputError(f"{rec.ref}: not a generations line (needs id, base, tuned)")
        saved[data["id"]] = data
    return saved


def generate_pairs(
    examples: Sequence[Example],
    base: Generator,
    tuned: Generator,
    out_path: str | os.PathLike[str] | None,
    base_system_prompt: str | None = None,
    reuse: bool = True,
    progress: Progress | None = None,
) -> tuple[list[Generation], dict[str, int]]:
    """Responses of both sides for every example, reusing saved ones whose key matches.

    The base side gets ``base_system_prompt`` as its system turn; the fine-tune sees the prompt
    turns exactly as in the record (it was trained that way). Writes ``out_path`` atomically.

    Returns:
        The generations in example order, and counts ``{base,tuned}_{generated,reused}``.
    """
    saved: dict[str, dict[str, Any]] = {}
    if reuse and out_path is not None and Path(out_path).exists():
        saved = read_generations(out_path)
    stats = {}
    texts: dict[str, list[str]] = {}
    keys: dict[str, list[str]] = {}
    for side, gen, system in (("base", base, base_system_prompt), ("tuned", tuned, None)):
        fp = gen.fingerprint()
        side_keys = [_key(fp, system, ex) for ex in examples]
        side_texts: list[str | None] = []
        for ex, key in zip(examples, side_keys, strict=True):
            old = saved.get(ex.id)
            hit = (
                old is not None and old.get(f"{side}_key") == key and isinstance(old.get(side), str)
            )
            side_texts.append(old[side] if hit else None)
        todo = [i for i, t in enumerate(side_texts) if t is None]
        fresh = gen.generate(
            [with_system_prompt(examples[i].prompt, system) for i in todo], progress
        )
        for i, text in zip(todo, fresh, strict=True):
            side_texts[i] = text
        stats[f"{side}_generated"] = len(todo)
        stats[f"{side}_reused"] = len(examples) - len(todo)
        texts[side] = [t or "" for t in side_texts]
        keys[side] = side_keys
    rows = [
        Generation(
            ex.id,
            ex.source,
            ex.line,
            ex.label,
            ex.prompt,
            ex.reference,
            texts["base"][i],
            texts["tuned"][i],
            keys["base"][i],
            keys["tuned"][i],
        )
        for i, ex in enumerate(examples)
    ]
    if out_path is not None:
        write_jsonl(out_path, (g.as_dict() for g in rows))
    return rows, stats
