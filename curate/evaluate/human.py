"""Blind human rating: export a side-by-side sheet, import the filled one, count and test.

The sheet shows each prompt with two responses labelled A and B; which side is the fine-tune is
drawn per row from a seeded RNG and written only to the key file (keep it away from raters).
Raters fill the ``preference`` column with ``A``, ``B`` or ``tie`` (blank = not rated) in the
CSV, or click through the HTML page and download the same columns as ``ratings.csv``.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import InputError
from curate.evaluate.pairs import Generation
from curate.evaluate.stats import Tally
from curate.records import atomic_writer

SHEET_CSV = "human_sheet.csv"
SHEET_HTML = "human_sheet.html"
KEY_JSON = "human_key.json"
COLUMNS = ["row", "prompt", "reference", "response_a", "response_b", "preference", "notes"]
_PREFS = {"a": "A", "b": "B", "tie": "tie", "=": "tie", "same": "tie", "equal": "tie"}


def _prompt_text(gen: Generation) -> str:
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in gen.prompt)


def export_sheet(
    gens: Sequence[Generation], out_dir: str | os.PathLike[str], seed: int = 0
) -> dict[str, str]:
    """Write the blind sheet (CSV + HTML) and its key; returns the three paths."""
    out = Path(out_dir)
    rng = random.Random(seed)
    rows, key = [], []
    for n, gen in enumerate(gens, start=1):
        tuned_is_a = rng.random() < 0.5
        a, b = (gen.tuned, gen.base) if tuned_is_a else (gen.base, gen.tuned)
        rows.append(
            {
                "row": n,
                "prompt": _prompt_text(gen),
                "reference": gen.reference,
                "response_a": a,
                "response_b": b,
                "preference": "",
                "notes": "",
            }
        )
        key.append(
            {
                "row": n,
                "id": gen.id,
                "A": "tuned" if tuned_is_a else "base",
                "B": "base" if tuned_is_a else "tuned",
                # Which responses were rated, so an import can tell when they have changed.
                "pair_keys": [gen.base_key, gen.tuned_key],
            }
        )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    paths = {"csv": str(out / SHEET_CSV), "html": str(out / SHEET_HTML), "key": str(out / KEY_JSON)}
    with atomic_writer(paths["csv"], "w") as fh:
        fh.write(buf.getvalue())
    with atomic_writer(paths["html"], "w") as fh:
        fh.write(_sheet_html(rows))
    with atomic_writer(paths["key"], "w") as fh:
        json.dump({"seed": seed, "rows": key}, fh, indent=1)
        fh.write("\n")
    return paths


@dataclass(frozen=True)
class HumanResult:
    """Imported ratings mapped back to base / fine-tune."""

    tally: Tally
    rows: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {**self.tally.as_dict(), "ratings": self.rows}


def _read_key(path: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {int(r["row"]): r for r in data["rows"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a readable human_key.json: {exc}") from exc


def import_ratings(sheet: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> HumanResult:
    """Read a filled sheet (or the HTML page's ratings.csv) and count fine-tune wins.

    Needs the columns ``row`` and ``preference``; other columns are ignored. A blank
    preference is "not rated". A bad value, an unknown or repeated row is an error naming
    the file and line.
    """
    key = _read_key(key_path)
    try:
        text = Path(sheet).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{sheet}: cannot read ratings: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"row", "preference"} <= set(reader.fieldnames):
        raise InputError(f"{sheet}: needs the columns 'row' and 'preference'")
    counts = {"tuned": 0, "base": 0, "tie": 0, "unrated": 0}
    rows, seen = [], set()
    for rec in reader:
        where = f"{sheet}:{reader.line_num}"
        try:
            n = int((rec.get("row") or "").strip())
        except ValueError:
            raise InputError(f"{where}: row must be a number, got {rec.get('row')!r}") from None
        if n not in key:
            raise InputError(f"{where}: row {n} is not in the key {key_path}")
        if n in seen:
            raise InputError(f"{where}: row {n} is rated twice")
        seen.add(n)
        raw = (rec.get("preference") or "").strip()
        if not raw:
            counts["unrated"] += 1
            rows.append({"row": n, "id": key[n]["id"], "outcome": "unrated"})
            continue
        pref = _PREFS.get(raw.lower())
        if pref is None:
            raise InputError(f"{where}: preference must be A, B, tie or empty, got {raw!r}")
        outcome = "tie" if pref == "tie" else key[n][pref]
        counts[outcome] += 1
        pair = key[n].get("pair_keys")
        rows.append(
            {
                "row": n,
                "id": key[n]["id"],
                "outcome": outcome,
                "notes": (rec.get("notes") or "").strip(),
                "pair_keys": tuple(pair) if isinstance(pair, list) else None,
            }
        )
    # Rows of the key missing from the sheet are unrated too, so the counts cover the key.
    counts["unrated"] += len(set(key) - seen)
    tally = Tally("human", counts["tuned"], counts["tie"], counts["base"], counts["unrated"])
    return HumanResult(tally, sorted(rows, key=lambda r: r["row"]))


_SHEET_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1300px;color:#222}
.item{border:1px solid #ccc;border-radius:6px;padding:.8em;margin:1em 0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.6em;margin:.3em 0;
border-radius:4px} .pair>div{min-width:0}
h3{margin:.2em 0} label{margin-right:1.2em} input[type=text]{width:60%}
"""

_SHEET_JS = """
function download(){
  const rows=[["row","preference","notes"]];
  document.querySelectorAll('.item').forEach(el=>{
    const r=el.dataset.row, c=el.querySelector('input[type=radio]:checked');
    const notes=el.querySelector('input[type=text]').value.replace(/"/g,'""');
    rows.push([r, c?c.value:"", '"'+notes+'"']);
  });
  const blob=new Blob([rows.map(r=>r.join(',')).join('\\n')+'\\n'],{type:'text/csv'});
  const a=document.createElement('a'); a.href=URL.createObjectURL(blob);
  a.download='ratings.csv'; a.click();
}
"""


def _sheet_html(rows: list[dict[str, Any]]) -> str:
    e = html.escape
    items = []
    for r in rows:
        n = r["row"]
        radios = "".join(
            f'<label><input type="radio" name="p{n}" value="{v}"> {t}</label>'
            for v, t in (("A", "A is better"), ("B", "B is better"), ("tie", "tie"))
        )
        items.append(
            f'<div class="item" data-row="{n}"><h3>#{n}</h3><pre>{e(r["prompt"])}</pre>'
            f"<details><summary>reference answer</summary><pre>{e(r['reference'])}</pre></details>"
            f'<div class="pair"><div><b>A</b><pre>{e(r["response_a"])}</pre></div>'
            f"<div><b>B</b><pre>{e(r['response_b'])}</pre></div></div>"
            f'{radios}<input type="text" placeholder="notes (optional)"></div>'
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Blind rating sheet</title>"
        f"<style>{_SHEET_CSS}</style></head><body><h1>Blind rating sheet</h1>"
        "<p>For each prompt, pick the better response (or tie). A and B are shuffled per row. "
        "Then press <button onclick='download()'>Download ratings.csv</button> and hand the "
        "file back (it imports with <code>curate eval ... --human-ratings ratings.csv</code>)."
        f"</p>{''.join(items)}<script>{_SHEET_JS}</script></body></html>\n"
    )
