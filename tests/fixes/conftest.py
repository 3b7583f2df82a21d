"""What every fix test shares."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_lock(tmp_path, monkeypatch):
    """Other test sessions on this machine may run fixes too: each test gets its own lock."""
    monkeypatch.setenv("GPUDOCTOR_LOCK_FILE", str(tmp_path / "gpudoctor.lock"))
