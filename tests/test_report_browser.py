"""report.html in a real browser: headless Chromium loads every figure, and the head reads verdict, cause,
next step, in that order, inside the first screen of a 1280 x 800 window, without scrolling.

Skipped where Chromium is absent (it is a Debian package, `apt-get install chromium`; CI does not
install it). The page is opened from a copy with a probe script appended: it waits for the page's load
event and writes what it measured into the DOM, which ``--dump-dom`` prints.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from comparisons.report.write import write_report
from tiny_runs import ForgetsOneOverN, make_run


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install "
                                "chromium): the report is checked in a real browser only where it is")
WINDOW = (1280, 800)
# no network, no updates, no profile of the user's: a new one per call
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}")
PROBE = """<script>
window.addEventListener("load", () => {
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect(); return [r.top, r.bottom]; };
  const found = {
    viewport: [window.innerWidth, window.innerHeight],
    images: Array.from(document.images).map((i) => [i.complete, i.naturalWidth, i.naturalHeight]),
    head: Array.from(document.querySelectorAll("body > p")).slice(0, 3).map((p) => [p.className, p.innerText,
                                                                                 box(p)]),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


def _chromium_run(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=180)


@pytest.fixture(scope="module")
def failed_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "failed"
    make_run(out, manual_loss=ForgetsOneOverN())
    return write_report(out).html


def test_report_page_loads_its_figures_and_leads_with_verdict_cause_next(failed_report, tmp_path):
    page = tmp_path / "probed.html"
    page.write_text(failed_report.read_text().replace("</body>", PROBE + "\n</body>"))
    done = _chromium_run(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert match, f"Chromium printed no probe (exit {done.returncode}): {done.stderr[-2000:]}"
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                       .replace("&amp;", "&"))
    figures = len(list(failed_report.parent.glob("report-*.png")))
    assert len(found["images"]) == figures >= 10
    assert all(complete and width > 0 and height > 0 for complete, width, height in found["images"]), \
        "every embedded figure decodes"
    kinds = [kind for kind, _, _ in found["head"]]
    assert kinds == ["failed", "cause", "next"]
    verdict, cause, next_step = (text for _, text, _ in found["head"])
    assert verdict.startswith("FAILED: step 1 > dx > loss")
    assert cause.startswith("Cause: ") and "(= N = 100, the batch size)" in cause
    assert next_step.startswith("Next: ")
    height = found["viewport"][1]
    assert all(0 <= top and bottom <= height for _, _, (top, bottom) in found["head"]), \
        f"the head is not inside the first {height} px: {found['head']}"


def test_screenshot_shows_the_red_verdict_on_the_first_screen(failed_report, tmp_path):
    from matplotlib.image import imread
    shot = tmp_path / "shot.png"
    done = _chromium_run(tmp_path / "profile", f"--screenshot={shot}", failed_report.as_uri())
    assert shot.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    pixels = imread(shot)[..., :3]                     # floats in [0, 1]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.15) & (pixels[..., 2] < 0.15)    # the verdict's #b00
    assert red[: WINDOW[1] // 2].sum() > 200, "the red FAILED verdict is in the top half of the first screen"
