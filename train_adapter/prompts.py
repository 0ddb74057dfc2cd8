"""Prompts per family, style and task; overridable from a JSON file.

A template is the full text before the answer. Each family writes the audio its own way
(``family.audio_markup``: where the processor puts the clip's audio tokens) and has its styles
(Qwen2-Audio: ``base`` for the base checkpoint, ``instruct`` for the Instruct one). ``{hyp}`` is
replaced by the Base1 hypothesis. The answer is always ``text + <|im_end|>``, so the model learns
to stop.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .families.base import ANSWER_END, HYP, TASK_NAMES, Family

PROMPTS_FILE = "prompts.json"   # saved next to a trained checkpoint; infer reads it back
__all__ = ["ANSWER_END", "HYP", "PROMPTS_FILE", "TASK_NAMES", "Prompts", "PromptError", "load",
           "chat_template"]


class PromptError(ValueError):
    """A prompt file or template that cannot be used."""


@dataclass(frozen=True)
class Prompts:
    style: str
    templates: dict[str, str]
    why: str = ""        # how the style was chosen, for the log (not saved)

    def render(self, task: str, hyp: str | None = None) -> str:
        # a hypothesis is data: markup like <|AUDIO|> in it must not become a special token
        return self.templates[task].replace(HYP, (hyp or "").replace("<|", "<\u200b|"))

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


def style_for(model_path: str, family: Family, requested: str = "auto") -> tuple[str, str]:
    """(style, why): as asked, or the family's choice for this checkpoint."""
    if requested == "auto":
        return family.default_style(model_path)
    if requested not in family.styles:
        raise PromptError(f"prompt style must be auto or one of {', '.join(family.styles)} for "
                          f"{family.title}, got {requested!r}")
    return requested, "as asked (--prompt-style)"


def check(templates: dict[str, str], where: str, family: Family) -> None:
    for task, template in templates.items():
        if task not in TASK_NAMES:
            raise PromptError(f"{where}: unknown task {task!r} (expected {', '.join(TASK_NAMES)})")
        if not isinstance(template, str) or not template:
            raise PromptError(f"{where}: the {task} prompt must be a non-empty string")
        wrong = family.check_prompt(task, template, where)
        if wrong:
            raise PromptError(f"{where}: {wrong}")
        if task != "asr" and HYP not in template:
            raise PromptError(f"{where}: the {task} prompt must contain {HYP}")


def load(model_path: str, style: str = "auto", override: str | None = None, *,
         family: Family | None = None) -> Prompts:
    """Prompts for a checkpoint: the ones it was trained with if it has them, else the defaults
    for its style; then any tasks the ``override`` JSON file sets (``{"asr": "...", ...}``).
    ``family``: the checkpoint's (read from its config.json when not given)."""
    if family is None:
        from .families import of_folder
        from .model import base_folder
        family = of_folder(base_folder(model_path))
    saved = Path(model_path, PROMPTS_FILE)
    if saved.is_file() and style == "auto":
        d = json.loads(saved.read_text(encoding="utf-8"))
        check(d["templates"], str(saved), family)
        prompts = Prompts(d["style"], dict(d["templates"]), f"trained with them ({PROMPTS_FILE})")
    else:
        chosen, why = style_for(model_path, family, style)
        prompts = Prompts(chosen, dict(family.styles[chosen]), why)
    if override:
        try:
            d = json.loads(Path(override).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PromptError(f"{override}: cannot read the prompt file ({e})") from None
        if not isinstance(d, dict):
            raise PromptError(f"{override}: expected a JSON object of task → prompt")
        check(d, override, family)
        prompts = Prompts(prompts.style, {**prompts.templates, **d},
                          f"{prompts.why}; tasks {', '.join(d)} from {override}")
    return prompts
