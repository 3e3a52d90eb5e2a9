"""Chromium for the browser tests: Debian's ``chromium`` (``playwright install`` cannot download browsers here),
and where the tests' screenshots go.

Example::

    executable = chromium_executable()          # None: not installed (scripts/setup.sh installs it as root)
    browser = playwright.chromium.launch(executable_path=executable, args=launch_args())
    with new_tab(browser) as page:
        page.goto(url)
        screenshot(page, "1-lineage")             # data/test-artifacts/browser/1-lineage.png
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

from playwright.sync_api import Browser, Page

from lakehouse.settings import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "data" / "test-artifacts" / "browser"  # git-ignored
UI_TIMEOUT_MS = 60_000  # a page or element on 2 shared cores, with a Spark JVM running beside the webserver
MISSING = ("no Chromium: the browser tests need Debian's chromium package "
           "(scripts/setup.sh installs it when run as root with apt-get; otherwise 'sudo apt-get install chromium')")


def chromium_executable() -> str | None:
    """``chromium`` on PATH (Debian's is /usr/bin/chromium); ``None`` when there is none."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    return path if os.access(path, os.X_OK) else None


def launch_args() -> list[str]:
    """Chromium's sandbox cannot run as root (CI and this machine run as root)."""
    return ["--no-sandbox"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def new_tab(browser: Browser) -> Iterator[Page]:
    """A tab of 1600×1000 in a context of its own (no cookies or storage from another tab), waiting up to a minute."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    """The whole page as ``data/test-artifacts/browser/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
