"""Report aggregation, flagged.jsonl and the HTML pieces, on records made in the test."""
from curate.qc import html as qc_html
from curate.qc.report import Entry, mark_duplicates, summarize, write_flagged
from curate.checks.tags import measured_on
from manifests import Record, read_manifest


def entry(rid, where="kept", tags=(), qc=None, **kw):
    """A record the qc stage measured on its own audio (``qc``), as the stage stamps it."""
    kw.setdefault("duration", 2.0)
    rec = Record(id=rid, audio=f"/data/{rid}.flac", tags=list(tags), **kw)
    if qc is not None:
        rec.extra["qc"] = {**qc, "on": measured_on(rec)}
    return Entry(rec, where)


def entries():
    return [
        entry("a", tags=["fuzzy"], qc={"markers": {"count": 2, "positions": [0, 3]}, "rate": 3.0},
              text="～好～", batch="b1", speaker="s1"),
        entry("b", tags=["fuzzy"], qc={"markers": {"count": 1, "positions": [0]}, "rate": 3.1},
              text="～好的", batch="b1", speaker="s2"),
        entry("c", tags=["low_snr", "sensitive:phone"], qc={"snr_db": 2.5, "rate": 2.9},
              text="给13812345678打电话", hyp="给13812345678达电话", batch="b2", speaker="s1",
              split="eval_only"),
        entry("d", qc={"rate": 3.3, "audio_hash": "x"}, text="打开空调", batch="b2", speaker="s2"),
        entry("e", qc={"rate": 3.2, "audio_hash": "x"}, text="打开 空调。", batch="b2"),
        entry("f", where="rejected", tags=["fuzzy"], qc={}, text="～"),
    ]


def test_summary_counts_shares_hours_and_breakdowns():
    es = entries()
    mark_duplicates(es)
    report = summarize(es)
    assert report["records"] == 5 and report["flagged"] == 4  # rejected records are not data
    tags = {t["tag"]: t for t in report["tags"]}
    assert tags["fuzzy"]["records"] == 2 and tags["fuzzy"]["rejected"] == 1
    assert tags["fuzzy"]["share"] == 0.4 and abs(tags["fuzzy"]["hours"] - 4 / 3600) < 1e-9
    assert tags["dup_audio"]["records"] == 1 and tags["dup_text_duration"]["records"] == 1
    assert tags["sensitive:phone"]["records"] == 1
    batches = {b["name"]: b for b in report["batches"]}
    assert batches["b1"]["flagged"] == 2 and batches["b1"]["tags"] == {"fuzzy": 2}
    assert batches["b2"]["share"] == 2 / 3
    assert [ex["id"] for ex in report["worst"]["fuzzy"]] == ["a", "b"]  # most markers first
    assert report["worst"]["low_snr"][0]["text"] == "给138****5678打电话"
    assert report["band"] == {"median": 3.1}


def test_duplicates_name_the_first_copy():
    es = entries()
    assert mark_duplicates(es) == 1
    e = es[4].record
    assert e.tags == ["dup_audio", "dup_text_duration"] and e.extra["qc"]["dup_of"] == "d"
    assert mark_duplicates(es) == 1  # idempotent


def test_flagged_manifest_masks_personal_data(tmp_path):
    es = entries()
    mark_duplicates(es)
    n = write_flagged(tmp_path / "flagged.jsonl", es)
    rows = {r.id: r for r in read_manifest(tmp_path / "flagged.jsonl")}
    assert n == 5 and set(rows) == {"a", "b", "c", "e", "f"}
    assert rows["c"].text == "给138****5678打电话" and rows["c"].hyp == "给138****5678达电话"
    assert rows["c"].extra["masked"] is True and rows["f"].extra["where"] == "rejected"
    assert "13812345678" not in (tmp_path / "flagged.jsonl").read_text(encoding="utf-8")


def test_html_escapes_and_draws(tmp_path):
    es = entries()
    report = summarize(es)
    report["rates"].append({"id": "fast<1>", "duration": 1.5, "rate": 25.0,
                            "flag": "rate_too_fast"})
    rows = [{"id": "x<script>", "where": "kept", "duration": 1.0, "batch": None, "speaker": None,
             "tags": ["fuzzy"], "text": "<b>好</b>", "hyp": None, "values": {"rate": 3.0},
             "audio_note": "not embedded"}]
    page = qc_html.render(report, rows, "QC <demo>", "/src")
    assert "x&lt;script&gt;" in page and "&lt;b&gt;好&lt;/b&gt;" in page and "<b>好" not in page
    assert page.count("<svg") == 3 and 'class="outlier"' in page and "fast&lt;1&gt;" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched


def test_histogram_bins_are_round():
    width, counts = qc_html.histogram([0.4, 1.2, 2.9, 29.5, 30.0])
    assert width == 1.0 and sum(counts) == 5 and counts[-1] == 2
    assert qc_html.histogram([]) == (1.0, [0])
    width, counts = qc_html.histogram([3.0] * 4)
    assert width == 0.1 and len(counts) == 30 and counts[-1] == 4
