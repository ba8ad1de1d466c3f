"""What the trainer sees: records rendered through the model's real chat template.

Each record goes through ``train.masking.ChatEncoder``, the very code that builds the training
rows, so the page shows exactly the tokens and labels training uses: loss-bearing tokens are
highlighted, and the point where ``max_length`` cuts the row is marked (what follows it is
never seen). Tools appear as the template renders them. This is Axolotl's ``--debug`` view, as
a page (``curate train --preview N``, and a section of ``curate run``'s report when a
tokenizer is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from curate.report.html import Markup, esc, html_page, kv_table, para
from curate.report.records import RECORD_CSS

# Tokens beyond the cut are shown up to this many, so one huge row cannot bloat the page.
MAX_TOKENS_AFTER_CUT = 400
UNLIMITED = 10**9


def _segments(tok: Any, ids: list[int], loss: list[bool]) -> list[tuple[bool, str, int]]:
    """Runs of tokens with the same loss flag, decoded as one text each (keeps multi-byte
    characters that span tokens whole, which decoding token by token would break)."""
    out: list[tuple[bool, str, int]] = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or loss[i] != loss[start]:
            text = tok.decode(ids[start:i], skip_special_tokens=False)
            out.append((loss[start], text, i - start))
            start = i
    return out


def render_tokens(tok: Any, ids: list[int], labels: list[int], max_length: int) -> Markup:
    """The rendered row: loss-bearing runs highlighted, a marker at ``max_length``."""
    from train.masking import IGNORE

    loss = [x != IGNORE for x in labels]
    keep_ids, keep_loss = ids[:max_length], loss[:max_length]
    parts = []
    for is_loss, text, n in _segments(tok, keep_ids, keep_loss):
        cls = "loss" if is_loss else "ctx"
        title = f"{n} token{'s' if n != 1 else ''}" + (", loss" if is_loss else ", no loss")
        parts.append(f'<span class="{cls}" title="{esc(title)}">{esc(text)}</span>')
    if len(ids) > max_length:
        rest_ids = ids[max_length : max_length + MAX_TOKENS_AFTER_CUT]
        lost = sum(loss[max_length:])
        parts.append(
            f'<span class="trunc">✂ max_length {max_length:,}: the trainer never sees the '
            f"{len(ids) - max_length:,} tokens below ({lost:,} of them loss-bearing)</span>"
        )
        more = len(ids) - max_length - len(rest_ids)
        parts.append(
            f'<span class="cutoff">{esc(tok.decode(rest_ids, skip_special_tokens=False))}</span>'
        )
        if more > 0:
            parts.append(f'<span class="muted"> … {more:,} more tokens</span>')
    return Markup('<div class="tok">' + "".join(parts) + "</div>")


def preview_body(
    tokenizer: Any,
    records: Sequence[Any],
    max_length: int,
    assistant_only_loss: bool = True,
    names: Sequence[str] = (),
) -> Markup:
    """One block per record: its token and loss counts, then the rendered row."""
    from train.masking import ChatEncoder, RowProblem

    enc = ChatEncoder(tokenizer, assistant_only_loss, max_length=UNLIMITED)
    out = [
        para(
            f"{len(records)} records rendered through the chat template ({enc.method} loss "
            f"mask). Green: tokens that carry loss (what the model learns to write); grey "
            f"background: context only. A red bar marks where max_length={max_length:,} cuts "
            "the row."
        )
    ]
    for n, data in enumerate(records):
        name = names[n] if n < len(names) else f"record {n + 1}"
        try:
            e = enc.encode(data)
        except RowProblem as exc:
            out.append(
                Markup(f"<h3>{esc(name)}</h3>")
                + para(f"cannot be rendered: {exc.reason}: {exc.detail}")
            )
            continue
        cut = e.n_tokens > max_length
        n_loss_kept = sum(1 for x in e.labels[:max_length] if x != -100)
        out.append(
            Markup(f"<h3>{esc(name)}</h3>")
            + kv_table(
                {
                    "tokens": f"{e.n_tokens:,}" + (f" (cut to {max_length:,})" if cut else ""),
                    "loss-bearing tokens": f"{n_loss_kept:,} of {e.n_loss_full:,}",
                }
            )
            + render_tokens(tokenizer, e.input_ids, e.labels, max_length)
        )
    return Markup("".join(out))


def load_tokenizer(path: str, chat_template: str | None = None) -> Any:
    """A local tokenizer with a chat template (``--chat-template`` as ``curate train`` reads it)."""
    from curate.errors import ConfigError

    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"tokenizer {path}: cannot load: {exc}") from exc
    if chat_template:
        from train.model import resolve_chat_template

        tok.chat_template = resolve_chat_template(chat_template)
    if not getattr(tok, "chat_template", None):
        raise ConfigError(f"tokenizer {path}: it has no chat template")
    return tok


def preview_section(
    path: str, records: Sequence[Any], max_length: int | None, names: Sequence[str] = ()
) -> Markup:
    """The run report's "What the trainer sees" for a tokenizer folder."""
    from curate.errors import ConfigError

    try:
        tok = load_tokenizer(path)
    except ConfigError as exc:
        return para(f"Not rendered: {exc}")
    return preview_body(tok, records, max_length or 1024, names=names)


def preview_page(
    tokenizer: Any,
    records: Sequence[Any],
    max_length: int,
    assistant_only_loss: bool = True,
    names: Sequence[str] = (),
    title: str = "What the trainer sees",
    info: dict[str, Any] | None = None,
) -> str:
    """A standalone page (``curate train --preview N``)."""
    body = Markup(kv_table(info) if info else "") + preview_body(
        tokenizer, records, max_length, assistant_only_loss, names
    )
    return html_page(title, [("Rendered rows", body)], extra_css=RECORD_CSS)


def write_preview(data: str, out: str, cfg: Any, n: int) -> str:
    """``curate train --preview N``: OUT/preview.html for the first N train rows.

    Uses the training config (model tokenizer, ``--chat-template``, ``max_length``,
    ``assistant_only_loss``) exactly as ``curate train`` would.
    """
    from pathlib import Path

    from curate.records import Record, atomic_writer
    from train.data import load_data
    from train.model import load_tokenizer as train_tokenizer

    tok = train_tokenizer(cfg)
    rows = [r for r in load_data(data).train if isinstance(r, Record)][:n]
    t = cfg.training
    page = preview_page(
        tok,
        [r.data for r in rows],
        t.max_length,
        t.assistant_only_loss,
        names=[f"{r.source}:{r.line}" for r in rows],
        title=f"What the trainer sees: {data}",
        info={
            "model": cfg.model.name_or_path,
            "max_length": t.max_length,
            "loss": "assistant tokens only" if t.assistant_only_loss else "every token",
        },
    )
    path = Path(out) / "preview.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path, "w") as fh:
        fh.write(page)
    return str(path)
