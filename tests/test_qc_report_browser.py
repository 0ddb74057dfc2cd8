"""report.html in a real browser (Debian's chromium, headless): it renders, its plots have a size,
its audio plays, and nothing is logged as an error."""
import os

import pytest
from typer.testing import CliRunner

from curate.cli import app
from tests.browser import DevTools, needs_chromium, open_page, page_errors

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("qc_browser") / "qc"
    res = CliRunner().invoke(app, ["qc", "demo", "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    return out / "report.html"


PAGE_FACTS = """(async () => {
  const plots = [...document.querySelectorAll("figure svg.plot")].map(s => {
    const r = s.getBoundingClientRect();
    return {id: s.closest("figure").id, width: r.width, height: r.height,
            marks: s.querySelectorAll("rect.bar, circle").length};
  });
  const audio = document.querySelector("#flagged audio");
  const played = await new Promise(resolve => {
    audio.addEventListener("loadedmetadata", () => resolve({duration: audio.duration}));
    audio.addEventListener("error", () => resolve({error: audio.error && audio.error.code}));
    audio.preload = "auto";
    audio.load();
  });
  return {plots, played,
          outliers: document.querySelectorAll("#rate-scatter circle.outlier").length,
          rows: document.querySelectorAll("#flagged tbody tr").length,
          players: document.querySelectorAll("#flagged audio").length,
          text: document.body.innerText};
})()"""


def test_report_renders_in_chromium_without_errors(report, tmp_path):
    browser = DevTools(tmp_path / "profile")
    try:
        facts, session = open_page(browser, report, PAGE_FACTS)
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
    finally:
        browser.close()

    errors = page_errors(browser)
    assert not errors, errors
    plots = {p["id"]: p for p in facts["plots"]}
    assert set(plots) == {"duration-histogram", "rate-scatter", "batch-bars"}
    for p in plots.values():
        assert p["width"] > 100 and p["height"] > 50 and p["marks"] > 0, p
    assert facts["outliers"] >= 1  # the planted rate mismatch
    assert facts["rows"] >= 10 and facts["players"] >= 5
    assert facts["played"].get("duration", 0) > 0.5, facts["played"]
    assert "13812345678" not in facts["text"]
    assert len(shot["data"]) > 10_000  # a PNG of a page with content, base64
    if os.environ.get("QC_SCREENSHOT"):  # for a person to look at the page
        import base64
        with open(os.environ["QC_SCREENSHOT"], "wb") as f:
            f.write(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def merged_report(tmp_path_factory):
    """The report of a run whose flagged windows have long merge ids (ids as corpora name them,
    joined by merge30), each holding an unclear span."""
    from manifests import Record, write_manifest
    from tests.audio_gen import speechlike, write

    tmp = tmp_path_factory.mktemp("qc_browser_merged")
    records = []
    for i in range(6):
        rid = f"SPEAKER0042_SESSION20240611_CHANNEL2_UTT{i:04d}"
        path = write(tmp / f"{i}.wav", speechlike(1.5, seed=i))
        records.append(Record(id=rid, audio=path, duration=2.5, text="我想去～那个地方"))
    write_manifest(tmp / "manifest.jsonl", records)
    run = tmp / "run"
    res = CliRunner().invoke(app, ["run", str(tmp / "manifest.jsonl"), "--plugins", "merge30",
                                   "--out", str(run), "--workers", "1"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["qc", str(run)])
    assert res.exit_code == 0, res.output
    return run / "report.html"


WIDTH_FACTS = """(() => {
  const ids = [...document.querySelectorAll("#flagged td.id")];
  const audio = [...document.querySelectorAll("#flagged tbody tr")].map(
      tr => tr.lastElementChild.getBoundingClientRect().right);
  return {scroll: document.documentElement.scrollWidth,
          longest_id: Math.max(...ids.map(td => td.textContent.length)),
          audio_right: Math.max(...audio),
          font: getComputedStyle(document.body).fontFamily};
})()"""


def test_long_merge_ids_keep_the_page_within_1400_px(merged_report, tmp_path):
    browser = DevTools(tmp_path / "profile")
    try:
        facts, _ = open_page(browser, merged_report, WIDTH_FACTS, width=1400)
    finally:
        browser.close()
    assert facts["longest_id"] > 100, facts  # long enough to push a column off the page
    assert facts["scroll"] <= 1400 and facts["audio_right"] <= 1400, facts
    assert facts["font"].startswith('"Noto Sans CJK SC"'), facts
