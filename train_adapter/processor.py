"""A checkpoint's tokenizer and feature extractor, and how a batch's prompts take their audio.

The same for every family: each clip's mel frames are counted as its feature extractor marks them,
the family says how many audio tokens those frames become, and the prompt's one audio token is
expanded to that many before tokenising, which is what each family's own processor does (the tests
compare against them). Doing it here lets a batch mix rows with and without audio in any family
(Qwen3-ASR's processor wants exactly one clip per text) and keeps torchvision, which the Omni
processor's video half needs, out of the dependencies.

``save_pretrained`` copies the processor files of the folder it was loaded from, so a trained
checkpoint loads with its family's own processor class outside curate too.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .data import MAX_SECONDS
from .families import Family

PROCESSOR_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                   "special_tokens_map.json", "added_tokens.json", "preprocessor_config.json",
                   "processor_config.json", "video_preprocessor_config.json",
                   "chat_template.jinja", "chat_template.json")


class AudioProcessor:
    def __init__(self, family: Family, folder) -> None:
        self.family = family
        self.folder = Path(folder)
        self.tokenizer = family.tokenizer(self.folder)
        self.feature_extractor = family.feature_extractor(self.folder)

    @property
    def audio_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.family.audio_token)

    @property
    def window_seconds(self) -> float:
        """The longest clip training and inference take: the encoder's whole window, and at
        most curate's own limit (Qwen3-ASR's encoder takes any length)."""
        return min(MAX_SECONDS, self.family.max_seconds(self.feature_extractor))

    def audio_tokens(self, seconds: float) -> int:
        """Audio tokens a clip of ``seconds`` becomes in the prompt."""
        return self.family.audio_tokens(seconds, self.feature_extractor)

    def __call__(self, prompts: list[str], audios: list) -> tuple[list[list[int]], dict]:
        """(token ids of each prompt, the audio inputs of the model). ``audios``: one clip per
        prompt holding the audio token, in order."""
        token = self.family.audio_token
        features, frames = self.family.features(self.feature_extractor, audios) if audios \
            else ({}, [])
        clips = iter(frames)
        expanded = []
        for prompt in prompts:
            if token in prompt:
                n = self.family.tokens_for_frames(int(next(clips)))
                prompt = prompt.replace(token, token * n, 1)
            expanded.append(prompt)
        if next(clips, None) is not None:
            raise ValueError(f"{len(audios)} clips for fewer prompts holding {token}")
        ids = self.tokenizer(expanded, add_special_tokens=False)["input_ids"]
        return ids, features

    def save_pretrained(self, out) -> None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if out.resolve() == self.folder.resolve():
            return
        for name in PROCESSOR_FILES:
            if (self.folder / name).is_file():
                shutil.copyfile(self.folder / name, out / name)
