"""curate cer's report.html and curate board's --html page in a real browser (Debian's chromium,
headless, over the DevTools pipe): they render, show the numbers of summary.json and of the board,
their filters count what the scorer counted, personal data stays masked, audio plays, nothing user
supplied is read as HTML, and no error is logged."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import curate
from curate.cli import app
from manifests import Problems
from manifests.textfile import read_name_text
from tests.browser import DevTools, needs_chromium, open_page, page_errors

pytestmark = needs_chromium
DEMO = Path(curate.__file__).parent / "demo"
HOSTILE = "<img src=x onerror=alert(1)>"


def _tsv(path: Path, rows: dict) -> Path:
    path.write_text("".join(f"{k}\t{v}\n" for k, v in rows.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The demo scored three ways, base2 correcting base1, and recorded on a board."""
    tmp = tmp_path_factory.mktemp("cer_browser")
    labels = {}
    for line in (DEMO / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        labels[rec["id"]] = rec.get("text") or ""
    base1 = read_name_text(DEMO / "base1.tsv", Problems())
    wrong = [k for k in base1 if base1[k] != labels[k] and labels[k]]
    right = [k for k in base1 if base1[k] == labels[k] and len(labels[k]) >= 4]
    base2 = dict(base1)
    for k in wrong[:15]:
        base2[k] = labels[k]
    for k in right[:4]:
        base2[k] = "错" + labels[k][1:]
    base3 = {k: "好的，" + labels[k] for k in labels}
    env = {"CURATE_WORKSPACE": str(tmp)}
    out = tmp / "cer"
    result = CliRunner().invoke(app, [
        "cer", "--ref", str(DEMO / "manifest.jsonl"), "--hyp", f"base1={DEMO / 'base1.tsv'}",
        "--hyp", f"base2={_tsv(tmp / 'base2.tsv', base2)}",
        "--hyp", f"base3={_tsv(tmp / 'base3.tsv', base3)}", "--corrects", "base2:base1",
        "--bootstrap", "200", "--out", str(out), "--board", "wk", "--eval-name", "demo"],
        env=env)
    assert result.exit_code == 0, result.output
    board_html = tmp / "board.html"
    result = CliRunner().invoke(app, ["board", "wk", "--baseline", "base1", "--html",
                                      str(board_html)], env=env)
    assert result.exit_code == 0, result.output
    return out, board_html, tmp


REPORT_FACTS = """(async () => {
  const pick = async (id, value) => {
    const s = document.getElementById(id);
    s.value = value;
    s.dispatchEvent(new Event("change"));
    return Number(document.getElementById("shown").textContent);
  };
  const summary = {};
  document.querySelectorAll("#summary tbody tr").forEach(tr => {
    const row = {};
    tr.querySelectorAll("td").forEach(td => { row[td.dataset.k] = td.dataset.value; });
    summary[tr.dataset.system] = row;
  });
  const all = await pick("f-kind", "all");
  const firstPage = document.querySelectorAll("#utts .utt").length;
  const cells = document.querySelectorAll("#utts .cell.op-S, #utts .cell.op-D, #utts .cell.op-I").length;
  const fixed = await pick("f-kind", "fixed:0");
  const broken = await pick("f-kind", "broken:0");
  const allWrong = await pick("f-kind", "allwrong");
  await pick("f-kind", "all");
  const chatty = await pick("f-flag", "chatty_prefix");
  await pick("f-flag", "");
  document.getElementById("f-band-system").value = "0";
  const exact = await pick("f-band", "0");
  await pick("f-band", "");
  const audio = document.querySelector("#utts audio");
  const played = await new Promise(resolve => {
    audio.addEventListener("loadedmetadata", () => resolve({duration: audio.duration}));
    audio.addEventListener("error", () => resolve({error: audio.error && audio.error.code}));
    audio.preload = "auto";
    audio.load();
  });
  const pages = [];
  for (let i = 0; i < 3; i++) {
    pages.push(document.body.innerText);
    document.getElementById("next").click();
  }
  return {summary, all, firstPage, cells, fixed, broken, allWrong, chatty, exact, played,
          text: pages.join("\\n"),
          homophones: [...document.querySelectorAll(".confusions")].map(
            s => [s.dataset.system, s.querySelector(".homophones").textContent])};
})()"""


def test_cer_report_renders_with_the_numbers_of_summary_json(scored, tmp_path):
    out, _, _ = scored
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "13812345678" not in page and "幺三八零零幺三八零零零" not in page  # masked
    browser = DevTools(tmp_path / "profile")
    try:
        facts, _ = open_page(browser, out / "report.html", REPORT_FACTS)
    finally:
        browser.close()
    assert not page_errors(browser), page_errors(browser)

    for name, s in summary["systems"].items():
        row = facts["summary"][name]
        assert (int(row["N"]), int(row["S"]), int(row["D"]), int(row["I"])) == \
            (s["N"], s["S"], s["D"], s["I"])
        assert float(row["cer"]) == s["cer"]
        assert json.loads(row["ci"]) == s["cer_ci95"]
    per_utt = [line.split("\t") for line in
               (out / "per_utt.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    errors = {}
    for system, rid, *_, n, s, d, i, _cer, _flags in per_utt:
        errors.setdefault(rid, {})[system] = int(s) + int(d) + int(i)
    c = summary["corrections"][0]
    assert facts["all"] == summary["reference"]["scored"] == len(errors)
    assert facts["firstPage"] == min(50, facts["all"]) and facts["cells"] > 0
    assert (facts["fixed"], facts["broken"]) == (c["improved"], c["degraded"])
    assert facts["fixed"] >= 10 and facts["broken"] == 4
    assert facts["allWrong"] == sum(all(v > 0 for v in e.values()) for e in errors.values())
    assert facts["chatty"] == summary["systems"]["base3"]["flags"]["chatty_prefix"] > 0
    assert facts["exact"] == sum(e["base1"] == 0 for e in errors.values())
    assert facts["played"].get("duration", 0) > 0.5, facts["played"]
    assert "13812345678" not in facts["text"]
    for name, shown in facts["homophones"]:
        share = summary["systems"][name]["homophone_share"]
        assert shown == ("—" if share is None else f"{100 * share:.2f}%")


BOARD_FACTS = """(() => {
  const cells = [...document.querySelectorAll("#board tbody td.num")].map(td => ({
    system: td.closest("tr").dataset.system, eval: td.dataset.eval, cer: td.dataset.cer,
    best: td.classList.contains("best"), text: td.innerText}));
  const bars = [...document.querySelectorAll("svg.chart rect.bar")].map(r => ({
    system: r.dataset.system, cer: r.dataset.cer, width: r.getBoundingClientRect().width}));
  const charts = [...document.querySelectorAll("svg.chart")].map(s => {
    const r = s.getBoundingClientRect(); return {width: r.width, height: r.height,
      whiskers: s.querySelectorAll("g.ci").length};
  });
  return {cells, bars, charts, provenance: document.querySelectorAll("#provenance tbody tr").length};
})()"""


def test_board_page_renders_the_board(scored, tmp_path):
    out, board_html, _ = scored
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    browser = DevTools(tmp_path / "profile")
    try:
        facts, _ = open_page(browser, board_html, BOARD_FACTS)
    finally:
        browser.close()
    assert not page_errors(browser), page_errors(browser)
    systems = summary["systems"]
    assert {c["system"]: float(c["cer"]) for c in facts["cells"]} == \
        {k: v["cer"] for k, v in systems.items()}
    best = min(v["cer"] for v in systems.values())
    assert [c["system"] for c in facts["cells"] if c["best"]] == \
        [k for k, v in systems.items() if v["cer"] == best]
    p = {(x["a"], x["b"]): x["p_value"] for x in summary["comparisons"]}
    for cell in facts["cells"]:
        if cell["system"] == "base1":
            assert "baseline" in cell["text"]
        else:
            value = p["base1", cell["system"]]
            assert f"p={value:.3f}" in cell["text"] or f"p={value:.1e}" in cell["text"]
    assert len(facts["charts"]) == 1 and facts["charts"][0]["whiskers"] == 3
    assert facts["charts"][0]["width"] > 300 and facts["charts"][0]["height"] > 60
    widths = {b["system"]: b["width"] for b in facts["bars"]}
    # bar lengths are proportional to CER (the 1-pixel floor aside)
    worst = max(systems, key=lambda k: systems[k]["cer"])
    for name, s in systems.items():
        assert widths[name] == pytest.approx(widths[worst] * s["cer"] / systems[worst]["cer"],
                                             abs=1.0)
    assert facts["provenance"] == 3


def test_user_text_is_shown_as_text_never_as_html(tmp_path):
    ref = _tsv(tmp_path / "ref.tsv", {HOSTILE: HOSTILE + "打开空调", "u2": "导航回家</script>"})
    hyp = _tsv(tmp_path / "hyp.tsv", {HOSTILE: "打开空条", "u2": "导航回家"})
    out = tmp_path / "cer"
    result = CliRunner().invoke(app, ["cer", "--ref", str(ref), "--hyp", f"sys={hyp}",
                                      "--bootstrap", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert HOSTILE not in page and "导航回家</script>" not in page
    browser = DevTools(tmp_path / "profile")
    try:
        facts, _ = open_page(browser, out / "report.html", """(() => ({
          text: document.body.innerText, images: document.querySelectorAll("img").length,
          utts: document.querySelectorAll("#utts .utt").length}))()""")
    finally:
        browser.close()
    assert not page_errors(browser), page_errors(browser)
    assert facts["images"] == 0 and facts["utts"] == 2
    assert HOSTILE in facts["text"] and "导航回家</script>" in facts["text"]


def test_a_row_whose_audio_is_withheld_says_so(tmp_path):
    """A file name holding personal data gets no player (a link cannot be masked and still
    play): that row says why, the others keep their players."""
    ref = tmp_path / "manifest.jsonl"
    rows = [{"id": "13812345678", "audio": "audio/13812345678.flac", "duration": 1.0,
             "text": "打开空调"},
            {"id": "plain", "audio": "audio/plain.flac", "duration": 1.0, "text": "导航回家"}]
    ref.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    hyp = _tsv(tmp_path / "base1.tsv", {"13812345678": "打开空条", "plain": "导航回家"})
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["cer", "--ref", str(ref), "--hyp", f"base1={hyp}",
                                      "--bootstrap", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    browser = DevTools(tmp_path / "profile")
    try:
        facts, _ = open_page(browser, out / "report.html", """(() => [...document.querySelectorAll(
          "#utts .utt")].map(u => ({id: u.querySelector(".id").textContent,
                                    players: u.querySelectorAll("audio").length,
                                    withheld: u.querySelectorAll(".withheld").length})))()""")
    finally:
        browser.close()
    assert not page_errors(browser), page_errors(browser)
    assert {f["id"]: (f["players"], f["withheld"]) for f in facts} == {
        "138****5678": (0, 1), "plain": (1, 0)}
