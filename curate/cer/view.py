"""A plain-text alignment view in which Chinese characters line up: wide characters (East Asian
width W or F) count as two columns, so a terminal or editor with a CJK font shows the reference
token above the hypothesis token it was aligned with.

``Shown`` is what every report shows of an evaluation: the same texts with personal data masked,
each masking carried across the alignment (see ``Masker.aligned``)."""
from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from .confusions import Confusions, collect
from .units import FIRST_CODE, all_cjk, is_cjk

if TYPE_CHECKING:
    from .evaluate import Evaluation

MARK = {"replace": "S", "delete": "D", "insert": "I", "absorb": "~", "": ""}
UNCLEAR = "～"


class _Widths(dict):
    """Display width per character, filled on first sight."""

    def __missing__(self, ch: str) -> int:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        self[ch] = w
        return w


_WIDTHS = _Widths()


def width(text: str) -> int:
    return sum(map(_WIDTHS.__getitem__, text))


def columns(ref: str, hyp: str, ops, cuts=(), absorbed=(),
            decode=lambda ch: ch, join=" ".join) -> list[tuple[str | None, str | None, str]]:
    """The aligned cells ``(ref text, hyp text, op)``; None where a side has no token.

    An edit is one cell; a run of matched tokens is one cell (tag ``""``) holding the run's
    tokens joined by ``join`` (spaces), the same text on both sides. ``cuts``/``absorbed``: wildcard
    positions in the reference and the hypothesis span each one absorbed (see
    ``align_wildcard``); each shows as one ``～`` cell. ``decode`` turns token codes back into
    text (``Vocabulary.decode``).
    """
    steps = _with_wildcards(ops, cuts, absorbed) if absorbed else ops
    ref = decode_tokens(ref, decode)  # every reference token is shown, only the edited hyp ones
    out: list[tuple[str | None, str | None, str]] = []
    i = j = 0
    for tag, si, dj in steps:
        if si > i:  # the matched run before this step
            run = join(ref[i:si])
            out.append((run, run, ""))
            j += si - i
            i = si
        if tag == "replace":
            out.append((ref[i], decode(hyp[j]), tag))
            i += 1
            j += 1
        elif tag == "delete":
            out.append((ref[i], None, tag))
            i += 1
        elif tag == "insert":
            out.append((None, decode(hyp[j]), tag))
            j += 1
        else:  # absorb: dj is the end of the absorbed span
            span = [decode(ch) for ch in hyp[j:dj]]
            joined = ("" if all(len(t) == 1 for t in span) else " ").join(span)
            out.append((UNCLEAR, joined or None, tag))
            j = dj
    if len(ref) > i:
        run = join(ref[i:])
        out.append((run, run, ""))
    return out


def decode_tokens(seq: str, decode) -> list[str]:
    """The tokens of a token string as a list of texts (a list joins faster than a str)."""
    if seq and max(seq) >= FIRST_CODE:
        return [decode(ch) if ch >= FIRST_CODE else ch for ch in seq]
    return list(seq)


def _with_wildcards(ops, cuts, absorbed) -> list[tuple[str, int, int]]:
    """The ops with one ``("absorb", cut, end of span)`` step per wildcard, in hypothesis order
    (a wildcard goes between the ops of the pieces around it)."""
    events = [(j, i, 1, tag, j) for tag, i, j in ops]
    events += [(j0, cut, 0, "absorb", j1) for cut, (j0, j1) in zip(cuts, absorbed)]
    events.sort()
    return [(tag, i, end) for _, i, _, tag, end in events]


def render(cells) -> tuple[str, str, str]:
    """Three lines (reference, hypothesis, ops) with each cell padded to the same width."""
    ref_line, hyp_line, op_line = [], [], []
    matched = None  # matched text since the last edit: blanked on the ops line if an edit follows
    for r, h, tag in cells:
        if not tag:  # the same text above and below
            ref_line.append(r)
            hyp_line.append(r)
            matched = r if matched is None else f"{matched} {r}"
            continue
        if matched is not None:
            op_line.append(" " * width(matched))
            matched = None
        wr = (_WIDTHS[r] if len(r) == 1 else width(r)) if r else 1
        wh = (_WIDTHS[h] if len(h) == 1 else width(h)) if h else 1
        w = max(wr, wh)
        ref_line.append(r + " " * (w - wr) if r else "*" * w)
        hyp_line.append(h + " " * (w - wh) if h else "*" * w)
        op_line.append(MARK[tag].ljust(w))
    return (" ".join(ref_line).rstrip(), " ".join(hyp_line).rstrip(),
            " ".join(op_line).rstrip())


# --- personal data: what the reports show -----------------------------------------------------
# The scores are computed on the raw texts; only what is shown is masked. ``mask`` (text -> text
# of the same length, personal data starred, as ``curate.checks.pii.redact_text``) is passed in by
# the command: the scorer never imports a detector.

