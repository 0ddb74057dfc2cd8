"""A Hugging Face ``datasets.Dataset`` with an ``Audio`` column, saved with ``save_to_disk``.

Rows carry the audio itself, at one sample rate (``sample_rate``, 16 kHz by default, also set
on the column's ``Audio`` feature), so the saved dataset stands alone: a record covering a whole
file at that rate embeds the file's bytes unchanged; a slice of a longer file, or a file at
another rate, embeds the record's samples resampled to the rate with soxr and stored as WAV
(channels and sample format kept where WAV allows it). Columns: id, audio, text, hyp, speaker,
duration, split. Load it with ``datasets.load_from_disk(PATH)``: ``ds[0]["audio"]["array"]`` and
``["sampling_rate"]`` decode through ``torchcodec`` (datasets' audio decoder; the ``hf`` extra
installs it, and it needs FFmpeg's shared libraries), while
``cast_column("audio", Audio(decode=False))`` gives the encoded bytes.

The Arrow file is written directly with pyarrow, in batches, carrying the ``Audio`` feature in
its schema: memory stays bounded and nothing needs datasets' own audio encoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..audio import TARGET_SR, AudioInfo
from ..problems import Problems
from ..record import Record
from .common import AudioCheck, atomic_dir, is_slice, require_some, samples_at, wav_bytes

BATCH = 64


class MissingDependency(RuntimeError):
    """The optional package this export needs is not installed."""


def export(records: Iterable[Record], out, problems: Problems, *,
           sample_rate: int = TARGET_SR) -> int:
    try:
        import datasets
        import pyarrow as pa
    except ImportError:
        raise MissingDependency("the hf format needs the 'datasets' package: "
                                "pip install 'curate[hf]'") from None
    features = datasets.Features({
        "id": datasets.Value("string"), "audio": datasets.Audio(sampling_rate=sample_rate),
        "text": datasets.Value("string"), "hyp": datasets.Value("string"),
        "speaker": datasets.Value("string"), "duration": datasets.Value("float64"),
        "split": datasets.Value("string")})
    schema = features.arrow_schema
    check = AudioCheck(problems)
    out = Path(out)
    count = 0
    with atomic_dir(out) as tmp:
        arrow = tmp.with_name(tmp.name + ".arrow")
        try:
            with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
                rows: list[dict] = []
                for record in records:
                    info = check(record)
                    if info is None:
                        continue
                    rows.append(_row(record, info, sample_rate))
                    if len(rows) == BATCH:
                        writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=schema))
                        count += len(rows)
                        rows = []
                if rows:
                    writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=schema))
                    count += len(rows)
            require_some(count)
            bars_were_on = datasets.is_progress_bar_enabled()
            datasets.disable_progress_bars()   # curate shows its own progress
            try:
                datasets.Dataset.from_file(str(arrow)).save_to_disk(str(tmp))
            finally:
                if bars_were_on:
                    datasets.enable_progress_bars()
        finally:
            arrow.unlink(missing_ok=True)
    return count


def _row(record: Record, info: AudioInfo, sample_rate: int) -> dict:
    if is_slice(record, info) or info.sample_rate != sample_rate:
        data, subtype = samples_at(record, info, sample_rate)
        audio = {"bytes": wav_bytes(data, sample_rate, subtype), "path": f"{record.id}.wav"}
    else:
        audio = {"bytes": Path(record.audio).read_bytes(), "path": Path(record.audio).name}
    return {"id": record.id, "audio": audio,
            "text": record.text, "hyp": record.hyp, "speaker": record.speaker,
            "duration": record.duration, "split": record.split}
