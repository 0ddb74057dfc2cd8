"""The scoring run: references and hypotheses in, every figure the reports show out."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from . import confusions as conf
from .align import align, align_wildcard, count_ops, edit_distance, wildcard_positions
from .correction import Correction, account
from .flags import FLAGS, flag_system
from .fuzzy import MODES as FUZZY_MODES, WILDCARD, is_fuzzy, mark
from .inputs import Hypotheses, InputError, Reference
from .normalize import PROFILES, Profile, changed_by_t2s, normalize
from .score import BootstrapResult, Totals, bootstrap, totals
from .units import UNITS, Vocabulary, VocabularyFull, tokenize

MISSING = ("deletions", "skip")


@dataclass(frozen=True)
class Settings:
    unit: str = "mixed"
    profile: Profile = PROFILES["zh"]
    fuzzy: str = "exclude"
    missing: str = "deletions"  # a reference id without hypothesis: all deletions, or skipped
    resamples: int = 1000
    seed: int = 0
    corrects: tuple[tuple[str, str], ...] = ()

    def check(self, names: list[str]) -> None:
        for value, allowed, what in ((self.unit, UNITS, "unit"), (self.fuzzy, FUZZY_MODES, "fuzzy"),
                                     (self.missing, MISSING, "missing")):
            if value not in allowed:
                raise InputError(f"--{what} must be one of {', '.join(allowed)}, got {value!r}")
        if self.resamples < 0:
            raise InputError("--bootstrap must be >= 0")
        if len(set(names)) != len(names):
            raise InputError(f"two hypothesis files share a name: {', '.join(names)}; "
                             "name them with --hyp NAME=FILE")
        for b, a in self.corrects:
            for name in (b, a):
                if name not in names:
                    raise InputError(f"--corrects {b}:{a}: no system named {name!r} "
                                     f"(systems: {', '.join(names)})")
            if a == b:
                raise InputError(f"--corrects {b}:{a}: a system cannot correct itself")


@dataclass
class SystemResult:
    name: str
    source: str
    hyp_raw: list[str | None]      # per scored utterance; None: no hypothesis line
    hyp_norm: list[str]
    hyp_seq: list[str]
    present: np.ndarray
    S: np.ndarray
    D: np.ndarray
    I: np.ndarray  # noqa: E741
    raw_errors: np.ndarray
    ops: list[list]
    absorbed: dict[int, list[tuple[int, int]]]
    flags: list[tuple[str, ...]]
    unknown_ids: list[str]
    empty_ref_hyps: int            # empty references that got a non-empty hypothesis
    empty_ref_insertions: int
    problems: list

    @property
    def errors(self) -> np.ndarray:
        return self.S + self.D + self.I

    def flag_counts(self) -> dict[str, int]:
        """Utterances per flag, every flag of FLAGS listed (all 0 when flags were not computed)."""
        counts = dict.fromkeys(FLAGS, 0)
        for fl in self.flags:
            for f in fl:
                counts[f] += 1
        return counts


@dataclass
class Evaluation:
    settings: Settings
    reference: Reference
    vocab: Vocabulary
    ids: list[str]
    ref_raw: list[str]
    ref_norm: list[str]
    ref_seq: list[str]
    n: np.ndarray
    raw_n: np.ndarray
    fuzzy_ids: list[str]
    empty_ref_ids: list[str]
    wildcard_cuts: dict[int, list[int]]  # utterance -> reference positions of its wildcards
    systems: dict[str, SystemResult] = field(default_factory=dict)
    totals: dict[str, Totals] = field(default_factory=dict)
    totals_deletions: dict[str, Totals] = field(default_factory=dict)
    totals_skip: dict[str, Totals] = field(default_factory=dict)
    raw_cer: dict[str, float | None] = field(default_factory=dict)
    bootstrap: BootstrapResult | None = None
    corrections: list[Correction] = field(default_factory=list)
    confusions: dict[str, conf.Confusions] = field(default_factory=dict)

    def mask(self, name: str) -> np.ndarray:
        present = self.systems[name].present
        return present if self.settings.missing == "skip" else np.ones_like(present)


RAW = PROFILES["none"]


@dataclass
class _RefForms:
    """The scored references in the forms the per-system loop needs (wildcards still in)."""
    seq: list[str]   # normalised tokens, WILDCARD tokens included
    norm: list[str]  # normalised text, WILDCARD included
    raw: list[str]   # raw (whitespace-collapsed) text
    raw_seq: list[str]
    traditional: list[bool] | None
    empty_ids: list[str]


def evaluate(reference: Reference, hypotheses: list[Hypotheses], settings: Settings,
             detail: bool = True) -> Evaluation:
    """Score every system against the reference.

    ``detail=False`` stops after totals and the bootstrap (no flags, confusions or correction).
    """
    settings.check([h.name for h in hypotheses])
    unit, wildcard = settings.unit, settings.fuzzy == "wildcard"
    vocab = Vocabulary()
    fuzzy_ids, keep_ids, keep_texts, originals = [], [], [], []
    for rid, text in zip(reference.ids, reference.texts):
        original = text
        if rid in reference.fuzzy_tagged or is_fuzzy(text):
            fuzzy_ids.append(rid)
            if settings.fuzzy == "exclude":
                continue
            text = mark(text, settings.fuzzy)
        keep_ids.append(rid)
        keep_texts.append(text)
        originals.append(original)
    norm = normalize(keep_texts, settings.profile)
    raw = normalize(keep_texts, RAW)
    try:
        seqs = tokenize(norm, unit, vocab)
        raw_seqs = tokenize(raw, unit, vocab)
    except VocabularyFull as e:
        raise InputError(str(e)) from None
    clean = [s.replace(WILDCARD, "") for s in seqs] if wildcard else seqs
    scored = [k for k, s in enumerate(clean) if s]
    empty = [k for k, s in enumerate(clean) if not s]
    ev = Evaluation(
        settings=settings, reference=reference, vocab=vocab,
        ids=[keep_ids[k] for k in scored],
        ref_raw=[originals[k] for k in scored],
        ref_norm=[_unmark(norm[k]) for k in scored],
        ref_seq=[clean[k] for k in scored],
        n=np.array([len(clean[k]) for k in scored], dtype=np.int64),
        raw_n=np.array([len(raw_seqs[k].replace(WILDCARD, "")) for k in scored], dtype=np.int64),
        fuzzy_ids=fuzzy_ids, empty_ref_ids=[keep_ids[k] for k in empty],
        wildcard_cuts={u: wildcard_positions(seqs[k]) for u, k in enumerate(scored)
                       if wildcard and WILDCARD in seqs[k]})
    forms = _RefForms(seq=[seqs[k] for k in scored], norm=[norm[k] for k in scored],
                      raw=[raw[k] for k in scored], raw_seq=[raw_seqs[k] for k in scored],
                      traditional=changed_by_t2s(ev.ref_raw) if detail else None,
                      empty_ids=ev.empty_ref_ids)
    known = set(reference.ids)
    with _cyclic_gc_paused():
        try:
            for hyp in hypotheses:
                ev.systems[hyp.name] = _score_system(ev, forms, hyp, known, detail)
        except VocabularyFull as e:
            raise InputError(str(e)) from None
        _summarise(ev, detail)
    return ev


@contextmanager
def _cyclic_gc_paused():
    """Scoring keeps some hundred thousand small lists and tuples (the edit ops) alive, none in a
    reference cycle; as they pile up the cyclic collector scans them, and all else alive, again
    and again (6-9 % of the scoring time in bench/cer_speed.py). So it is paused, then resumed
    (left off if the caller had it off)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _score_system(ev: Evaluation, refs: _RefForms, hyp: Hypotheses, known: set[str],
                  detail: bool) -> SystemResult:
    unit, profile, vocab = ev.settings.unit, ev.settings.profile, ev.vocab
    texts = hyp.texts
    hyp_raw = [texts.get(rid) for rid in ev.ids]
    present = np.array([t is not None for t in hyp_raw], dtype=bool)
    filled = [t if t is not None else "" for t in hyp_raw]
    hyp_norm = normalize(filled, profile)
    hyp_seq = tokenize(hyp_norm, unit, vocab)
    u = len(ev.ids)
    S, D, I = (np.zeros(u, dtype=np.int64) for _ in range(3))
    all_ops: list[list] = []
    absorbed: dict[int, list[tuple[int, int]]] = {}
    for k, (ref, h) in enumerate(zip(refs.seq, hyp_seq)):
        if ref == h:
            all_ops.append([])
            continue
        if k in ev.wildcard_cuts:
            ops, absorbed[k] = align_wildcard(ref, h)
        else:
            ops = align(ref, h)
        all_ops.append(ops)
        S[k], D[k], I[k] = count_ops(ops)
    # Raw CER: the same scoring without the profile. Where normalisation changed neither text the
    # raw errors are the normalised ones, so only the others are aligned again.
    raw_err = S + D + I
    raw_norm = normalize(filled, RAW)
    redo = [k for k in range(u) if raw_norm[k] != hyp_norm[k] or refs.raw[k] != refs.norm[k]]
    for k, h in zip(redo, tokenize([raw_norm[k] for k in redo], unit, vocab)):
        ref = refs.raw_seq[k]
        raw_err[k] = (len(align_wildcard(ref, h)[0]) if k in ev.wildcard_cuts
                      else edit_distance(ref, h))
    # Empty references are scored apart: what a system says there is all insertions.
    empty_norm = normalize([texts.get(rid) or "" for rid in refs.empty_ids], profile)
    empty_lens = [len(t) for t in tokenize(empty_norm, unit, vocab)]
    flags: list[tuple[str, ...]] = []
    if detail:
        flags = flag_system(ev.ref_raw, ev.ref_norm, ev.n.tolist(), hyp_raw, hyp_norm,
                            [len(h) for h in hyp_seq], refs.traditional, changed_by_t2s(filled))
    return SystemResult(
        name=hyp.name, source=hyp.source, hyp_raw=hyp_raw, hyp_norm=hyp_norm, hyp_seq=hyp_seq,
        present=present, S=S, D=D, I=I, raw_errors=raw_err, ops=all_ops, absorbed=absorbed,
        flags=flags, unknown_ids=[rid for rid in texts if rid not in known],
        empty_ref_hyps=sum(1 for n in empty_lens if n), empty_ref_insertions=sum(empty_lens),
        problems=list(hyp.problems))


