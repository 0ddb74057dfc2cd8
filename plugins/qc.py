"""qc: check each record's label and audio, tag what looks wrong, record the measurements.

Nothing is dropped unless asked: ``drop=fuzzy,empty_label`` rejects records whose own label or
audio has those tags (reason ``qc:<tag>``; a tag inherited from a source alone drops nothing). Measured values go to ``record.extra["qc"]`` so ``curate qc`` can rank and
plot them, with what they were measured on (``on``: id, duration, lineage): a derived record
(chunk, merged window, noisy copy) is measured again on its own audio, and keeps the qc tags of
its sources, listed in ``extra.qc.inherited``. Tags go to ``record.tags``.

The speaking rate (Chinese characters + English words + digits per second) is measured per second
of speech: the vad stage's intervals when it ran (``record.speech``), else an energy gate over the
clip. Whether it is plausible is a property of the dataset: the pre-pass over the input (before
any audio is read) takes the median and MAD of log(rate) over the labelled records, per second of
clip (or of speech, when the input carries vad intervals); a record outside median ± k·MAD, or
outside the absolute bounds, is tagged ``rate_too_fast`` / ``rate_too_slow``: its label does not
fit its audio.

Duplicates (the same audio, or the same text and duration, under two ids) are a property of the
whole dataset too; this stage records each clip's fingerprint and ``curate qc`` groups them.
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np

from curate.cer import pair
from curate.checks import audio as A
from curate.checks import labels as L
from curate.checks.speech_level import speech_mask
from curate.checks.tags import DATASET_TAGS, TAGS, inherited, measured_on
from curate.stage import SR, Context, Item, Param, ParamError, Stage
from manifests import Record
from manifests.markers import DEFAULT_MARKERS, find_markers

MIN_BAND_RECORDS = 20  # fewer labelled records give no trustworthy median/MAD: bounds only
MIN_LOG_SPREAD = 0.1   # the band is never narrower than ±10 %·k around the median rate
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation


class QC(Stage):
    name = "qc"
    summary = ("tag label and audio problems (unclear spans, empty labels, speaking rate, "
               "clipping, level, SNR, ...) with measurements in extra.qc; drops only with "
               "drop=TAG,...")
    params = {
        "markers": Param("list", DEFAULT_MARKERS, "unclear-span markers in labels → fuzzy"),
        "allowed_chars": Param("str", "", "characters allowed in labels besides CJK, ASCII and "
                                          "common punctuation (others → bad_chars)"),
        "rate_k": Param("float", 3.0, "half-width of the speaking-rate band, in MADs of "
                                      "log(units/s) around the dataset median"),
        "rate_bounds": Param("range", (0.5, 10.0), "absolute bounds on Chinese characters + "
                                                   "English words per second of speech"),
        "clip_level": Param("float", 0.99, "sample magnitude (full scale 1) counted as clipped"),
        "clip_max": Param("float", 0.001, "share of clipped samples above which → clipping"),
        "level_min": Param("float", -40.0, "speech level in dBFS below which → low_level"),
        "snr_min": Param("float", 10.0, "estimated SNR in dB below which → low_snr"),
        "dc_max": Param("float", 0.01, "absolute mean sample value above which → dc_offset"),
        "sample_rates": Param("list", (str(SR),), "expected sample rates of the source files "
                                                  "(others → odd_sample_rate)"),
        "channels": Param("list", ("1",), "expected channel counts (others → odd_channels)"),
        "cer_max": Param("float", 0.5, "CER (as `curate cer` scores it) between label and hyp "
                                       "(or second label text_b) above which → "
                                       "label_hyp_mismatch (annotator_mismatch)"),
        "min_edits": Param("int", 2, "fewer edits than this never count as a mismatch (a one-"
                                     "character label with one error has CER 1)"),
        "drop": Param("list", (), f"reject records with any of these tags: {', '.join(TAGS)}"),
    }

    def __init__(self, **values) -> None:
        super().__init__(**values)
        self.band: tuple[str, float, float] | None = None  # (basis, low, high), set by prepare

    def validate(self) -> None:
        unknown = [t for t in self.drop if t not in TAGS]
        if unknown:
            hint = ("; duplicates are found across the whole run by `curate qc`, not per record"
                    if any(t in DATASET_TAGS for t in unknown) else "")
            raise ParamError(f"qc.drop: unknown tag(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(TAGS)}{hint}")
        if self.rate_bounds[0] <= 0 or self.rate_k <= 0:
            raise ParamError("qc.rate_bounds must be positive and qc.rate_k > 0")
        for name in ("sample_rates", "channels"):
            if not all(v.isdigit() for v in self.values[name]):
                raise ParamError(f"qc.{name}: expected whole numbers, got "
                                 f"{','.join(self.values[name])}")

    def prepare(self, records: Iterable[Record], ctx: Context) -> None:
        """The dataset's speaking-rate band from the labelled input records (metadata only)."""
        logs, with_speech = [], 0
        for r in records:
            units = L.speech_units(r.text, self.markers) if r.labelled else 0
            if units == 0 or find_markers(r.text, self.markers):
                continue  # a marker stands for unknown speech: its rate says nothing
            seconds = speech_seconds(r)
            with_speech += seconds is not None
            logs.append((units, r.duration, seconds))
        basis = "speech" if logs and with_speech == len(logs) else "duration"
        values = np.log([u / t for u, t in ((u, s if basis == "speech" else d)
                                            for u, d, s in logs) if t > 0])
        if len(values) < MIN_BAND_RECORDS:
            self.band = None
            return
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median))) * MAD_TO_SIGMA
        # A floor: a dataset of near-identical rates (one voice, one script) would otherwise flag
        # ordinary variation.
        half = self.rate_k * max(mad, MIN_LOG_SPREAD)
        self.band = (basis, math.exp(median - half), math.exp(median + half))

    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        for item in items:
            rec = item.record
            # Tags that came with the record's sources (a merged window's parts, the recording a
            # chunk was cut from) stay, as in the manifest, listed as inherited; its own are
            # measured afresh on its own audio, as are inherited measurements.
            carried = inherited(rec)
            rec.tags = [t for t in rec.tags if t not in TAGS]
            found, measured = self.check(item)
            tags = [t for t in TAGS if t in found or t in carried]
            for tag in tags:
                rec.add_tag(tag)
            if any(t not in found for t in carried):
                measured["inherited"] = [t for t in carried if t not in found]
            measured["on"] = measured_on(rec)
            rec.extra["qc"] = measured
            # dropped for what it holds itself: a clean chunk of a fuzzy recording is clean (a
            # merged window holds its parts' texts, so their markers are found in its own)
            drop = next((t for t in found if t in self.drop), None)
            if drop:
                item.reject(self.name, f"qc:{drop}")
            yield item

    def check(self, item: Item) -> tuple[list[str], dict]:
        """(tags, measurements) for one record."""
        rec = item.record
        tags: list[str] = []
        qc: dict = {}
        # Speech-active samples, computed once for the rate, the level and the SNR.
        mask = None if item.audio is None else speech_mask(item.audio, rec.speech)
        if not rec.labelled:
            tags.append("empty_label")
        else:
            self._check_label(rec, tags, qc)
            self._check_rate(rec, *self._speech(item, mask), tags, qc)
        if item.audio is not None:
            self._check_audio(item, mask, tags, qc)
        self._check_format(rec, tags, qc)
        return [t for t in TAGS if t in tags], qc

    def _check_label(self, rec: Record, tags: list[str], qc: dict) -> None:
        text = rec.text
        markers = find_markers(text, self.markers)
        if markers:
            tags.append("fuzzy")
            qc["markers"] = {"count": len(markers), "positions": [p for p, _ in markers]}
        bad = L.bad_chars(text, self.allowed_chars)
        if bad:
            tags.append("bad_chars")
            qc["bad_chars"] = bad
        full, half = L.punct_widths(text, self.markers)
        if full and half:
            tags.append("mixed_punct")
            qc["punct"] = {"full": full, "half": half}
        mixed = L.mixed_numerals(text)
        if mixed:
            tags.append("mixed_numerals")
            qc["mixed_numerals"] = mixed
        if rec.hyp is not None:
            self._compare(text, rec.hyp, "cer_hyp", "label_hyp_mismatch", tags, qc)
        second = rec.extra.get("text_b")
        if isinstance(second, str):
            self._compare(text, second, "cer_text_b", "annotator_mismatch", tags, qc)

    @staticmethod
    def _speech(item: Item, mask: np.ndarray | None) -> tuple[float | None, str]:
        """Seconds of speech in the clip and how they were measured: the vad stage's intervals,
        else an energy gate over the audio, else none (the rate is then per second of clip).
        ``mask`` is ``speech_mask(item.audio, item.record.speech)``: without vad intervals, the
        energy gate's."""
        vad = speech_seconds(item.record)
        if vad is not None:
            return vad, "vad"
        if mask is not None:
            active = float(mask.sum()) / SR
            if active > 0:
                return active, "energy"
        return None, "duration"

    def _check_rate(self, rec: Record, speech: float | None, basis: str, tags: list[str],
                    qc: dict) -> None:
        units = L.speech_units(rec.text, self.markers)
        seconds = speech if speech else rec.duration
        if units == 0 or seconds <= 0:
            return
        rate = units / seconds
        lo, hi = self.rate_bounds
        if self.band is not None:
            band_basis, band_lo, band_hi = self.band
            # Silence around the speech makes a per-clip rate lower than the per-speech rate.
            # Against a band measured per second of clip, this per-speech rate is compared as it
            # is for "too slow" and with the band scaled up for "too fast": silence can then
            # never make a label look wrong.
            scale = 1.0 if band_basis == "speech" or not speech else rec.duration / speech
            lo, hi = max(lo, band_lo), min(hi, band_hi * scale)
        qc.update(units=units, speech_s=round(seconds, 3), rate=round(rate, 3),
                  rate_basis=basis if speech else "duration",
                  rate_band=[round(lo, 3), round(hi, 3)])
        if rate > hi:
            tags.append("rate_too_fast")
        elif rate < lo:
            tags.append("rate_too_slow")

    def _compare(self, ref: str, other: str, key: str, tag: str, tags: list[str],
                 qc: dict) -> None:
        rate, edits, _ = pair.cer(ref, other, self.markers)
        qc[key] = round(rate, 4)
        if rate > self.cer_max and edits >= self.min_edits:
            tags.append(tag)

    def _check_audio(self, item: Item, mask: np.ndarray, tags: list[str], qc: dict) -> None:
        audio, speech = item.audio, item.record.speech
        clipped = A.clip_ratio(audio, self.clip_level)
        level = A.level_dbfs(audio, speech, mask)
        snr = A.snr_db(audio, speech, mask)
        dc = A.dc_offset(audio)
        qc.update(clip_ratio=round(clipped, 5), level_dbfs=round(level, 2), snr_db=round(snr, 2),
                  dc=round(dc, 5), audio_hash=A.content_hash(audio))
        if clipped > self.clip_max:
            tags.append("clipping")
        if level < self.level_min:
            tags.append("low_level")
        if snr < self.snr_min:
            tags.append("low_snr")
        if abs(dc) > self.dc_max:
            tags.append("dc_offset")

    def _check_format(self, rec: Record, tags: list[str], qc: dict) -> None:
        rate, channels = rec.sample_rate, rec.channels
        if rate is None or channels is None:
            from manifests.audio import AudioError, probe
            try:
                info = probe(rec.audio)
            except AudioError:
                return  # nothing to say about a file we cannot read; decode reports it
            rate = info.sample_rate if rate is None else rate
            channels = info.channels if channels is None else channels
        qc.update(sample_rate=rate, channels=channels)
        if str(rate) not in self.sample_rates:
            tags.append("odd_sample_rate")
        if str(channels) not in self.channels:
            tags.append("odd_channels")


def speech_seconds(rec: Record) -> float | None:
    """Seconds of speech the vad stage found, or None when it did not run."""
    if rec.speech is None:
        return None
    return sum(max(0.0, e - s) for s, e in rec.speech)
