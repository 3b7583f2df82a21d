"""pciids.fresh on the issue's host roots and variants.

Every report comes from a real `gpudoctor --json --root` run, validated against the schema.
"""

from __future__ import annotations

import os
from pathlib import Path

from checks.pciids_fresh import PciidsFresh
from tests.support import scenarios as sc
from tests.support.cli import check_of
from tests.support.hw_checks import build, found, judge


def test_pciids_2023_warns_with_age_and_the_gpu_it_cannot_name(reports):
    check = check_of(reports["pciids_2023"], "pciids.fresh")
    assert check["status"] == "warn"
    assert check["fixes"] == ["pciids.update"]
    assert check["findings"] == ["pciids.fresh.stale", "pciids.fresh.unnamed"]
    assert check["summary"] == ("/usr/share/misc/pci.ids is 2 year(s) old (2023.04.10) (and 1 "
                                "more problem)")
    assert ("/usr/share/misc/pci.ids: Version 2023.04.10, Date 2023-04-10" in check["evidence"])
    assert "age: 1039 days on 2026-02-13 (older than 365 days)" in check["evidence"]
    assert ("0000:66:00.0 1002:7550: not in this pci.ids (lspci shows `Device 7550`)"
            in check["evidence"])
    assert "0000:07:00.0 1002:7480: Navi 33 [Radeon RX 7700S/7600S]" in check["evidence"]
    assert "`sudo update-pciids`" in check["remedy"]
    assert "never classifies" in check["details"]


def test_pciids_fresh_passes_on_a_current_file(reports):
    check = check_of(reports["amd_laptop_field_guide"], "pciids.fresh")
    assert check["status"] == "pass"
    assert check["summary"] == ("/usr/share/misc/pci.ids (2025.06.21) is 236 days old and names "
                                "every GPU found")


def test_pciids_vm_vendor_missing_everywhere_is_not_a_warning(reports):
    check = check_of(reports["vm_no_gpu"], "pciids.fresh")
    assert check["status"] == "pass"
    assert any("vendor 1234 is not in pci.ids at all" in line for line in check["evidence"])


# ----- in process: one finding per problem, the current file beside them --------------------
PCIIDS = "usr/share/misc/pci.ids"


def _edit_pciids(root: Path, edit) -> None:
    path = root / PCIIDS
    stat = path.stat()
    path.write_text(edit(path.read_text()))
    os.utime(path, (stat.st_atime, stat.st_mtime))


def test_a_current_file_that_names_every_gpu_has_no_finding(tmp_path):
    result = judge(PciidsFresh, sc.build("amd_laptop_field_guide", tmp_path / "root"))
    assert found(result) == ("pass", [])
    assert result.fixes == []


def test_an_old_file_that_cannot_name_the_egpu_gives_two_findings(tmp_path):
    result = judge(PciidsFresh, sc.build("pciids_2023", tmp_path / "root"))
    assert found(result) == ("warn", ["pciids.fresh.stale", "pciids.fresh.unnamed"])
    assert result.fixes == ["pciids.update"]
    assert "`sudo update-pciids`" in result.remedy
    assert result.details.count("never classifies GPUs by name") == 1


def test_a_file_without_header_or_date_is_undated(tmp_path):
    def after(root: Path) -> None:
        _edit_pciids(root, lambda text: "".join(
            line for line in text.splitlines(keepends=True)
            if not line.startswith(("#\tVersion:", "#\tDate:"))))
        os.utime(root / PCIIDS, (0, 0))
    result = judge(PciidsFresh, build(tmp_path / "root", "amd_laptop_field_guide", after=after))
    assert found(result) == ("warn", ["pciids.fresh.undated"])
    assert result.summary == ("/usr/share/misc/pci.ids has no Version/Date header: its age is "
                              "unknown")


def test_a_file_cut_before_its_class_section_is_truncated(tmp_path):
    def after(root: Path) -> None:
        _edit_pciids(root, lambda text: text[:text.index("\nC ") + 1])
    result = judge(PciidsFresh, build(tmp_path / "root", "amd_laptop_field_guide", after=after))
    assert found(result) == ("warn", ["pciids.fresh.truncated"])
    assert result.fixes == ["pciids.update"]


def test_no_file_at_all_is_missing(tmp_path):
    def after(root: Path) -> None:
        (root / PCIIDS).unlink()
    result = judge(PciidsFresh, build(tmp_path / "root", "amd_laptop_field_guide", after=after))
    assert found(result) == ("warn", ["pciids.fresh.missing"])
    assert result.fixes == ["pciids.update"]
    assert result.summary == "no pci.ids found: lspci shows numbers instead of GPU names"
    assert "/usr/share/hwdata/pci.ids: not found" in result.evidence


def test_an_old_hwdata_file_keeps_the_ids_with_the_package_remedy(tmp_path):
    def after(root: Path) -> None:
        old = root / PCIIDS
        new = root / "usr/share/hwdata/pci.ids"
        new.parent.mkdir(parents=True)
        new.write_text(old.read_text().replace("2025.06.21", "2022.01.01")
                       .replace("2025-06-21", "2022-01-01"))
        old.unlink()
    result = judge(PciidsFresh, build(tmp_path / "root", "amd_laptop_field_guide", after=after))
    assert found(result) == ("warn", ["pciids.fresh.stale"])
    assert result.summary.startswith("/usr/share/hwdata/pci.ids is 4 year(s) old")
    assert "sudo dnf upgrade hwdata" in result.remedy
    assert "update-pciids" not in result.remedy


def test_a_vendor_no_database_lists_is_no_finding(tmp_path):
    result = judge(PciidsFresh, sc.build("vm_no_gpu", tmp_path / "root"))
    assert found(result) == ("pass", [])
    assert result.summary.endswith("names every GPU whose vendor the PCI ID database lists")
