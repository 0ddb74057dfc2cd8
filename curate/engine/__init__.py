"""The engine: the stage executor (shards, workers, Ray), what a run writes, the run folder's
lifecycle (job, lock, resume), stage discovery, and the run's summary and progress.

It imports only ``manifests`` and the stage contract (``curate.stage``), and the terminal helpers
of ``curate.console`` for what it prints; stages (``plugins``) and commands build on it.
"""
