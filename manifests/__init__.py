"""Manifest records, streaming JSONL I/O, and importers/exporters for other corpus layouts."""
from .jsonl import ManifestError, ManifestWriter, atomic_write_text, read_manifest, write_manifest
from .problems import Problem, Problems
from .record import Record, RecordError

__all__ = ["ManifestError", "ManifestWriter", "Problem", "Problems", "Record", "RecordError",
           "atomic_write_text", "read_manifest", "write_manifest"]
