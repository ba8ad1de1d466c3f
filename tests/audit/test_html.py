"""The HTML report: self-contained, and it renders in a real headless Chromium with its plots
and no console errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.report import Markup, Section, esc, html_page, table
from curate.report.plots import bar_chart
from tests.audit.audit_data import chat, clean_rows, write_jsonl
from tests.browser import console_lines, run_chromium

# Injected into a copy of the page: counts images that decoded (naturalWidth > 0) once loaded.
PROBE = (
    "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
    " document.body.setAttribute('data-plots', imgs.filter(i => i.complete && i.naturalWidth > 0)"
    ".length + '/' + imgs.length); });</script>"
)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit page with findings and every plot: shape, languages, clusters (MiniLM), labels."""
    tmp = tmp_path_factory.mktemp("html")
    rows = clean_rows(40)
    rows[3] = chat("Who are you?", "I am {{name}}, made by {{author}}.", meta={"category": "x"})
    rows.append(chat("How do I water a cactus? I have never done it before.", "Never water it."))
    rows.append(
        chat("请详细解释一下雨是怎么形成的？", "雨是由云中的小水滴聚集变大后落到地面形成的。")
    )
    data = write_jsonl(tmp / "data.jsonl", rows)
    out = tmp / "report" / "audit.html"
    result = CliRunner().invoke(
        main, ["audit", str(data), "--html", str(out), "--label", "meta.category"]
    )
    assert result.exit_code == 0, result.stderr
    return out


def test_page_is_self_contained(report_html: Path) -> None:
    page = report_html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # No external resource of any kind: it must open offline.
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)
    srcs = re.findall(r'<img class="plot" alt="[^"]*" src="([^"]+)"', page)
    # tokens, languages, named topics, labels; no turns chart: every conversation is
    # single-turn, and a one-bar chart says nothing.
    assert len(srcs) == 4
    assert "histogram of user turns" not in page and "bar chart of topic shares" in page
    assert all(s.startswith("data:image/png;base64,") and len(s) > 2000 for s in srcs)
    assert "{{name}}" in page and "template_placeholder" in page
    for section in ("Summary", "Findings", "Shape", "Languages", "Diversity"):
        assert f"<h2>{section}</h2>" in page


def test_page_renders_in_headless_chromium(report_html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "audit.png"
    result = run_chromium(
        tmp_path / "profile1",
        "--window-size=1280,3000",
        f"--screenshot={shot}",
        report_html.as_uri(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 50_000  # a real page, not a blank one
    # Chromium logs every console message (errors included) as INFO:CONSOLE; the page's
    # script logs nothing, so any console line is a problem (a failed resource, a CSP error,
    # a script error...).
    assert console_lines(result.stderr) == []

    probe = tmp_path / "probe.html"
    probe.write_text(
        report_html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
        encoding="utf-8",
    )
    dom = run_chromium(tmp_path / "profile2", "--dump-dom", probe.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-plots="4/4"' in dom.stdout
    assert console_lines(dom.stderr) == []
    keep = os.environ.get("CURATE_KEEP_SCREENSHOT")
    if keep:  # for looking at it by eye
        Path(keep).write_bytes(shot.read_bytes())


def test_html_helpers_escape_untrusted_text() -> None:
    page = html_page(
        "A <b>title</b>",
        [Section("One", table(["h"], [["<script>x</script>"], [Markup("<i>ok</i>")]]))],
    )
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert "<i>ok</i>" in page and "A &lt;b&gt;title&lt;/b&gt;" in page
    assert esc(0.123456) == "0.1235"


def test_figures_are_deterministic() -> None:
    a = bar_chart(["a", "b"], [1, 2], "t")
    b = bar_chart(["a", "b"], [1, 2], "t")
    assert a == b and a.startswith("data:image/png;base64,")
