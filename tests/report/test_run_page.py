"""The run report in a real headless chromium: it renders without console errors, a finding
opens to its records, the filters narrow them, nothing is fetched from the network, and record
text that looks like markup stays text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from tests.audit.audit_data import chat, clean_rows, write_jsonl
from tests.browser import console_lines, page_requests, run_chromium

HOSTILE = [
    "<script>window.pwned = 1</script> how do I escape HTML?",
    "</details></details><b>broken</b> is this closed?",
    '<img src=x onerror="window.pwned = 2"> why does this image fail?',
]

# Runs after the page's own script: opens a finding, uses the filters and records the results
# as attributes of <body>, which --dump-dom prints.
DRIVER = """<script>
window.addEventListener('load', function () {
  var b = document.body, set = function (k, v) { b.setAttribute('data-t-' + k, String(v)); };
  var visible = function (el) { return el.checkVisibility(); };
  var group = document.getElementById('finding-template_placeholder');
  var recs = group.querySelectorAll('details.rec');
  set('before', Array.prototype.filter.call(recs, visible).length);
  group.querySelector('summary').click();
  set('after', Array.prototype.filter.call(recs, visible).length);
  recs[0].querySelector('summary').click();
  set('record-text', recs[0].querySelector('.msgs').textContent.indexOf('{{name}}') >= 0);
  var all = document.querySelectorAll('details.rec').length;
  set('all', all);
  var sel = document.querySelector('#filters select[data-key="finding"]');
  sel.value = 'template_placeholder'; sel.dispatchEvent(new Event('change'));
  set('by-finding', b.getAttribute('data-matching'));
  sel.value = ''; sel.dispatchEvent(new Event('change'));
  var split = document.querySelector('#filters select[data-key="split"]');
  split.value = 'rejected'; split.dispatchEvent(new Event('change'));
  set('by-split', b.getAttribute('data-matching'));
  split.value = ''; split.dispatchEvent(new Event('change'));
  var q = document.querySelector('#filters input[type=search]');
  q.value = 'cactus'; q.dispatchEvent(new Event('input'));
  set('by-text', b.getAttribute('data-matching'));
  set('filters-shown', !document.getElementById('filters').hidden);
  set('pwned', window.pwned || 0);
  set('imgs-onerror', document.querySelectorAll('img[onerror]').length);
  set('scripts', document.scripts.length);
});
</script>"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("runpage")
    rows: list = clean_rows(40)
    rows.append(rows[0])  # an exact duplicate
    rows.append(chat("Who are you?", "I am {{name}}, made by {{author}}.", category="x"))
    rows.append(chat("Who made you?", "I was built by {{author}} for {{company}}.", category="x"))
    rows += [chat(h, "Escape it as text: " + h, category="x") for h in HOSTILE]
    rows.append("{not json")
    data = write_jsonl(tmp / "data.jsonl", rows)
    out = tmp / "out"
    # A tokenizer in the config adds "What the trainer sees" to the report.
    config = tmp / "curate.yaml"
    config.write_text(f"validate:\n  tokenizer: {tiny_model_dir}\n", encoding="utf-8")
    args = ["run", str(data), "-o", str(out), "--config", str(config), "--stratify", "category"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1), result.stderr
    return out


def _page(run_dir: Path) -> str:
    return (run_dir / "report.html").read_text(encoding="utf-8")


def test_page_holds_records_sections_and_escapes_markup(run_dir: Path) -> None:
    page = _page(run_dir)
    for section in ("Run", "Findings", "Diversity", "Duplicates", "Rejects"):
        assert f"<h2>{section}</h2>" in page
    trainer = page[page.index("<h2>What the trainer sees</h2>") :]
    assert trainer.count('<div class="tok">') == 5 and '<span class="loss"' in trainer
    # Each finding opens to its records, with file and line.
    assert 'id="finding-template_placeholder"' in page
    assert re.search(r'<code class="where">[^<]*data\.jsonl:42</code>', page)
    # The exact duplicate sits next to the record it duplicates, and the reject is browsable.
    assert "exact_duplicate" in page and 'id="reject-dedup-exact_duplicate"' in page
    assert 'id="reject-read-json_decode"' in page and "{not json" in page
    # Hostile text is escaped: only the page's own script, no live <img onerror>.
    assert page.count("<script>") == 1
    assert "&lt;script&gt;window.pwned" in page
    assert "&lt;/details&gt;&lt;/details&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror" in page
    # No external resource of any kind: it opens offline.
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)


def test_page_in_chromium_drills_down_filters_and_stays_offline(
    run_dir: Path, tmp_path: Path
) -> None:
    page = _page(run_dir)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", DRIVER + "</body>"), encoding="utf-8")
    netlog = tmp_path / "net.json"
    dom = run_chromium(
        tmp_path / "profile", f"--log-net-log={netlog}", "--dump-dom", probe.as_uri()
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_lines(dom.stderr) == []
    attrs = dict(re.findall(r'data-t-([a-z-]+)="([^"]*)"', dom.stdout))
    assert attrs["before"] == "0"  # closed: its records are hidden
    assert int(attrs["after"]) == 2  # opened by a click: both placeholder records show
    assert attrs["record-text"] == "true"
    assert attrs["filters-shown"] == "true"
    total = int(attrs["all"])
    assert 0 < int(attrs["by-finding"]) < total
    assert int(attrs["by-split"]) >= 2  # the duplicate and the bad line at least
    assert 0 < int(attrs["by-text"]) < total
    assert attrs["pwned"] == "0" and attrs["imgs-onerror"] == "0"
    assert attrs["scripts"] == "2"  # the page's and the driver's, none from record text
    # The browser's own request log: the page asked the network for nothing.
    assert page_requests(netlog) == []


def test_request_log_sees_what_a_page_loads(tmp_path: Path) -> None:
    """The check above can fail: a page that loads an image and fetches is caught."""
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img src="http://127.0.0.1:9/x.png"><script>fetch("http://127.0.0.1:9/a")'
        ".catch(() => {})</script></body></html>",
        encoding="utf-8",
    )
    netlog = tmp_path / "net.json"
    run_chromium(tmp_path / "profile", f"--log-net-log={netlog}", "--dump-dom", page.as_uri())
    assert sorted(page_requests(netlog)) == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/x.png"]


def test_page_renders_without_its_script(run_dir: Path, tmp_path: Path) -> None:
    """Without JavaScript the page is whole: the lists are native <details>, the filter bar
    (the only scripted part) stays hidden."""
    page = _page(run_dir)
    bare = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert "<script" not in bare and 'id="filters" class="filters" hidden' in bare
    path = tmp_path / "bare.html"
    path.write_text(bare, encoding="utf-8")
    shot = tmp_path / "bare.png"
    result = run_chromium(
        tmp_path / "profile", "--window-size=1280,2000", f"--screenshot={shot}", path.as_uri()
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 30_000
    assert console_lines(result.stderr) == []
    assert bare.count('<details class="rec"') == page.count('<details class="rec"') > 5
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["balanced"] is True
