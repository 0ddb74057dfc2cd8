"""Speed of `curate cer` against jiwer on the same data, in the same run.

Builds a synthetic in-car Mandarin evaluation set (default 20,000 utterances) and three systems:
base1 (an online ASR: homophone substitutions, deletions, insertions), base2 (a corrector that
fixes most of base1 and breaks a little) and base3 (an audio LLM: chatty prefixes, repetition
loops, traditional characters, a few missing lines). Writes them as name<TAB>text files, then
times, --repeat runs each:

  summary     normalise, align, totals, raw CER, bootstrap CIs and paired p-values, on texts
              already in memory (as jiwer gets them), and again reading the files first
  detail      the same plus failure flags, confusions and correction accounting (--corrects)
  end to end  read the files, full detail, write summary.json, per_utt.tsv, confusions.tsv,
              alignment.txt and report.html (unmasked): all that `curate cer ... --out DIR` does
              but the terminal tables and the masking
  report      report.html alone (curate/cer/html.py), texts masked with the personal-data
              masker as curate cer --out does; goal: under 5 s for 20,000 x 3
  jiwer       jiwer.cer and jiwer.process_characters over each system (totals only)

and prints utterances per second per system (best run, and the slowest in brackets: on a shared
machine the spread is wide) and the ratios to jiwer. Goal: summary at least as fast as jiwer,
and at least 30,000 utterances/s per system with full detail, end to end included.

    python bench/cer_speed.py                # 20,000 utterances x 3 systems, 1000 resamples
    python bench/cer_speed.py --utterances 100000 --repeat 1
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHRASES = [
    "打开空调", "把温度调到二十二度", "导航到公司", "回家", "播放周杰伦的歌", "下一首", "音量调大一点",
    "给老王打电话", "发微信说我晚点到", "附近有没有加油站", "关闭车窗", "打开座椅加热", "今天天气怎么样",
    "明天早上七点叫我", "帮我找个停车场", "前面路口左转", "避开拥堵", "打开蓝牙", "连接手机",
    "查一下京A12345有没有违章", "打开GPS", "切换到FM九十七点四", "我有点冷", "把雨刷打开", "开一下天窗",
    "导航到北京市海淀区中关村大街二十七号", "还有多久到", "播放新闻", "暂停", "继续播放", "打开行车记录仪",
    "调低风量", "打开外循环", "找一家川菜馆", "附近的充电桩", "把后视镜折叠起来", "我想听相声", "取消导航",
    "嗯 那个 先去加个油吧", "OK 就这样",
]
HOMOPHONES = {"到": "道", "打": "达", "开": "凯", "车": "扯", "点": "店", "话": "化", "调": "条",
              "里": "理", "在": "再", "是": "事", "机": "鸡", "度": "渡", "下": "夏", "家": "加"}
FILLER = "的了吗啊就那一"
PREFIXES = ["好的，", "转写结果：", "当然，以下是转写：", "纠正后的文本："]


def corpus(n: int, seed: int = 0):
    rng = random.Random(seed)
    labels = {}
    for k in range(n):
        text = "".join(rng.choice(PHRASES) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            text += rng.choice("。？！，")
        labels[f"utt{k:07d}"] = text

    def asr(text, rate):
        out = []
        for ch in text:
            r = rng.random()
            if r < rate * 0.5:
                out.append(HOMOPHONES.get(ch, rng.choice(FILLER)))
            elif r < rate * 0.75:
                continue
            elif r < rate:
                out += [ch, rng.choice(FILLER)]
            else:
                out.append(ch)
        return "".join(out)

    base1 = {k: asr(t, 0.12) for k, t in labels.items() if rng.random() > 0.002}
    base2 = {k: (labels[k] if rng.random() < 0.7 else asr(h, 0.03)) for k, h in base1.items()}
    base3 = {}
    for k, t in labels.items():
        r = rng.random()
        if r < 0.004:
            continue
        h = asr(t, 0.08)
        if r < 0.03:
            h = rng.choice(PREFIXES) + h
        elif r < 0.04:
            h = h + h[-2:] * 8
        elif r < 0.05:
            h = h.replace("开", "開").replace("车", "車").replace("调", "調")
        base3[k] = h
    return labels, {"base1": base1, "base2": base2, "base3": base3}


def write_tsv(path: Path, rows: dict) -> str:
    path.write_text("".join(f"{k}\t{v}\n" for k, v in rows.items()), encoding="utf-8")
    return str(path)


def timed(repeat: int, fn):
    """(fastest, slowest) of ``repeat`` runs of ``fn``, and its result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return (min(times), max(times)), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--utterances", type=int, default=20_000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import jiwer

    from curate.cer import Settings, evaluate, load_hypotheses, load_reference
    from curate.cer.normalize import PROFILES
    from curate.cer.outputs import write_all

    labels, systems = corpus(args.utterances)
    tmp = Path(tempfile.mkdtemp(prefix="cer_speed_"))
    ref_path = write_tsv(tmp / "labels.tsv", labels)
    specs = [f"{name}={write_tsv(tmp / f'{name}.tsv', rows)}" for name, rows in systems.items()]
    settings = Settings(resamples=args.bootstrap, corrects=(("base2", "base1"),))

    reference, hypotheses = load_reference(ref_path), [load_hypotheses(s) for s in specs]

    def ours(detail: bool, read: bool = False, files: bool = False):
        if read:
            ev = evaluate(load_reference(ref_path), [load_hypotheses(s) for s in specs],
                          settings, detail=detail)
        else:
            ev = evaluate(reference, hypotheses, settings, detail=detail)
        if files:
            write_all(ev, tmp / "report")
        return ev

    ids = list(labels)
    refs = [labels[k] for k in ids]
    hyps = {name: [rows.get(k, "") for k in ids] for name, rows in systems.items()}

    def jiwer_cer():
        return [jiwer.cer(refs, h) for h in hyps.values()]

    def jiwer_process():
        return [jiwer.process_characters(refs, h) for h in hyps.values()]

    ours(True)  # warm up: OpenCC dictionaries, the punctuation table, pypinyin
    sums, ev = timed(args.repeat, lambda: ours(False))
    sums_read, _ = timed(args.repeat, lambda: ours(False, read=True))
    detail, ev = timed(args.repeat, lambda: ours(True))
    end, _ = timed(args.repeat, lambda: ours(True, read=True, files=True))
    from curate.cer.html import render
    from curate.checks.pii import redact_text
    report, page = timed(args.repeat, lambda: render(ev, tmp / "report", redact_text))
    cer, _ = timed(args.repeat, jiwer_cer)
    proc, _ = timed(args.repeat, jiwer_process)
    t_sum, t_detail, t_end, t_cer, t_proc = (t[0] for t in (sums, detail, end, cer, proc))

    n, k = args.utterances, len(systems)
    rate = lambda t: n * k / t  # noqa: E731  (utterances per second per system)
    print(f"{n} utterances x {k} systems, {args.bootstrap} bootstrap resamples, {args.repeat} "
          f"runs each: best (slowest)")
    rows = [("curate cer summary (totals, raw CER, CIs, p-values)", sums),
            ("  the same, reading the name<TAB>text files first", sums_read),
            ("curate cer full detail (+ flags, confusions, correction)", detail),
            ("curate cer end to end: read files, full detail, write --out files", end),
            ("report.html alone, personal data masked", report),
            ("jiwer.cer", cer), ("jiwer.process_characters", proc)]
    for label, (fast, slow) in rows:
        print(f"  {label:66s} {fast:6.3f} s {rate(fast):7,.0f} ({rate(slow):6,.0f}) utt/s "
              "per system")
    print(f"  summary vs jiwer.cer:                 {t_cer / t_sum:5.2f}x as fast")
    print(f"  summary vs jiwer.process_characters:  {t_proc / t_sum:5.2f}x as fast")
    print(f"  full detail vs jiwer.cer:             {t_cer / t_detail:5.2f}x as fast")
    goals = {"summary at least as fast as jiwer": t_sum <= min(t_cer, t_proc),
             ">= 30,000 utt/s per system, full detail in memory": rate(t_detail) >= 30_000,
             ">= 30,000 utt/s per system, end to end": rate(t_end) >= 30_000,
             "report.html (masked) under 5 s": report[0] < 5.0}
    print(f"  report.html: {len(page.encode()) / 1e6:.1f} MB")
    for goal, ok in goals.items():
        print(f"  goal {goal}: {'met' if ok else 'NOT met'}")
    for name in systems:
        print(f"  {name}: CER {ev.totals[name].cer:.2%} (raw {ev.raw_cer[name]:.2%})")

    # Same totals as jiwer when both see the same characters (no normalisation, no spaces).
    plain = Settings(profile=PROFILES["none"], unit="char", resamples=0)
    check = evaluate(load_reference(ref_path), [load_hypotheses(specs[0])], plain, detail=False)
    j = jiwer.process_characters([r.replace(" ", "") for r in refs],
                                 [h.replace(" ", "") for h in hyps["base1"]])
    t = check.totals["base1"]
    same = (t.S, t.D, t.I) == (j.substitutions, j.deletions, j.insertions)
    print(f"  check vs jiwer (profile none, unit char, base1): S/D/I "
          f"{'equal' if same else 'DIFFER'} ({t.S}/{t.D}/{t.I})")


if __name__ == "__main__":
    main()
