"""Pre-flight: every train and test row rendered through the real chat template and label mask
before the model is even loaded.

Reason codes (stable): ``truncated`` (longer than ``max_length``), ``no_loss_tokens`` (no
assistant token would carry loss, e.g. truncation cut them all), ``no_assistant`` (no assistant
message), ``not_chat`` (no ``messages`` list), ``template_error`` (the chat template rejected
the row), ``mask_mismatch`` (assistant tokens cannot be located), ``tools_not_rendered`` (the
chat template drops the row's ``tool_calls`` or ``tools``: the model would learn empty
assistant turns), plus the reader's codes for unreadable lines (``json_decode``,
``invalid_utf8``, ``not_an_object``, ``too_deep``).

Policies: ``refuse`` stops with the list (exit 1), ``drop`` removes every problem row,
``truncate`` keeps over-long rows cut at ``max_length`` when they still carry loss and drops
the rest. Dropped rows are written, with their reason, to a rejects file by the caller.
``tools_not_rendered`` refuses under every policy: it is the template, not the row, that is
wrong; ``tools_as_text`` (``--tools-as-text``) writes tool use into the text instead
(``curate.chat.tools_as_text``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from curate.chat import has_tool_use, tools_as_text
from curate.records import BadLine, Record
from curate.stage import Dropped, StageResult
from train.data import Item, TrainData
from train.masking import ChatEncoder, Encoded, RowProblem

STAGE = "preflight"


class PreflightFailed(Exception):
    """Problem rows under the ``refuse`` policy. Not a CurateError: the CLI exits 1 (findings).

    ``headline`` (when set) is the one line that says what is wrong with the whole run.
    """

    def __init__(
        self, problems: list[Dropped], summary: dict[str, Any], headline: str | None = None
    ) -> None:
        super().__init__(headline or f"pre-flight found {len(problems)} problem row(s)")
        self.problems = problems
        self.summary = summary
        self.headline = headline


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: Any) -> str:
    return str(tokenizer.apply_chat_template(messages, tools=tools, tokenize=False))


def tool_render_problem(tokenizer: Any, record: Any) -> str | None:
    """Why the chat template loses this record's tool use, or None when it shows all of it.

    A template shows tool calls when rendering with them differs from rendering without them
    and every called function's name is in the text; likewise for the ``tools`` definitions.
    """
    from train.masking import plain_messages

    msgs = record.get("messages")
    tools = record.get("tools") if isinstance(record.get("tools"), list) else None
    messages = plain_messages(msgs)
    calls = [c for m in messages for c in m.get("tool_calls") or [] if isinstance(c, dict)]
    if not calls and not tools:
        return None
    text = _render(tokenizer, messages, tools)
    lost = []
    if calls:
        bare = [{k: v for k, v in m.items() if k != "tool_calls"} for m in messages]
        names = [str((c.get("function") or {}).get("name")) for c in calls]
        if _render(tokenizer, bare, tools) == text or not all(n in text for n in names):
            lost.append(f"{len(calls)} tool call(s) ({', '.join(sorted(set(names)))})")
    if tools:
        names = [str((t.get("function") or t).get("name")) for t in tools if isinstance(t, dict)]
        if _render(tokenizer, messages, None) == text or not all(n in text for n in names):
            lost.append(f"{len(tools)} tool definition(s)")
    if not lost:
        return None
    return " and ".join(lost) + " missing from the rendered text"


def template_name(tokenizer: Any, chat_template: str | None = None) -> str:
    """How to name the chat template in messages: the --chat-template value or the model's."""
    if chat_template:
        return f"chat template {chat_template[:60]!r}"
    return f"the chat template of {getattr(tokenizer, 'name_or_path', None) or 'the tokenizer'}"


@dataclass
class SplitCheck:
    """One split after pre-flight: kept records with their encodings, and every problem."""

    name: str
    source: str
    result: StageResult
    encoded: list[Encoded]
    problems: list[Dropped]
    rows: int = 0  # every input row, problems included (under refuse they are not "dropped")

    def as_dict(self) -> dict[str, Any]:
        lengths = [len(e.input_ids) for e in self.encoded]
        return {
            "source": self.source,
            "rows": self.rows,
            "kept": len(self.result.kept),
            "dropped": len(self.result.dropped),
            "problems": dict(sorted(Counter(p.reason for p in self.problems).items())),
            "truncated_kept": sum(1 for e in self.encoded if e.truncated),
            "tokens": sum(lengths),
            "loss_tokens": sum(e.n_loss for e in self.encoded),
            "max_tokens": max(lengths, default=0),
            "mean_tokens": round(sum(lengths) / len(lengths), 1) if lengths else 0.0,
        }


@dataclass
class Preflight:
    train: SplitCheck
    eval: SplitCheck | None  # eval-loss rows (val or a slice carved from train; never test)
    method: str
    max_length: int
    warnings: list[str] = field(default_factory=list)
    budget: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> list[Dropped]:
        return self.train.result.dropped + (self.eval.result.dropped if self.eval else [])

    def as_dict(self) -> dict[str, Any]:
        return {
            "masking": self.method,
            "max_length": self.max_length,
            "train": self.train.as_dict(),
            "eval": self.eval.as_dict() if self.eval else None,
            "budget": self.budget,
            "warnings": self.warnings,
        }


