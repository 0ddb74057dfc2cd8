"""Audio-LLM training and inference on curate manifests, written like a recipe:

data (what examples) → prompts (how they read) → collator (batches) → model (load / tiny) →
recipe (what is trainable) → loss (exact token-summed loss) → trainer (HF Trainer) → infer.
What differs between architectures (Qwen2-Audio, Qwen2.5-Omni's Thinker, Qwen3-ASR) lives in
one module per family under ``families``; ``aligner`` is Qwen3-ASR's forced aligner.

Nothing here imports ``plugins``; torch and transformers are imported only by the modules that
need them, so reading data and prompts stays light.
"""