def _summarise(ev: Evaluation, detail: bool) -> None:
    s = ev.settings
    everything = np.ones(len(ev.ids), dtype=bool)
    names = list(ev.systems)
    for name, sr in ev.systems.items():
        ev.totals_deletions[name] = totals(ev.n, sr.S, sr.D, sr.I, everything)
        ev.totals_skip[name] = totals(ev.n, sr.S, sr.D, sr.I, sr.present)
        ev.totals[name] = ev.totals_skip[name] if s.missing == "skip" else ev.totals_deletions[name]
        m = ev.mask(name)
        raw_n = int(ev.raw_n[m].sum())
        ev.raw_cer[name] = int(sr.raw_errors[m].sum()) / raw_n if raw_n else None
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    ev.bootstrap = bootstrap(ev.n, {k: v.errors for k, v in ev.systems.items()},
                             {k: ev.mask(k) for k in names}, pairs, s.resamples, s.seed)
    if not detail:
        return
    for name, sr in ev.systems.items():
        ev.confusions[name] = conf.collect(ev.ref_seq, sr.hyp_seq, sr.ops, ev.mask(name),
                                           ev.vocab.decode)
    for b, a in s.corrects:
        sa, sb = ev.systems[a], ev.systems[b]
        include = ev.mask(a) & ev.mask(b)
        same = np.array([x == y for x, y in zip(sa.hyp_seq, sb.hyp_seq)], dtype=bool)
        ev.corrections.append(account(a, b, ev.n, sa.ops, sb.ops, sa.errors, sb.errors, same,
                                      include))


def _unmark(text: str) -> str:
    return " ".join(text.replace(WILDCARD, "～").split()) if WILDCARD in text else text
