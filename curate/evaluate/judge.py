"""Pairwise LLM-as-judge through any OpenAI-compatible endpoint, with position swap.

Each pair is judged twice: base as A / fine-tune as B, then swapped. A win counts only when
both orders agree; disagreement (the judge preferring a position, not an answer) is a tie. An
answer that is not a verdict is asked once more; if it still is not, that comparison is
``unparsable``: recorded with the raw answer, counted, and left out of the win rates.

Outcome codes (stable): ``tuned`` (fine-tune wins), ``base``, ``tie``, ``unparsable``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import InputError
from curate.evaluate.client import ChatClient
from curate.evaluate.pairs import Generation
from curate.evaluate.stats import Tally

DEFAULT_RUBRIC = """\
- Helpfulness: does the response do what the user asked, completely?
- Correctness: is it accurate? Compare with the reference answer where one is given, but a
  different correct answer is as good as the reference.
- Format and instructions: does it follow the requested format, language and constraints?
- Concision: no padding, no repetition, no invented content.
Prefer neither response for its length or its position. Say "tie" when they are equally good
or equally bad."""

SYSTEM = "You are an impartial expert judge comparing two AI assistant responses."

TEMPLATE = """\
Compare two responses (A and B) to the same conversation, using these criteria:
{rubric}

[Conversation]
{conversation}
{reference}
[Response A]
{a}

[Response B]
{b}

Answer with one JSON object and nothing else:
{{"reason": "<one or two sentences>", "winner": "A" or "B" or "tie"}}"""

_WINNER = re.compile(r"""["']?winner["']?\s*[:=]\s*["']?\s*(A|B|tie)\b""", re.I)


def load_rubric(path: str | None) -> str:
    """The rubric text from a file (criteria only; the answer format is fixed), or the default."""
    if path is None:
        return DEFAULT_RUBRIC
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read rubric: {exc}") from exc
    if not text:
        raise InputError(f"{path}: rubric file is empty")
    return text


def parse_verdict(text: str) -> tuple[str, str] | None:
    """``("A" | "B" | "tie", reason)`` from a judge answer, or None when it holds no verdict.

    Accepts the JSON object asked for (also inside code fences or prose), else a
    ``winner: X`` line.
    """
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(text[start : end + 1])
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            winner = str(obj.get("winner", "")).strip().strip(".").lower()
            reason = obj.get("reason")
            reason = reason if isinstance(reason, str) else ""
            if winner in {"a", "b"}:
                return winner.upper(), reason
            if winner in {"tie", "draw", "equal", "both"}:
                return "tie", reason
    match = _WINNER.search(text)
    if match:
        w = match.group(1)
        return (w.upper() if w.lower() in {"a", "b"} else "tie"), text.strip()[:500]
    return None


@dataclass(frozen=True)
class Judgement:
    """The judge on one pair: both orders, the combined outcome, and the reasons."""

    id: str
    outcome: str
    base_first: str
    tuned_first: str
    reason_base_first: str
    reason_tuned_first: str
    raw_unparsable: str = ""
    key: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Judgement:
        return cls(
            d["id"],
            d["outcome"],
            d["order_base_first"],
            d["order_tuned_first"],
            d.get("reason_base_first", ""),
            d.get("reason_tuned_first", ""),
            d.get("raw_unparsable", ""),
            d.get("key", ""),
        )

    def as_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "key": self.key,
            "outcome": self.outcome,
            "order_base_first": self.base_first,
            "order_tuned_first": self.tuned_first,
            "reason_base_first": self.reason_base_first,
            "reason_tuned_first": self.reason_tuned_first,
        }
        if self.raw_unparsable:
            out["raw_unparsable"] = self.raw_unparsable
        return out


def combine(base_first: str, tuned_first: str) -> str:
    """Outcome from both orders' winners (each ``base``, ``tuned``, ``tie`` or ``unparsable``)."""
    if "unparsable" in (base_first, tuned_first):
        return "unparsable"
    if base_first == tuned_first and base_first in {"base", "tuned"}:
        return base_first
    return "tie"


