"""The loss: lm_head only at labelled positions, exact under gradient accumulation."""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from manifests import Problems, read_manifest, write_manifest
from train_adapter import data as D
from train_adapter.collator import Collator
from train_adapter.finetune import Job, finetune
from train_adapter.loss import LabelledLogits, token_loss
from train_adapter.model import build_tiny, load
from train_adapter.prompts import load as load_prompts
from train_adapter.recipe import Recipe, apply
from train_adapter.trainer import Settings, training_arguments

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"
EPS = torch.finfo(torch.float32).eps
STEP_ROWS = 4       # examples per optimizer step in the comparisons


def rounding(terms: int) -> float:
    """How far apart, relative to the values' size, two float32 results of the same sum of
    ``terms`` values added in different orders or groupings may be: each is off by at most about
    ``terms``·ε (Higham's γ_n), so they differ by at most twice that. Comparisons of runs that
    split the same work differently (batches, accumulation, processes) take their tolerance from
    it, not from what one CPU's rounding gave."""
    return 2 * terms * EPS


def step_rounding(processor) -> float:
    """:func:`rounding` for one training step: its longest sum is an encoder weight's gradient,
    over the mel frames of every row (the LLM's sequences and widths are shorter)."""
    return rounding(STEP_ROWS * processor.feature_extractor.nb_max_frames)


@contextmanager
def applied_gradients():
    """Collects, at every optimizer step in this process, each parameter's gradient as the step
    applies it (accumulated over micro-batches, reduced over processes, clipped)."""
    steps: list[list[torch.Tensor]] = []

    def keep(optimizer, args, kwargs):
        steps.append([p.grad.clone() for group in optimizer.param_groups for p in group["params"]])

    hook = register_optimizer_step_pre_hook(keep)
    try:
        yield steps
    finally:
        hook.remove()


def assert_same_gradients(steps_a: list, steps_b: list, bound: float) -> None:
    """Every step's gradients agree within ``bound`` × the largest value of their tensor."""
    assert len(steps_a) == len(steps_b) and steps_a
    for step, (grads_a, grads_b) in enumerate(zip(steps_a, steps_b), start=1):
        assert len(grads_a) == len(grads_b) == len(steps_a[0])
        for i, (a, b) in enumerate(zip(grads_a, grads_b)):
            assert (a - b).abs().max().item() <= bound * a.abs().max().item(), (step, i)


def assert_same_logs(logs_a: list[dict], logs_b: list[dict], bound: float) -> None:
    assert len(logs_a) == len(logs_b) and logs_a
    for a, b in zip(logs_a, logs_b):
        assert b["loss"] == pytest.approx(a["loss"], rel=bound), a["step"]   # not 2×, or per batch
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=bound), a["step"]
        assert b["learning_rate"] == a["learning_rate"], a["step"]


