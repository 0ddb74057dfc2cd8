import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    # rich wraps non-terminal output at 80 columns, so where a line breaks would depend on the
    # length of the checkout's path printed in it; a wide console keeps assertions on text stable.
    monkeypatch.setenv("COLUMNS", "400")
