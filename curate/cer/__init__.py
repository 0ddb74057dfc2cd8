"""Mandarin CER for several systems at once: normalisation profiles, C-speed alignment, bootstrap
intervals and paired tests, correction accounting, LLM failure flags and error analysis.

Modules: ``inputs`` (reading), ``fuzzy`` (unclear spans), ``normalize``/``numbers`` (profiles),
``units`` (tokens), ``align`` (edit operations), ``score`` (totals, bootstrap), ``correction``,
``flags``, ``confusions``, ``evaluate`` (the run), ``report`` (terminal), ``outputs`` (files),
``view`` (alignment text), ``html`` (report.html), ``provenance`` (curate infer's sidecar),
``board`` (the experiment board file), ``board_view`` (its table, TSV and page).
"""
from .evaluate import Evaluation, Settings, evaluate
from .inputs import InputError, load_hypotheses, load_reference

__all__ = ["Evaluation", "InputError", "Settings", "evaluate", "load_hypotheses",
           "load_reference"]