def assert_same_sgd_weights(weights_a: dict, weights_b: dict, initial: dict, logs: list[dict],
                            steps: list, bound: float) -> None:
    """Weights after plain SGD steps whose gradients agreed within ``bound``: apart by at most
    Σ lr × the gradients' bound, plus one rounding of each update in each run (to ε × the
    largest a weight can have been). Every parameter that ``steps`` updated moved."""
    largest = [log["learning_rate"] * max(g.abs().max().item() for g in grads)
               for log, grads in zip(logs, steps)]              # the most any weight moved
    moved = [n for n in weights_a if not torch.equal(weights_a[n], initial[n])]
    assert len(moved) == len(steps[0])
    for name, a in weights_a.items():
        scale = initial[name].abs().max().item() + sum(largest)
        assert (a - weights_b[name]).abs().max().item() <= \
            bound * sum(largest) + 2 * len(steps) * EPS * scale, name


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Twelve short demo clips, with Base1 hypotheses, and a tiny model for them."""
    folder = tmp_path_factory.mktemp("loss")
    records = [r for r in read_manifest(DEMO) if 0.5 < r.duration < 8 and r.text and r.hyp][:12]
    manifest = folder / "manifest.jsonl"
    write_manifest(manifest, records)
    tiny = build_tiny(folder / "tiny", [t for r in records for t in (r.text, r.hyp)], window=8)
    return manifest, tiny


def test_labelled_logits_give_the_models_own_loss(corpus):
    manifest, tiny = corpus
    examples, _ = D.read_source(manifest, D.Rules(task="mix", max_seconds=8), Problems())
    model, processor = load(tiny)
    batch = Collator(processor, load_prompts(str(tiny)))(examples[:4])
    labels, loss_mask = batch.pop("labels"), batch.pop("loss_mask")
    with torch.no_grad():
        reference = model(**batch, labels=labels).loss
        full = model(**batch).logits
        hooks = LabelledLogits(model)
        restricted = model(**batch, loss_mask=loss_mask)
        unhooked = model(**batch).logits            # no loss_mask: untouched (generation)
    hooks.remove()
    n = int((labels[:, 1:] != -100).sum())
    assert restricted.logits.shape == (1, n, full.shape[-1])
    # the same logits through differently shaped matmuls; the loss's longest sum is the
    # log-sum-exp over the vocabulary
    bound = rounding(full.shape[-1])
    assert token_loss(restricted, labels).item() == pytest.approx(reference.item(), rel=bound)
    assert token_loss(restricted, labels, num_items_in_batch=2 * n).item() == pytest.approx(
        reference.item() / 2, rel=bound)
    assert torch.equal(unhooked, full)
    with pytest.raises(RuntimeError, match="LabelledLogits"):
        token_loss(type(restricted)(logits=full), labels)


@dataclass
class Run:
    logs: list[dict]                     # the logged steps
    grads: list[list[torch.Tensor]]      # per step: each trainable parameter's applied gradient
    weights: dict[str, torch.Tensor]     # the saved model's


def _train(corpus, out: Path, batch_size: int, grad_accum: int) -> Run:
    manifest, tiny = corpus
    with applied_gradients() as grads:
        finetune(Job(model=str(tiny), data=[str(manifest)], recipe=Recipe("full"), task="mix",
                     loop=Settings(out=out, batch_size=batch_size, grad_accum=grad_accum,
                                   max_steps=2, logging_steps=1, save_steps=100, lr=0.1, warmup=0,
                                   optimizer="sgd")))
    history = json.loads((out / "train.json").read_text())["log_history"]
    weights, _ = load(out)
    return Run([h for h in history if "loss" in h], grads, weights.state_dict())


def test_gradient_accumulation_2_equals_1(corpus, tmp_path):
    """Batch 4 × accumulation 1 and batch 2 × 2 apply the same gradients at every step, within
    float32 rounding (:func:`step_rounding`); an accumulation bug (a mean per micro-batch, the
    Trainer's 2× loss) is off by whole percent. Plain SGD keeps the runs comparable after step 1:
    each moves by lr × its gradient, so their weights part by lr × the rounding, where AdamW's
    division by the gradient's RMS makes rounding noise in near-zero gradients a full-size
    update."""
    _, tiny = corpus
    once = _train(corpus, tmp_path / "ga1", batch_size=STEP_ROWS, grad_accum=1)
    twice = _train(corpus, tmp_path / "ga2", batch_size=STEP_ROWS // 2, grad_accum=2)
    initial, processor = load(tiny)
    bound = step_rounding(processor)
    assert len(once.logs) == 2
    assert_same_logs(once.logs, twice.logs, bound)
    assert_same_gradients(once.grads, twice.grads, bound)
    assert_same_sgd_weights(once.weights, twice.weights, initial.state_dict(), once.logs,
                            once.grads, bound)


def test_the_optimizer_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path))   # training_arguments sets it
    for optimizer, name in (("adamw", "adamw_torch_fused"), ("sgd", "sgd")):
        settings = Settings(out=tmp_path, lr=1e-3, num_workers=0, optimizer=optimizer)
        assert training_arguments(settings, has_eval=False).optim == name
    assert Settings(out=tmp_path).optimizer == "adamw"
    with pytest.raises(ValueError, match="one of adamw, sgd, adamw8bit, got 'adam'"):
        Settings(out=tmp_path, optimizer="adam")


def test_audio_less_batches_keep_the_encoder_in_the_graph(corpus):
    """Stage align on a text-only batch: without the silent clip nothing trainable is in the graph
    (one process fails at backward; DDP, ZeRO-3 and FSDP fail or hang)."""
    _, tiny = corpus
    pairs = [D.Example("p1", "correct_text", "打开空调", hyp="打开空掉"),
             D.Example("p2", "correct_text", "导航到机场", hyp="导航到机厂")]
    model, processor = load(tiny)
    model = apply(model, Recipe("align"))
    LabelledLogits(model)
    prompts = load_prompts(str(tiny))
    for silent in (False, True):
        batch = Collator(processor, prompts, silent_audio=silent)(pairs)
        labels = batch.pop("labels")
        loss = token_loss(model(**batch), labels)
        if not silent:
            with pytest.raises(RuntimeError, match="does not require grad"):
                loss.backward()
            continue
        loss.backward()
        grads = [p.grad for p in model.model.audio_tower.parameters() if p.requires_grad]
        assert grads and all(g is not None and not g.any() for g in grads)   # in graph, zero
