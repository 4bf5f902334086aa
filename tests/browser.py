"""The Snakemake HTML report as a user sees it: opened in headless Chromium (Debian's
``chromium`` package) through playwright, every result of every category shown in turn."""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Where Debian's package puts the browser (``apt-get install chromium``).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """The browser's path; skip without one, unless ``COMMST_REQUIRE_BROWSER=1`` (CI) makes that a failure."""
    if CHROMIUM is None:
        if os.environ.get("COMMST_REQUIRE_BROWSER") == "1":
            pytest.fail("COMMST_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return CHROMIUM


@dataclass
class ReportView:
    """What the browser showed: ``categories`` (category → subcategory → result paths),
    ``mime_types`` (path → MIME type), per subcategory the images displayed after each eye
    click (a fingerprint of the image data and its natural width), the HTML tables displayed
    (the body rows of the table in the shown page, per eye click that showed an HTML page),
    and JavaScript errors."""

    categories: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    mime_types: dict[str, str] = field(default_factory=dict)
    shown: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)
    tables: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


#: The largest PNG/JPEG on the page (the shown result; icons are SVG): a fingerprint of its data
#: (past the header, before the identical end chunk) and its natural width.
_SHOWN_IMAGE = """() => {
  const imgs = [...document.querySelectorAll('img')].filter(
    e => e.src.startsWith('data:image/png') || e.src.startsWith('data:image/jpeg'));
  if (!imgs.length) return ['', 0];
  const img = imgs.reduce((a, b) => (a.naturalWidth >= b.naturalWidth ? a : b));
  return [img.src.slice(200, 600), img.complete ? img.naturalWidth : 0];
}"""


#: The report's toggles: radio-button group name → the ids of its buttons.
_TOGGLES = """() => {
  const groups = {};
  for (const e of document.querySelectorAll('input[type=radio][id^="toggle-"]')) {
    (groups[e.name] = groups[e.name] || []).push(e.id);
  }
  return groups;
}"""


def _table_rows(page) -> int:
    """Body rows of the table in the shown HTML result (0 when it shows no table)."""
    frame = page.frame_locator("iframe").first
    try:
        frame.locator("table").first.wait_for(timeout=5000)
    except Exception:  # playwright's TimeoutError: the page has no table
        return 0
    return frame.locator("table tbody tr").count()


def view_report(html: Path, screenshots: Path | None = None) -> ReportView:
    """Open ``html`` and show every result of every (sub)category with its eye button (under
    every combination of the subcategory's toggles).

    With ``screenshots``, one PNG per shown result is written there.
    """
    from playwright.sync_api import sync_playwright

    view = ReportView()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_browser(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda err: view.errors.append(str(err)))
        page.goto(html.resolve().as_uri())
        page.wait_for_function("typeof app !== 'undefined' && typeof categories !== 'undefined'")
        view.categories = page.evaluate("categories")
        view.mime_types = page.evaluate("Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.mime_type]))")
        for category, subcategories in view.categories.items():
            for subcategory in subcategories:
                # as a user does: from the start page, the category in the menu, then its subcategory
                page.goto(html.resolve().as_uri())
                page.get_by_text(category, exact=True).first.click()
                if len(subcategories) > 1:
                    page.get_by_text(subcategory, exact=True).first.click()
                # results whose labels differ in one column only are chosen with toggles (radio buttons)
                groups = page.evaluate(_TOGGLES)
                shown = view.shown.setdefault((category, subcategory), [])
                tables = view.tables.setdefault((category, subcategory), [])
                for choice in itertools.product(*groups.values()):
                    for toggle in choice:
                        page.locator(f'label[for="{toggle}"]').first.click()
                    eyes = page.locator("a[iconname=eye]")
                    eyes.first.wait_for()
                    for i in range(eyes.count()):
                        eyes.nth(i).click()
                        page.wait_for_timeout(300)
                        fingerprint, width = page.evaluate(_SHOWN_IMAGE)
                        shown.append((fingerprint, int(width)))
                        if page.locator("iframe").count():  # an HTML result: the page in a frame
                            tables.append(_table_rows(page))
                        if screenshots is not None:
                            name = f"{category}-{subcategory}-{len(shown)}.png".replace(" ", "_")
                            page.screenshot(path=str(screenshots / name))
        browser.close()
    return view