def problem_line(d: Dropped) -> str:
    return f"{d.record.ref}: {d.reason}: {d.detail}"


def _as_record(item: BadLine) -> Record:
    return Record(item.source, item.line, item.raw, item.line)


def check_split(
    name: str,
    source: str,
    items: list[Item],
    encoder: ChatEncoder,
    policy: str,
    as_text: bool = False,
) -> SplitCheck:
    """Encode every row; sort it into kept / dropped per ``policy`` (refuse drops nothing).

    ``as_text``: rows with tool use are rewritten by ``tools_as_text`` first.
    """
    kept: list[Record] = []
    encoded: list[Encoded] = []
    dropped: list[Dropped] = []
    problems: list[Dropped] = []
    max_length = encoder.max_length
    for item in items:
        problem: Dropped | None = None
        enc: Encoded | None = None
        if isinstance(item, BadLine):
            problem = Dropped(_as_record(item), STAGE, item.reason, item.message)
        else:
            tools = has_tool_use(item.data)
            # Rewritten for rendering only: kept and rejected rows stay as they were read.
            data = tools_as_text(item.data) if as_text and tools else item.data
            try:
                enc = encoder.encode(data)
                lost = tool_render_problem(encoder.tokenizer, data) if tools else None
                if lost is not None:
                    raise RowProblem("tools_not_rendered", lost)
            except RowProblem as exc:
                problem = Dropped(item, STAGE, exc.reason, exc.detail)
            else:
                if enc.n_loss == 0:
                    why = (
                        f"{enc.n_tokens} tokens; truncation at max_length {max_length} "
                        "cuts every assistant token"
                        if enc.n_loss_full
                        else "no token carries loss under this chat template"
                    )
                    problem = Dropped(item, STAGE, "no_loss_tokens", why, {"tokens": enc.n_tokens})
                elif enc.truncated:
                    problem = Dropped(
                        item,
                        STAGE,
                        "truncated",
                        f"{enc.n_tokens} tokens > max_length {max_length}; "
                        f"{enc.n_loss_full - enc.n_loss} of {enc.n_loss_full} loss tokens cut",
                        {"tokens": enc.n_tokens},
                    )
        if problem is not None:
            problems.append(problem)
        keep = problem is None or (policy == "truncate" and problem.reason == "truncated")
        if keep and enc is not None and isinstance(item, Record):
            kept.append(item)
            encoded.append(enc)
        elif problem is not None and policy != "refuse":
            dropped.append(problem)
        # Under refuse nothing is dropped: the run stops on ``problems`` instead.
    result = StageResult(kept, dropped, {"reasons": dict(Counter(d.reason for d in dropped))})
    return SplitCheck(name, source, result, encoded, problems, rows=len(items))


def run_preflight(
    data: TrainData,
    encoder: ChatEncoder,
    policy: str = "refuse",
    min_examples: int = 100,
    epochs: float = 1.0,
    max_steps: int = -1,
    effective_batch: int = 1,
    tools_as_text: bool = False,
    template: str | None = None,
) -> Preflight:
    """Check both splits. Raises ``PreflightFailed`` under ``refuse`` when any row has a
    problem, and under every policy when the chat template drops rows' tool use (``template``
    names it in the message); otherwise returns what will be trained on, with the token
    budget and warnings. ``tools_as_text``: render tool use as text (``curate.chat``)."""
    train = check_split("train", data.train_source, data.train, encoder, policy, tools_as_text)
    evaluation = (
        check_split("eval", data.eval_source or "", data.eval, encoder, policy, tools_as_text)
        if data.eval is not None
        else None
    )
    pf = Preflight(train, evaluation, encoder.method, encoder.max_length)
    n = len(train.encoded)
    tokens_per_epoch = sum(len(e.input_ids) for e in train.encoded)
    steps_per_epoch = math.ceil(n / effective_batch) if n else 0
    planned_epochs = (
        (max_steps / steps_per_epoch if steps_per_epoch else 0.0) if max_steps > 0 else epochs
    )
    pf.budget = {
        "train_rows": n,
        "tokens_per_epoch": tokens_per_epoch,
        "loss_tokens_per_epoch": sum(e.n_loss for e in train.encoded),
        "steps_per_epoch": steps_per_epoch,
        "planned_epochs": round(planned_epochs, 3),
        "planned_tokens": round(tokens_per_epoch * planned_epochs),
    }
    if n and n < min_examples:
        pf.warnings.append(
            f"only {n} training examples (fewer than {min_examples}): expect over-fitting; "
            "a few hundred to a few thousand good examples is the usual minimum"
        )
    if evaluation is None:
        pf.warnings.append("no eval rows (no val split, train too small to carve): no eval loss")
    all_problems = train.problems + (evaluation.problems if evaluation else [])
    lost = [p for p in all_problems if p.reason == "tools_not_rendered"]
    if lost:
        name = template or template_name(encoder.tokenizer)
        raise PreflightFailed(
            lost,
            pf.as_dict(),
            f"{name} does not render tool calls / tool definitions: {len(lost)} row(s) would "
            "train on empty assistant turns or without their tools; pass --tools-as-text to "
            "write them into the text (format in docs/train.md), or use a template that "
            "renders tool_calls and tools (--chat-template)",
        )
    if policy == "refuse" and all_problems:
        raise PreflightFailed(all_problems, pf.as_dict())
    return pf
