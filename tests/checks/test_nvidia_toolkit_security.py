"""nvidia.toolkit_security on host roots, in process: the installed toolkit against the dated
advisory table, for the mode in use; a fixed toolkit next to each affected one stays quiet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import nvidia_layer_roots as nr
from tests.support.check_run import result_of, verdict

ID = "nvidia.toolkit_security"
UPGRADE_APT = ("sudo apt-get update && sudo apt-get install -y --only-upgrade "
               "nvidia-container-toolkit nvidia-container-toolkit-base "
               "libnvidia-container-tools libnvidia-container1")


def _stale(root: Path) -> Path:
    """The report made a year after the table's date (2025-07-17)."""
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    doc["captured_at"] = "2026-11-30T12:00:00Z"
    host_json.write_text(json.dumps(doc))
    return root


@pytest.mark.parametrize(("version", "mode", "cves"), [
    ("1.16.1-1", None, "CVE-2024-0132"),       # last affected by 0132/0133
    ("1.16.1-1", "cdi", "CVE-2024-0133"),       # 0132 does not affect CDI
    ("1.17.3-1", None, "CVE-2025-23359"),       # last affected by 23359
    ("1.17.4-1", "cdi", "CVE-2025-23266"),      # CDI only before 1.17.5
    ("1.17.7-1", None, "CVE-2025-23266"),       # last affected by 23266
])
def test_affected_toolkit_is_named_with_its_fix(tmp_path: Path, version: str, mode: str | None,
                                                cves: str) -> None:
    result = result_of(nr.toolkit_version(tmp_path / "root", version, mode), ID)
    assert verdict(result) == ("warn", [f"{ID}.affected"])
    assert cves in result.summary
    assert result.fixes == ["nvidia.install_toolkit"]
    assert result.commands == [UPGRADE_APT, "sudo dnf upgrade nvidia-container-toolkit"]
    if mode == "cdi" and version.startswith("1.16.1"):
        assert "CVE-2024-0132" not in result.summary


@pytest.mark.parametrize(("version", "mode"), [("1.17.8-1", None), ("1.17.4-1", None),
                                               ("1.18.0-1", None)])
def test_fixed_toolkit_raises_no_cve(tmp_path: Path, version: str, mode: str | None) -> None:
    result = result_of(nr.toolkit_version(tmp_path / "root", version, mode), ID)
    # (23266 affects 1.17.4 only in CDI mode; this host injects with the legacy hook)
    assert verdict(result) == ("pass", [])
    assert "dated 2025-07-17" in result.summary


def test_the_affected_sentence_names_the_fixed_version(tmp_path: Path) -> None:
    result = result_of(nr.toolkit_version(tmp_path / "root", "1.17.7-1"), ID)
    assert result.summary == ("nvidia-container-toolkit 1.17.7-1 is affected by CVE-2025-23266; "
                              "1.17.8 fixes them")
    assert "Judged for the legacy mode this host uses" in result.details


def test_a_year_after_the_table_a_report_says_it_may_be_stale(tmp_path: Path) -> None:
    result = result_of(_stale(nr.toolkit_version(tmp_path / "root", "1.17.8-1")), ID)
    # old data is gpudoctor's problem, not the host's: said, never a warning
    assert verdict(result) == ("pass", [])
    assert "dated 2025-07-17, more than a year ago" in result.summary
    assert any("CVE-2026-24260" in e for e in result.evidence)  # known, not yet in the table


def test_an_affected_toolkit_with_a_stale_table_keeps_its_finding(tmp_path: Path) -> None:
    result = result_of(_stale(nr.toolkit_version(tmp_path / "root", "1.17.3-1")), ID)
    assert verdict(result) == ("warn", [f"{ID}.affected"])
    assert result.summary.endswith("more than a year ago, so newer advisories are not in it")
    assert result.fixes == ["nvidia.install_toolkit"]


def test_a_version_that_is_not_a_number_is_skipped(tmp_path: Path) -> None:
    result = result_of(nr.toolkit_version(tmp_path / "root", "git-abcdef"), ID)
    assert verdict(result) == ("skip", [])
    assert "`git-abcdef` is not a version number" in result.summary


def test_a_toolkit_without_a_readable_version_is_skipped(tmp_path: Path) -> None:
    """Binaries only (no package database entry, no recorded `--version`): nothing to judge."""
    root = nr.toolkit_version(tmp_path / "root", "1.17.3-1")
    status = root / "var/lib/dpkg/status"
    status.write_text("\n\n".join(p for p in status.read_text().split("\n\n")
                                  if "container" not in p.split("\n", 1)[0]))
    result = result_of(root, ID)
    assert verdict(result) == ("skip", []), result.summary
    assert result.summary == "the toolkit's version cannot be read (see nvidia.toolkit)"
