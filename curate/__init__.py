"""curate: curate in-car Mandarin speech into manifests and fine-tune Qwen2-Audio on them."""
__version__ = "0.1.0"
