"""The evaluation report in a real headless Chromium, checked as a person would look at it.

Needs a Chromium binary (Debian: chromium-headless-shell or chromium; or $BIGTRAIN_CHROMIUM). Without one the
tests fail, they do not skip: CI installs the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from components.evaluate.report import render_report
from tests.report.browser import ENV_OVERRIDE, Browser, find_chromium, missing_chromium
from tests.report.synthetic import HOSTILE, SLICES, report_inputs

SCREENSHOT_ENV = "BIGTRAIN_REPORT_SCREENSHOT"  # also save the screenshot here, to look at it
VIEWPORT = (1280, 900)

# What a reader would notice, gathered in the page in one go.
LOOK = """(() => {
  const visible = (el) => {
    if (!el) return false;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && style.display !== 'none'
      && parseFloat(style.opacity) > 0;
  };
  const decision = document.getElementById('decision-text');
  return {
    images: [...document.images].map((img) => ({
      alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
      shownWidth: img.getBoundingClientRect().width, visible: visible(img),
      overflows: img.getBoundingClientRect().right > img.closest('section').getBoundingClientRect().right + 1,
    })),
    sliceRows: [...document.querySelectorAll('#slice-table tbody tr')].map((tr) => tr.dataset.slice),
    sliceCells: [...document.querySelectorAll('#slice-table tbody td.slice')].map((td) => td.innerText),
    decisionText: decision ? decision.innerText : null,
    decisionVisible: visible(decision),
    decisionTop: decision ? decision.getBoundingClientRect().top : null,
    reasons: [...document.querySelectorAll('#decision li')].map((li) => li.innerText),
    scripts: document.scripts.length,
    pageWidth: document.documentElement.scrollWidth,
    viewportWidth: window.innerWidth,
    viewportHeight: window.innerHeight,
  };
})()"""


@pytest.fixture(scope="module")
def browser_view(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Render the synthetic report, open it in Chromium, gather what a reader sees and take a screenshot."""
    chromium = find_chromium()
    if chromium is None:
        return {"missing": missing_chromium()}
    inputs = report_inputs()
    directory = tmp_path_factory.mktemp("report")
    page = directory / "report.html"
    page.write_text(render_report(**inputs), encoding="utf-8")
    screenshot = Path(os.environ.get(SCREENSHOT_ENV) or directory / "report.png")
    with Browser(chromium, *VIEWPORT) as browser:
        browser.open(page)
        seen = browser.evaluate(LOOK)
        urls = browser.requested_urls()
        browser.screenshot(screenshot)
    return {"inputs": inputs, "seen": seen, "urls": urls, "screenshot": screenshot}


def _require(looked: dict[str, Any]) -> dict[str, Any]:
    """What the browser saw. Called in each test body, so without Chromium the test fails (not errors, not skips)."""
    if "missing" in looked:
        pytest.fail(looked["missing"], pytrace=False)
    return looked


def test_every_image_loads_and_fits(browser_view: dict[str, Any]) -> None:
    looked = _require(browser_view)
    images = looked["seen"]["images"]
    assert len(images) == 6
    for image in images:
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0, image["alt"]
        assert image["visible"] and image["shownWidth"] > 200, image["alt"]
        assert not image["overflows"], f"{image['alt']} sticks out of its section"


def test_one_row_per_slice(browser_view: dict[str, Any]) -> None:
    looked = _require(browser_view)
    rows = looked["seen"]["sliceRows"]
    assert sorted(rows) == sorted(SLICES)
    assert HOSTILE in looked["seen"]["sliceCells"]  # the hostile name reads as text, nothing ran
    assert looked["seen"]["scripts"] == 0


def test_blessing_decision_is_visible_without_scrolling(browser_view: dict[str, Any]) -> None:
    looked = _require(browser_view)
    seen = looked["seen"]
    assert seen["decisionText"] == "NOT BLESSED"
    assert seen["decisionVisible"]
    assert 0 <= seen["decisionTop"] < seen["viewportHeight"]
    assert seen["reasons"] == looked["inputs"]["evaluation"]["failures"]


def test_page_fits_the_window_and_requests_nothing_outside(browser_view: dict[str, Any]) -> None:
    looked = _require(browser_view)
    seen = looked["seen"]
    assert seen["pageWidth"] <= seen["viewportWidth"], "the page scrolls sideways"
    outside = [url for url in looked["urls"] if not url.startswith(("file:", "data:"))]
    assert outside == []


def test_screenshot_is_taken(browser_view: dict[str, Any]) -> None:
    looked = _require(browser_view)
    shot = looked["screenshot"].read_bytes()
    assert shot.startswith(b"\x89PNG") and len(shot) > 50_000


def test_missing_chromium_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_OVERRIDE, "/nonexistent/chromium")
    assert find_chromium() is None
    message = missing_chromium()
    assert "chromium-headless-shell" in message and "apt-get install" in message
    assert "/nonexistent/chromium" in message
