"""A headless Chromium per browser-test module and a fresh tab per test (with a screenshot when the test failed).

Without Chromium the tests are skipped, saying how to install it; under ``CI`` (which must run them) they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lakehouse_tests.test_browser.chromium import (
    ARTIFACTS,
    MISSING,
    UI_TIMEOUT_MS,
    chromium_executable,
    launch_args,
    new_tab,
    screenshot,
)

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the module; the screenshots of an earlier run are removed first."""
    executable = chromium_executable()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=launch_args())
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh tab for the test; ``data/test-artifacts/browser/<test>-failed.png`` shows it as it was if the test failed."""
    with new_tab(browser) as tab:
        yield tab
        if request.node.stash.get(_FAILED, False):
            screenshot(tab, f"{request.node.name}-failed")
