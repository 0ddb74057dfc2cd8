"""Libraries the qc and sensitive stages are built on and the qc reports read: checks on a label's
text (``labels``), the qc tag vocabulary (``tags``) and the personal-data detector (``pii``).

They import nothing but ``manifests`` and ``curate.cer``'s scorer, so stages (``plugins/``) and
reports (``curate.qc``) can both use them without importing each other.
"""
