"""Headless Debian chromium for the HTML report tests (installed by scripts/setup.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Background networking off: this machine's closed network refuses those connections.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Console messages (errors included) go to stderr as INFO:CONSOLE lines, for the tests.
    "--enable-logging=stderr",
    "--v=0",
]


def console_lines(stderr: str) -> list[str]:
    """The page's console messages in a chromium run's stderr."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def chromium() -> str:
    """The chromium binary; fails the test in CI (it must be installed), skips elsewhere."""
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")):
        if path and os.path.exists(path):
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (scripts/setup.sh installs it), and CI=true")
    pytest.skip("chromium is not installed")


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless chromium with a fresh profile folder; ``args`` end with the page URL."""
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def page_requests(netlog: Path) -> list[str]:
    """URLs the page asked the network for, from chromium's ``--log-net-log`` file.

    The browser's own background requests (time sync, account checks) carry the initiator
    ``not an origin``; anything the page loads (an ``<img src=http...>``, a fetch) carries the
    page's origin (``null`` for a file:// page). file:// and data: loads are not network
    requests and do not appear.
    """
    import json

    text = netlog.read_text(encoding="utf-8")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # chromium killed before it closed the JSON
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    return [
        e["params"]["url"]
        for e in log["events"]
        if names.get(e["type"]) == "URL_REQUEST_START_JOB"
        and "url" in e.get("params", {})
        and e["params"].get("initiator") != "not an origin"
    ]
