"""Libraries the stages are built on and the qc reports read: checks on a label's text
(``labels``), measurements on a clip's samples (``audio``: clipping, level, SNR, fingerprint),
where a clip holds speech and how loud it is (``speech_level``, also used by noise, reverb and
chunk30), the qc tag vocabulary (``tags``) and the personal-data detector (``pii``).

They import nothing but ``manifests``, so stages (``plugins/``) and reports (``curate.qc``) can
both use them without importing each other.
"""