def join_tokens(tokens: list[str]) -> str:
    """Tokens as they read: a space between two words, none next to a CJK character (so the
    masker sees ``给13812345678打电话`` and spoken digits side by side)."""
    joined = "".join(tokens)
    if len(joined) == len(tokens) and all_cjk(joined):  # the common case, in one regex call
        return joined
    out = []
    for k, t in enumerate(tokens):
        if k and not (is_cjk(t) or is_cjk(tokens[k - 1])):
            out.append(" ")
        out.append(t)
    return "".join(out)


def star(text: str) -> str:
    return "*" * len(text)


class Masker:
    """``mask`` applied to texts and token lists, cached per text (hypotheses often repeat the
    reference); ``produced`` holds every masked token it showed."""

    def __init__(self, mask) -> None:
        self.mask = mask
        self.produced: set[str] = set()
        self._texts: dict[str, str] = {}

    def text(self, text: str | None) -> str:
        if not text or self.mask is None:
            return text or ""
        out = self._texts.get(text)
        if out is None:
            out = self._texts[text] = self.mask(text) or ""
            if len(out) != len(text):  # a mask that moved text: nothing of it can be trusted
                out = self._texts[text] = star(text)
        return out

    def tokens(self, tokens: list[str], raw: str | None) -> list[str]:
        """The tokens with personal data masked in place, found in the tokens as they read or
        in the raw text; where only the raw text shows it (a number normalisation rewrote),
        every token is starred."""
        if self.mask is None or not tokens:
            return tokens
        joined = join_tokens(tokens)
        masked = self.text(joined)
        if masked == joined:
            if self.text(raw) == (raw or ""):
                return tokens
            return self._note(tokens, [star(t) for t in tokens])
        out, pos = [], 0
        for t in tokens:  # join_tokens put one space between tokens or none
            if joined[pos] == " " and t != " ":
                pos += 1
            out.append(masked[pos:pos + len(t)])
            pos += len(t)
        return self._note(tokens, out)

    def aligned(self, ref: list[str], ref_raw: str | None, hyp: list[str], hyp_raw: str | None,
                steps) -> tuple[list[str], list[str], bool, bool]:
        """Both sides of one alignment masked, each masking carried to the other side: a token
        aligned with a masked token (matched, substituted), or inserted or deleted next to
        one, is masked too, so a hypothesis that misses a digit of the reference's phone number
        (no longer a phone number to the detector) shows no more of it than the reference.
        ``steps``: ``aligned_pairs`` of the alignment. Returns both sides and, per side,
        whether it got masking carried over from the other."""
        if self.mask is None:
            return ref, hyp, False, False
        ref_shown, hyp_shown = self.tokens(ref, ref_raw), self.tokens(hyp, hyp_raw)
        ref_hit = [a != b for a, b in zip(ref_shown, ref)]
        hyp_hit = [a != b for a, b in zip(hyp_shown, hyp)]
        if not any(ref_hit) and not any(hyp_hit):
            return ref, hyp, False, False
        ref_out, hyp_out = list(ref_shown), list(hyp_shown)
        near_ref = lambda i: (i > 0 and ref_hit[i - 1]) or (i < len(ref) and ref_hit[i])
        near_hyp = lambda j: (j > 0 and hyp_hit[j - 1]) or (j < len(hyp) and hyp_hit[j])
        for i, j, tag in steps:
            if tag == "":  # the same token: starred where either side starred it
                if ref_hit[i] or hyp_hit[j]:
                    ref_out[i] = hyp_out[j] = _union(ref[i], ref_shown[i], hyp_shown[j])
            elif tag == "replace":
                if ref_hit[i] and not hyp_hit[j]:
                    hyp_out[j] = star(hyp[j])
                elif hyp_hit[j] and not ref_hit[i]:
                    ref_out[i] = star(ref[i])
            elif tag == "delete":  # j: the hypothesis position it falls before
                if not ref_hit[i] and near_hyp(j):
                    ref_out[i] = star(ref[i])
            elif not hyp_hit[j] and near_ref(i):  # insert or absorb; i: the gap's position
                hyp_out[j] = star(hyp[j])
        self._note(ref, ref_out)
        self._note(hyp, hyp_out)
        return ref_out, hyp_out, ref_out != ref_shown, hyp_out != hyp_shown

    def _note(self, tokens: list[str], shown: list[str]) -> list[str]:
        self.produced.update(s for s, t in zip(shown, tokens) if s != t)
        return shown


def _union(raw: str, a: str, b: str) -> str:
    """Two maskings of one token: each character as whichever masking changed it."""
    return "".join(x if x != r else y for r, x, y in zip(raw, a, b))


