"""Base or Instruct prompts, decided by the checkpoint's chat template, never its folder name."""
from __future__ import annotations

import json
import shutil

import pytest

from train_adapter import prompts as P
from train_adapter.families import qwen2_audio as Q2
from train_adapter.model import build_tiny

# the Instruct checkpoint's template, as transformers ships it for Qwen2-Audio
INSTRUCT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful "
    "assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if 'audio' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}Audio {{ audio_count.value }}: "
    "<|audio_bos|><|AUDIO|><|audio_eos|>\n{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
TEXT_CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
             "{% endfor %}")


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("tiny") / "Qwen2-Audio-7B-Instruct", ["打开空调"],
                      window=8)


def _instruct_copy(base_dir, folder, how: str):
    shutil.copytree(base_dir, folder)
    if how == "jinja":          # how transformers 5 saves a processor's template
        (folder / "chat_template.jinja").write_text(INSTRUCT_TEMPLATE)
    else:                       # older checkpoints: inside the tokenizer config
        config = json.loads((folder / "tokenizer_config.json").read_text())
        (folder / "tokenizer_config.json").write_text(
            json.dumps({**config, "chat_template": INSTRUCT_TEMPLATE}))
    return folder


def test_a_base_checkpoint_gets_base_prompts_whatever_its_name(base_dir):
    prompts = P.load(str(base_dir))       # named ...-Instruct, but no chat template
    assert (prompts.style, prompts.why) == ("base", "the checkpoint has no chat template")


@pytest.mark.parametrize("how", ["jinja", "tokenizer_config"])
def test_an_instruct_checkpoint_is_known_by_its_chat_template(base_dir, tmp_path, how):
    # an HF cache snapshot and a training output: neither name says Instruct
    for folder in (tmp_path / "models--Qwen--x" / "snapshots" / "0a1b2c", tmp_path / "sft1"):
        _instruct_copy(base_dir, folder, how)
        prompts = P.load(str(folder))
        assert prompts.style == "instruct" and prompts.templates == Q2.INSTRUCT
        assert "chat template takes audio" in prompts.why
        assert P.load(str(folder), "base").style == "base"           # --prompt-style wins
    assert P.load(str(base_dir), "instruct").why == "as asked (--prompt-style)"


def test_a_text_only_chat_template_is_not_an_audio_instruct_model(base_dir, tmp_path):
    folder = tmp_path / "textchat"
    shutil.copytree(base_dir, folder)
    (folder / "chat_template.jinja").write_text(TEXT_CHAT)
    assert P.style_for(str(folder), Q2.FAMILY) == ("base", "the checkpoint's chat template has no audio turns")


def test_prompts_saved_with_a_trained_checkpoint_win_under_auto(base_dir, tmp_path):
    folder = _instruct_copy(base_dir, tmp_path / "ckpt", "jinja")
    P.Prompts("base", dict(Q2.BASE)).save(folder)   # trained with base prompts
    prompts = P.load(str(folder))
    assert prompts.style == "base" and P.PROMPTS_FILE in prompts.why
    assert P.load(str(folder), "instruct").style == "instruct"
