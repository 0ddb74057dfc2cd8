"""A Hugging Face ``datasets.Dataset`` with an ``Audio`` column, saved with ``save_to_disk``.

Rows carry the audio itself, so the saved dataset stands alone: a record covering a whole file
embeds that file's bytes unchanged; a record that is a slice of a longer file embeds the slice,
decoded at the file's own rate and channels and stored as WAV (same sample format where WAV
allows it). Columns: id, audio, text, hyp, speaker, duration, split. Load it with
``datasets.load_from_disk(PATH)``; decoding the Audio column needs ``torchcodec`` (a datasets
requirement), while ``cast_column("audio", Audio(decode=False))`` gives the encoded bytes.

The Arrow file is written directly with pyarrow, in batches, carrying the ``Audio`` feature in
its schema: memory stays bounded and nothing needs datasets' own audio encoder.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

from ..audio import AudioInfo
from ..problems import Problems
from ..record import Record
from .common import AudioCheck, atomic_dir, is_slice, require_some

BATCH = 64


class MissingDependency(RuntimeError):
    """The optional package this export needs is not installed."""


def export(records: Iterable[Record], out, problems: Problems) -> int:
    try:
        import datasets
        import pyarrow as pa
    except ImportError:
        raise MissingDependency("the hf format needs the 'datasets' package: "
                                "pip install 'curate[hf]'") from None
    features = datasets.Features({
        "id": datasets.Value("string"), "audio": datasets.Audio(),
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
                    rows.append(_row(record, info))
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


def _row(record: Record, info: AudioInfo) -> dict:
    whole = not is_slice(record, info)
    audio = {"bytes": Path(record.audio).read_bytes() if whole else _slice_wav(record, info),
             "path": Path(record.audio).name if whole else f"{record.id}.wav"}
    return {"id": record.id, "audio": audio,
            "text": record.text, "hyp": record.hyp, "speaker": record.speaker,
            "duration": record.duration, "split": record.split}


def _slice_wav(record: Record, info: AudioInfo) -> bytes:
    import soundfile as sf
    start = int(round(record.offset * info.sample_rate))
    stop = min(info.frames, start + int(round(record.duration * info.sample_rate)))
    with sf.SoundFile(record.audio) as src:   # one open: header facts and samples
        start, stop, _ = slice(start, stop).indices(src.frames)   # as sf.read(start=, stop=)
        src.seek(start)
        data = src.read(max(stop - start, 0), dtype="float32", always_2d=True)
        sr, subtype = src.samplerate, src.subtype
    subtype = subtype if sf.check_format("WAV", subtype) else "FLOAT"
    buf = io.BytesIO()
    sf.write(buf, data, sr, format="WAV", subtype=subtype)
    return buf.getvalue()
