"""The `reports` fixture: one schema-validated `gpudoctor --json --root` report per scenario,
built once per session and shared by the hardware check tests."""

from __future__ import annotations

import pytest

from tests.support import scenarios as sc
from tests.support.cli import report_for


@pytest.fixture(scope="session")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return {name: report_for(sc.build(name, tmp_path_factory.mktemp(name)))
            for name in sc.SCENARIOS}
