"""What ``curate qc`` reports, from a run's records: ``report`` (per-tag counts, breakdowns,
duplicates, flagged.jsonl), ``html`` (report.html) and ``summary`` (the terminal summary).
Every id, speaker, batch and text it shows is masked by ``curate.checks.pii``."""