class Judge:
    """Asks ``client`` to compare base and fine-tune on each generation, in both orders."""

    def __init__(
        self,
        client: ChatClient,
        rubric: str = DEFAULT_RUBRIC,
        with_reference: bool = True,
        concurrency: int = 1,
    ) -> None:
        self.client = client
        self.rubric = rubric
        self.with_reference = with_reference
        self.concurrency = max(1, concurrency)
        self.stats = {"asked": 0, "malformed_answers": 0, "reused": 0}
        self._lock = threading.Lock()

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def key(self, gen: Generation) -> str:
        """Identity of one judgement: judge, rubric, the prompt and both responses."""
        blob = json.dumps(
            [
                self.client.base_url,
                self.client.model,
                self.rubric,
                self.with_reference,
                gen.prompt,
                gen.reference,
                gen.base,
                gen.tuned,
            ]
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def prompt(self, gen: Generation, a: str, b: str) -> list[dict[str, str]]:
        conversation = "\n".join(f"<{m['role']}>: {m['content']}" for m in gen.prompt)
        reference = ""
        if self.with_reference:
            reference = f"\n[Reference answer]\n{gen.reference}\n"
        user = TEMPLATE.format(
            rubric=self.rubric, conversation=conversation, reference=reference, a=a, b=b
        )
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def _ask(self, messages: list[dict[str, str]]) -> tuple[tuple[str, str] | None, str]:
        raw = ""
        for _ in range(2):  # one retry for a malformed answer
            self._count("asked")
            raw = self.client.complete(messages, temperature=0, max_tokens=400)
            verdict = parse_verdict(raw)
            if verdict is not None:
                return verdict, raw
            self._count("malformed_answers")
        return None, raw

    def judge_one(self, gen: Generation) -> Judgement:
        sides = []
        reasons = []
        raws = []
        for first, second, names in (
            (gen.base, gen.tuned, {"A": "base", "B": "tuned"}),
            (gen.tuned, gen.base, {"A": "tuned", "B": "base"}),
        ):
            verdict, raw = self._ask(self.prompt(gen, first, second))
            if verdict is None:
                sides.append("unparsable")
                reasons.append("")
                raws.append(raw[:500])
            else:
                sides.append(names.get(verdict[0], "tie"))
                reasons.append(verdict[1])
        return Judgement(
            gen.id,
            combine(sides[0], sides[1]),
            sides[0],
            sides[1],
            reasons[0],
            reasons[1],
            " | ".join(raws),
            self.key(gen),
        )

    def judge_all(
        self,
        gens: Sequence[Generation],
        progress: Callable[[str, int, int], None] | None = None,
        saved: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[Judgement]:
        """Judge every pair, reusing ``saved`` judgements (by id) whose key still matches.

        Pairs are judged ``concurrency`` at a time; results keep the input order.
        """
        out: list[Judgement | None] = []
        for gen in gens:
            old = (saved or {}).get(gen.id)
            # An unparsable answer is asked again on a rerun; a verdict is kept.
            hit = (
                old is not None
                and old.get("key") == self.key(gen)
                and old.get("outcome") != "unparsable"
            )
            out.append(Judgement.from_dict(old) if hit else None)
        self.stats["reused"] = sum(j is not None for j in out)
        todo = [i for i, j in enumerate(out) if j is None]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for i, judgement in zip(
                todo, pool.map(lambda i: self.judge_one(gens[i]), todo), strict=True
            ):
                out[i] = judgement
                if progress:
                    progress("judge", 1, len(todo))
        return [j for j in out if j is not None]


def tally(judgements: Sequence[Judgement]) -> Tally:
    """Win/tie/loss of the fine-tune from judgements; unparsable ones counted apart."""
    counts = {"tuned": 0, "base": 0, "tie": 0, "unparsable": 0}
    for j in judgements:
        counts[j.outcome] += 1
    return Tally("judge", counts["tuned"], counts["tie"], counts["base"], counts["unparsable"])
