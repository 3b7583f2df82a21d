"""The `reports` fixture: one schema-validated `gpudoctor --json --root` report per scenario,
built once per session (once for all xdist workers) and shared by the hardware check tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import scenarios as sc
from tests.support.cli import report_for
from tests.support.parallel import shared_once


@pytest.fixture(scope="session")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    def build(folder: Path) -> dict[str, dict]:
        # the other workers wait for these: three gpudoctor processes at a time
        with ThreadPoolExecutor(3) as pool:
            done = pool.map(lambda name: report_for(sc.build(name, folder / name)), sc.SCENARIOS)
            return dict(zip(sc.SCENARIOS, done, strict=True))

    return shared_once(tmp_path_factory, "reports", build)
