"""pciids.fresh on the issue's host roots and variants.

Every report comes from a real `gpudoctor --json --root` run, validated against the schema.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.check_roots import variant
from tests.support.cli import check_of


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


def test_no_pciids_warns_and_offers_the_update(tmp_path):
    def after(root: Path) -> None:
        (root / "usr/share/misc/pci.ids").unlink()
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "pciids.fresh")
    assert check["status"] == "warn"
    assert check["summary"] == "no pci.ids found: lspci shows numbers instead of GPU names"
    assert "/usr/share/hwdata/pci.ids: not found" in check["evidence"]
    assert check["fixes"] == ["pciids.update"]


def test_hwdata_pciids_remedy_upgrades_the_package(tmp_path):
    def after(root: Path) -> None:
        old = root / "usr/share/misc/pci.ids"
        new = root / "usr/share/hwdata/pci.ids"
        new.parent.mkdir(parents=True)
        new.write_text(old.read_text().replace("2025.06.21", "2022.01.01")
                       .replace("2025-06-21", "2022-01-01"))
        old.unlink()
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "pciids.fresh")
    assert check["status"] == "warn"
    assert check["summary"].startswith("/usr/share/hwdata/pci.ids is 4 year(s) old")
    assert "sudo dnf upgrade hwdata" in check["remedy"]
