"""report.html in a real browser (Debian's chromium, headless): it renders, its plots have a size,
its audio plays, and nothing is logged as an error. Chromium is driven over the DevTools protocol
through a pipe (--remote-debugging-pipe), so the test needs no extra Python package."""
import json
import os
import select
import shutil
import subprocess
import time

import pytest
from typer.testing import CliRunner

from curate.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); "
                             "the report's browser test needs a real browser")
TIMEOUT = 60.0


class DevTools:
    """A minimal DevTools-protocol client over chromium's pipe (fd 3 in, fd 4 out)."""

    def __init__(self, profile) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds():  # the protocol's fixed descriptors; dup first, in case they collide
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--no-first-run", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                assert "error" not in reply, (method, reply["error"])
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read()
            if event.get("method") == method:
                return event
            self.events.append(event)

    def _read(self) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_chrome], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def close(self) -> None:
        try:
            os.write(self._to_chrome, json.dumps({"id": 0, "method": "Browser.close"}).encode()
                     + b"\0")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._to_chrome)
            os.close(self._from_chrome)


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
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target,
                                                         "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.navigate", {"url": report.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        facts = browser.call("Runtime.evaluate", {"expression": PAGE_FACTS, "awaitPromise": True,
                                                  "returnByValue": True},
                             session=session)["result"]["value"]
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
    finally:
        browser.close()

    errors = [e for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled"
                  and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
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
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target,
                                                         "flatten": True})["sessionId"]
        browser.call("Page.enable", session=session)
        browser.call("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 900,
                                                            "deviceScaleFactor": 1,
                                                            "mobile": False}, session=session)
        browser.call("Page.navigate", {"url": merged_report.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        facts = browser.call("Runtime.evaluate", {"expression": WIDTH_FACTS,
                                                  "returnByValue": True},
                             session=session)["result"]["value"]
    finally:
        browser.close()
    assert facts["longest_id"] > 100, facts  # long enough to push a column off the page
    assert facts["scroll"] <= 1400 and facts["audio_right"] <= 1400, facts
    assert facts["font"].startswith('"Noto Sans CJK SC"'), facts
