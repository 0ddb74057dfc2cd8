"""Qwen2-Audio training and inference on curate manifests, written like a recipe:

data (what examples) → prompts (how they read) → collator (batches) → model (load / tiny) →
recipe (what is trainable) → loss (exact token-summed loss) → trainer (HF Trainer) → infer.

Nothing here imports ``plugins``; torch and transformers are imported only by the modules that
need them, so reading data and prompts stays light.
"""
