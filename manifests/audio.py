"""Audio access shared by the pipeline and the training adapter: header probes and 16 kHz decoding."""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

import numpy as np
import soundfile as sf

TARGET_SR = 16000
# Kaldi segment ends and NeMo offsets are often rounded past the last sample; within this slack a
# slice is clamped to the file, beyond it the slice is refused (importers, exporters and load).
END_SLACK_S = 0.1


class AudioError(ValueError):
    """Audio that cannot be used; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def _open(path: str) -> sf.SoundFile:
    """Open ``path`` for reading, after the checks every access shares.

    AudioError ``missing_audio`` / ``empty_audio`` for an absent or zero-length file,
    ``unreadable_audio`` when the system refuses it (permission denied, a folder),
    ``symlink_loop`` for a link that leads back to itself, ``corrupt_audio`` when libsndfile
    cannot parse the header. The caller closes the handle.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        raise _os_error(path, e) from None
    except ValueError:   # "embedded null byte": a JSON "\u0000" in the path
        raise AudioError("unreadable_audio", f"{path!r} is not a path: it holds a NUL "
                                             "character") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError("unreadable_audio", f"{path} is a folder, not an audio file")
    if st.st_size == 0:
        raise AudioError("empty_audio", f"{path} is a zero-length file")
    try:
        # as bytes on POSIX: a name that is not UTF-8 (surrogate-escaped) still opens
        return sf.SoundFile(os.fsencode(path) if os.name == "posix" else path)
    except Exception as e:  # libsndfile reports format errors as several exception types
        # libsndfile says "System error" for a file it may not open: ask the OS what it was
        try:
            open(path, "rb").close()
        except OSError as os_e:
            raise _os_error(path, os_e) from None
        raise AudioError("corrupt_audio", f"{path}: {e}") from None


def _os_error(path: str, e: OSError) -> AudioError:
    """The AudioError for a file the system would not stat or open."""
    if e.errno == errno.ELOOP:
        return AudioError("symlink_loop", f"{path}: the link leads back to itself")
    if isinstance(e, PermissionError):
        return AudioError("unreadable_audio", f"{path}: permission denied")
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
        if os.path.islink(path):
            return AudioError("missing_audio", f"{path} is a broken symlink (to "
                                               f"{os.readlink(path)}, which does not exist)")
        return AudioError("missing_audio", f"{path} does not exist")
    return AudioError("unreadable_audio", f"{path}: {e.strerror or e}")


def _info(f: sf.SoundFile, path: str) -> AudioInfo:
    if f.frames <= 0:
        raise AudioError("empty_audio", f"{path} holds no samples")
    return AudioInfo(int(f.samplerate), int(f.channels), int(f.frames))


def probe(path: str) -> AudioInfo:
    """Read rate, channels and length from the header only (no decoding)."""
    with _open(path) as f:
        return _info(f, path)


def load(path: str, offset: float = 0.0, duration: float | None = None,
         sr: int = TARGET_SR) -> np.ndarray:
    """Decode ``[offset, offset+duration)`` of a file as mono float32 at ``sr``.

    Stereo is downmixed by averaging channels; other rates are resampled with soxr.
    The file is opened once: the header checks and the decoding share one handle.
    """
    with _open(path) as f:
        info = _info(f, path)
        start = int(round(offset * info.sample_rate))
        stop = info.frames if duration is None else min(
            info.frames, start + int(round(duration * info.sample_rate)))
        if start >= info.frames:
            raise AudioError("bad_offset", f"{path}: offset {offset:.3f}s is past the end "
                                           f"({info.duration:.3f}s)")
        if duration is not None and offset + duration > info.duration + END_SLACK_S:
            # clamping would keep a record whose declared hours the file does not hold
            raise AudioError("slice_past_end", f"{path}: the slice ends at "
                                               f"{offset + duration:.3f}s, past the end of the "
                                               f"file ({info.duration:.3f}s)")
        try:
            # the slice arithmetic of sf.read(start=, stop=), so every edge case reads the same
            start, stop, _ = slice(start, stop).indices(info.frames)
            f.seek(start)
            data = f.read(max(stop - start, 0), dtype="float32", always_2d=True)
        except Exception as e:
            raise AudioError("corrupt_audio", f"{path}: {e}") from None
        file_sr = info.sample_rate
    if data.shape[0] == 0:
        raise AudioError("empty_audio", f"{path}: no samples in the requested slice")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if file_sr != sr:
        import soxr  # imported here: only files at another rate need it
        mono = soxr.resample(mono, file_sr, sr, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
