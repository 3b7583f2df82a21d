"""nvidia.cuda_requirement on host roots, in process: images whose NVIDIA_REQUIRE_CUDA the
loaded driver does not meet (the `--image` asked for: a failure; an existing container's: a
warning), next to images the driver runs."""

from __future__ import annotations

from pathlib import Path

from tests.support import nvidia_layer_roots as nr
from tests.support.check_roots import edit_host_json
from tests.support.check_run import result_of, verdict

ID = "nvidia.cuda_requirement"
NEW = "nvidia/cuda:13.1.0-base-ubuntu24.04"


def test_container_image_needing_newer_cuda(tmp_path: Path) -> None:
    result = result_of(nr.image_needs_newer_driver(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", [f"{ID}.unsatisfied"])
    assert "new-cuda" in result.summary and "CUDA 13.1" in result.summary
    assert "old-cuda" not in result.summary  # cuda>=12.8 on a 13.0 driver is fine
    assert "unsatisfied condition: cuda>=13.1" in result.details
    assert "NVIDIA_DISABLE_REQUIRE" in result.remedy
    assert result.commands == [] and result.fixes == []
    assert any("driver 580.95.05 in gpudoctor's driver/CUDA table" in e
               for e in result.evidence)


def test_the_image_asked_for_is_a_failure(tmp_path: Path) -> None:
    result = result_of(nr.image_needs_newer_driver(tmp_path / "root"), ID, image=NEW)
    # the image asked for would be refused (fail); the container of the same image is a
    # second finding of the same kind
    assert result.status.value == "fail"
    assert result.findings[0] == f"{ID}.unsatisfied"
    assert result.summary.startswith(f"the image {NEW} needs CUDA 13.1, newer than the "
                                     "driver's 13.0")
    assert f"NVIDIA_DISABLE_REQUIRE=true ... {NEW}" in result.remedy


def test_images_the_driver_runs_pass(tmp_path: Path) -> None:
    root = nr.image_needs_newer_driver(tmp_path / "root")
    edit_host_json(root, lambda doc: doc["docker"]["containers"].pop(0)
                   if doc["docker"]["containers"][0]["Names"] == ["/new-cuda"] else
                   doc["docker"]["containers"].pop(1))
    result = result_of(root, ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == "1 image(s) checked; each fits CUDA 13.0"


def test_no_gpu_image_to_check(tmp_path: Path) -> None:
    result = result_of(nr.toolkit_version(tmp_path / "root", "1.17.8-1"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary.startswith("no GPU image to check (driver supports CUDA 13.0")


def test_a_driver_newer_than_the_table_asks_nvidia_smi(tmp_path: Path) -> None:
    result = result_of(nr.newer_driver_than_the_table(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert any("13.1 (from `nvidia-smi` (its header line))" in e for e in result.evidence)


def test_a_driver_cuda_version_nobody_knows_is_skipped(tmp_path: Path) -> None:
    """A driver older than the table and no nvidia-smi recorded: not guessed."""
    root = nr.newer_driver_than_the_table(tmp_path / "root")
    (root / "sys/module/nvidia/version").write_text("100.10\n")
    edit_host_json(root, lambda doc: doc["commands"].pop("nvidia-smi"))
    result = result_of(root, ID)
    assert verdict(result) == ("skip", []), result.evidence
    assert result.summary.startswith("the CUDA version of the driver is not known")