def aligned_pairs(ops, n_ref: int, cuts=(), absorbed=()):
    """Every step of an alignment as ``(ref index, hyp index, op)``, ops as in ``columns``
    (``""`` a matched token). A deletion's hyp index is the position it falls before, an
    insertion's ref index the gap's; a wildcard yields one ``absorb`` step per absorbed
    hypothesis token."""
    steps = _with_wildcards(ops, cuts, absorbed) if absorbed else ops
    i = j = 0
    for tag, si, dj in steps:
        while i < si:
            yield i, j, ""
            i += 1
            j += 1
        if tag == "replace":
            yield i, j, tag
            i += 1
            j += 1
        elif tag == "delete":
            yield i, j, tag
            i += 1
        elif tag == "insert":
            yield i, j, tag
            j += 1
        else:
            for jj in range(j, dj):
                yield i, jj, "absorb"
            j = dj
    while i < n_ref:
        yield i, j, ""
        i += 1
        j += 1


def spread(text: str, tokens: list[str], shown: list[str]) -> str:
    """``text`` (the normalised text the tokens were cut from, in order) with each token
    replaced by its shown form of the same length; all starred if a token cannot be found."""
    if shown is tokens or shown == tokens:
        return text
    out, pos = [], 0
    for t, s in zip(tokens, shown):
        at = text.find(t, pos)
        if at < 0:
            return star(text)
        out += [text[pos:at], s]
        pos = at + len(t)
    out.append(text[pos:])
    return "".join(out)


class Shown:
    """What the reports show of an evaluation: ids, problems, texts, alignments and confusions
    with personal data masked (``mask`` None: as they are)."""

    def __init__(self, ev: Evaluation, mask) -> None:
        self.ev = ev
        self.masker = Masker(mask)
        self._aligned: dict[tuple[str, int], tuple] = {}

    def text(self, text: str | None) -> str:
        return self.masker.text(text)

    def ids(self, ids: list[str]) -> list[str]:
        return [self.masker.text(rid) for rid in ids]

    def problem(self, problem) -> str:
        return self.masker.text(str(problem))

    def tokens(self, name: str, k: int) -> tuple[list[str], list[str]]:
        """Utterance ``k``'s reference and system ``name``'s hypothesis tokens as shown."""
        return self._align(name, k)[2:4]

    def normalised(self, name: str, k: int) -> tuple[str, str]:
        """The normalised reference and hypothesis texts as shown."""
        ev, sr = self.ev, self.ev.systems[name]
        if self.masker.mask is None:
            return ev.ref_norm[k], sr.hyp_norm[k]
        ref, hyp, ref_shown, hyp_shown, _, _ = self._align(name, k)
        return spread(ev.ref_norm[k], ref, ref_shown), spread(sr.hyp_norm[k], hyp, hyp_shown)

    def raw(self, name: str, k: int) -> tuple[str, str | None]:
        """The raw texts as shown; a side that got masking carried over from the other (which
        cannot be found in the raw text again) is shown normalised."""
        ev, sr = self.ev, self.ev.systems[name]
        *_, ref_carried, hyp_carried = self._align(name, k)
        ref_norm, hyp_norm = self.normalised(name, k) if ref_carried or hyp_carried else ("", "")
        ref = ref_norm if ref_carried else self.masker.text(ev.ref_raw[k])
        if sr.hyp_raw[k] is None:
            return ref, None
        return ref, hyp_norm if hyp_carried else self.masker.text(sr.hyp_raw[k])

    def reference(self, k: int) -> str:
        """The raw reference as shown once for every system (report.html): as ``raw``, with
        the masking every system's alignment carried into it."""
        ev = self.ev
        carried = [self.normalised(name, k)[0] for name in ev.systems if self._align(name, k)[4]]
        if not carried:
            return self.masker.text(ev.ref_raw[k])
        out = carried[0]
        for other in carried[1:]:
            out = _union(ev.ref_norm[k], out, other)
        return out

    def confusions(self, name: str) -> Confusions:
        """The system's edits counted on the shown tokens: an edit at a masked position counts
        under its masked tokens (``* → *``), never its raw ones."""
        sr, ev = self.ev.systems[name], self.ev
        if self.masker.mask is None:
            return ev.confusions[name]
        refs, hyps = [], []
        for k, ops in enumerate(sr.ops):
            ref, hyp = self.tokens(name, k) if ops else ((), ())
            refs.append(ref)
            hyps.append(hyp)
        return collect(refs, hyps, sr.ops, ev.mask(name))

    def masked(self, token: str) -> bool:
        """Whether a shown token is a masked one."""
        return token in self.masker.produced

    def _align(self, name: str, k: int) -> tuple:
        key = (name, k)
        got = self._aligned.get(key)
        if got is None:
            ev, sr = self.ev, self.ev.systems[name]
            ref = decode_tokens(ev.ref_seq[k], ev.vocab.decode)
            hyp = decode_tokens(sr.hyp_seq[k], ev.vocab.decode)
            steps = aligned_pairs(sr.ops[k], len(ref), ev.wildcard_cuts.get(k, ()),
                                  sr.absorbed.get(k, ()))
            got = self._aligned[key] = (ref, hyp, *self.masker.aligned(
                ref, ev.ref_raw[k], hyp, sr.hyp_raw[k], steps))
        return got
