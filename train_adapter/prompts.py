"""Prompts for the base and Instruct checkpoints, per task; overridable from a JSON file.

A template is the full text before the answer. ``<|audio_bos|><|AUDIO|><|audio_eos|>`` marks where
the processor puts the audio tokens (since transformers 5.16 it no longer adds the bos/eos around a
bare ``<|AUDIO|>``, so templates carry them). ``{hyp}`` is replaced by the Base1 hypothesis. The
answer is always ``text + <|im_end|>``, so the model learns to stop.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

AUDIO = "<|audio_bos|><|AUDIO|><|audio_eos|>"
ANSWER_END = "<|im_end|>"
HYP = "{hyp}"
PROMPTS_FILE = "prompts.json"   # saved next to a trained checkpoint; infer reads it back
TASK_NAMES = ("asr", "correct", "correct_text")

# Base model: raw prompt, as in the official ASR evaluation.
BASE = {
    "asr": AUDIO + "Detect the language and recognize the speech: <|zh|>",
    "correct": AUDIO + "First-pass transcript: " + HYP
               + "\nCorrect the transcript of the speech: <|zh|>",
    "correct_text": "First-pass transcript: " + HYP + "\nCorrect the transcript: <|zh|>",
}


def _chat(user: str) -> str:
    """The Instruct model's ChatML rendering (what its chat template produces) of one user turn."""
    return ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


INSTRUCT = {
    "asr": _chat("Audio 1: " + AUDIO + "\nTranscribe the Mandarin speech exactly. "
                 "Reply with the transcript only."),
    "correct": _chat("Audio 1: " + AUDIO + "\nA first-pass recogniser heard: " + HYP
                     + "\nCorrect its errors using the audio. Reply with the transcript only."),
    "correct_text": _chat("A first-pass recogniser heard: " + HYP
                          + "\nCorrect its errors. Reply with the transcript only."),
}
STYLES = {"base": BASE, "instruct": INSTRUCT}


class PromptError(ValueError):
    """A prompt file or template that cannot be used."""


@dataclass(frozen=True)
class Prompts:
    style: str
    templates: dict[str, str]
    why: str = ""        # how the style was chosen, for the log (not saved)

    def render(self, task: str, hyp: str | None = None) -> str:
        return self.templates[task].replace(HYP, hyp or "")

    def save(self, folder) -> None:
        Path(folder, PROMPTS_FILE).write_text(
            json.dumps({"style": self.style, "templates": self.templates}, ensure_ascii=False,
                       indent=2) + "\n", encoding="utf-8")


def chat_template(folder) -> str | None:
    """The chat template a checkpoint folder ships, wherever transformers keeps it
    (``chat_template.jinja``/``.json``, or inside the processor or tokenizer config)."""
    folder = Path(folder)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "processor_config.json", "tokenizer_config.json"):
        try:
            template = json.loads((folder / name).read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(template, list):   # named templates: [{"name": ..., "template": ...}]
            template = next((t.get("template") for t in template if isinstance(t, dict)
                             and t.get("name") == "default"), None)
        if isinstance(template, str) and template:
            return template
    return None


def style_for(model_path: str, requested: str = "auto") -> tuple[str, str]:
    """(style, why). ``auto``: instruct when the checkpoint's chat template renders audio in
    ChatML turns (the Instruct model's does; the base model ships none), else base. The folder's
    name is not looked at: an HF cache snapshot or ``ckpt/sft1`` says nothing."""
    if requested != "auto":
        if requested not in STYLES:
            raise PromptError(f"prompt style must be auto, base or instruct, got {requested!r}")
        return requested, "as asked (--prompt-style)"
    template = chat_template(model_path)
    if template and "<|im_start|>" in template and "<|AUDIO|>" in template:
        return "instruct", "the checkpoint's chat template takes audio in chat turns"
    if template:
        return "base", "the checkpoint's chat template has no audio turns"
    return "base", "the checkpoint has no chat template"


def check(templates: dict[str, str], where: str) -> None:
    for task, template in templates.items():
        if task not in TASK_NAMES:
            raise PromptError(f"{where}: unknown task {task!r} (expected {', '.join(TASK_NAMES)})")
        if not isinstance(template, str) or not template:
            raise PromptError(f"{where}: the {task} prompt must be a non-empty string")
        n_audio = template.count("<|AUDIO|>")
        if n_audio != (0 if task == "correct_text" else 1):
            raise PromptError(f"{where}: the {task} prompt must contain "
                              f"{'no' if task == 'correct_text' else 'exactly one'} <|AUDIO|>")
        if AUDIO not in template and n_audio:
            raise PromptError(f"{where}: write the audio as {AUDIO} in the {task} prompt")
        if task != "asr" and HYP not in template:
            raise PromptError(f"{where}: the {task} prompt must contain {HYP}")


def load(model_path: str, style: str = "auto", override: str | None = None) -> Prompts:
    """Prompts for a checkpoint: the ones it was trained with if it has them, else the defaults
    for its style; then any tasks the ``override`` JSON file sets (``{"asr": "...", ...}``)."""
    saved = Path(model_path, PROMPTS_FILE)
    if saved.is_file() and style == "auto":
        d = json.loads(saved.read_text(encoding="utf-8"))
        check(d["templates"], str(saved))
        prompts = Prompts(d["style"], dict(d["templates"]), f"trained with them ({PROMPTS_FILE})")
    else:
        chosen, why = style_for(model_path, style)
        prompts = Prompts(chosen, dict(STYLES[chosen]), why)
    if override:
        try:
            d = json.loads(Path(override).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PromptError(f"{override}: cannot read the prompt file ({e})") from None
        if not isinstance(d, dict):
            raise PromptError(f"{override}: expected a JSON object of task → prompt")
        check(d, override)
        prompts = Prompts(prompts.style, {**prompts.templates, **d},
                          f"{prompts.why}; tasks {', '.join(d)} from {override}")
    return prompts
