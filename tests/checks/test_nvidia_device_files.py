"""nvidia.device_files in process: the driver's DeviceFileMode/GID decide who may open
/dev/nvidia*; each restriction gives its finding (with `--group-add` where a group helps), the
driver's defaults and other world-writable modes give none."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import nvidia_roots as nr
from tests.support.check_run import run_only

ID = "nvidia.device_files"


def check(root: Path) -> Result:
    return run_only(root, ID)[ID]


def build(tmp_path: Path, **kw) -> Path:
    return nr.build(tmp_path / "r", nr.Spec(**kw))


def test_the_drivers_default_passes(tmp_path):
    result = check(build(tmp_path))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == ("/dev/nvidia* are read-write for everyone (mode 0666), the "
                              "driver's default")


def test_world_writable_with_a_group_passes_without_calling_it_the_default(tmp_path):
    result = check(build(tmp_path, device_file_mode=0o666, device_file_gid=44))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "/dev/nvidia* are read-write for everyone (mode 0666)"


def test_restricted_to_video_names_the_group_to_add(tmp_path):
    result = check(build(tmp_path, device_file_mode=432, device_file_gid=44))
    assert (result.status.value, result.findings) == ("warn", [f"{ID}.group_restricted"])
    assert result.summary == ("/dev/nvidia* are mode 0660, group video (GID 44): a non-root "
                              "container user needs `--group-add 44`")
    assert result.commands == ["docker run --gpus all --group-add 44 IMAGE"]
    assert "/proc/driver/nvidia/params: DeviceFileMode: 432 (0660)" in result.evidence
    assert "alice is in video (GID 44)" in result.evidence
    assert "usermod" not in result.remedy


def test_a_person_outside_the_group_is_told_how_to_join(tmp_path):
    result = check(build(tmp_path, device_file_mode=432, device_file_gid=44,
                         alice_in=("docker",)))
    assert (result.status.value, result.findings) == ("warn", [f"{ID}.group_restricted"])
    assert result.commands == ["docker run --gpus all --group-add 44 IMAGE"]
    assert "alice is not in video (GID 44)" in result.evidence
    assert "`sudo usermod -aG video alice`" in result.remedy


@pytest.mark.parametrize(("mode", "gid", "finding"), [
    (0o660, 0, "root_only"),
    (0o600, 44, "group_cannot_write"),
])
def test_modes_no_group_can_use_warn(tmp_path, mode, gid, finding):
    result = check(build(tmp_path, device_file_mode=mode, device_file_gid=gid))
    assert (result.status.value, result.findings) == ("warn", [f"{ID}.{finding}"])
    assert result.commands == []


def test_params_without_a_mode_skip(tmp_path):
    root = build(tmp_path)
    params = root / "proc/driver/nvidia/params"
    params.write_text("".join(line + "\n" for line in params.read_text().splitlines()
                              if not line.startswith("DeviceFileMode")))
    result = check(root)
    assert result.status.value == "skip"
    assert result.summary == "/proc/driver/nvidia/params has no DeviceFileMode"
