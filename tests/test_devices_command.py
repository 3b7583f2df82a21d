"""`gpudoctor devices`: the GPU table, the docker run line and the compose fragment, as a person
sees them and as --json gives them to scripts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from gpudoctor.facts.runargs import compose_service, compose_text
from tests.support import scenarios as sc
from tests.support.cli import report_for, report_schema, run_gpudoctor


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    names = ("amd_laptop_field_guide", "amd_kfd_render_different_groups", "server_8gpu_bmc",
             "amd_mi300x_partitioned", "vm_no_gpu", "nvidia_nouveau")
    return {name: sc.build(name, tmp_path_factory.mktemp(name)) for name in names}


def devices_json(root: Path, *extra: str, rc: int = 0) -> dict:
    run = run_gpudoctor("devices", "--json", "--root", root, *extra)
    assert run.returncode == rc, run.stderr
    doc = run.json
    item_schema = report_schema()["properties"]["gpus"]["items"]
    for entry in doc["gpus"]:
        jsonschema.validate(entry, item_schema)
    args_schema = report_schema()["properties"]["docker_run_args"]
    jsonschema.validate(doc["docker_run_args"], args_schema)
    return doc


def test_text_output_for_the_field_guide_laptop(roots):
    run = run_gpudoctor("devices", "--root", roots["amd_laptop_field_guide"])
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = next(line for line in lines if line.strip().startswith("PCI"))
    assert header.split() == ["PCI", "VENDOR", "NAME", "KIND", "DRIVER", "CARD", "RENDER",
                              "SELECTED"]
    dgpu = next(line for line in lines if line.strip().startswith("0000:07:00.0"))
    igpu = next(line for line in lines if line.strip().startswith("0000:c8:00.0"))
    assert dgpu.split()[:2] == ["0000:07:00.0", "amd"]
    assert "discrete" in dgpu and "amdgpu" in dgpu and "/dev/dri/card1" in dgpu
    assert "/dev/dri/renderD128" in dgpu and dgpu.endswith("yes: discrete GPU")
    assert "Phoenix1" in igpu and "integrated" in igpu and "/dev/dri/renderD129" in igpu
    assert igpu.endswith("no: integrated GPU left out because a discrete GPU exists "
                         "(use --include-integrated to add it)")
    assert ("  docker run --device=/dev/kfd --device=/dev/dri/renderD128 --group-add=110 IMAGE"
            in lines)
    assert "Works once" not in run.stdout and "Next step" not in run.stdout  # healthy: ready
    fragment = run.stdout.split("docker compose service fragment:\n", 1)[1]
    fragment = "\n".join(line[2:] for line in fragment.split("\n\n", 1)[0].splitlines())
    assert "      - '110'" in fragment
    parsed = yaml.safe_load(fragment)
    assert parsed == {"services": {"app": {"image": "IMAGE",
                                           "devices": ["/dev/kfd", "/dev/dri/renderD128"],
                                           "group_add": ["110"]}}}


def test_json_gives_the_same_data_as_the_report(roots):
    root = roots["amd_kfd_render_different_groups"]
    doc = devices_json(root)
    report = report_for(root)
    assert doc["gpus"] == report["gpus"]
    assert (doc["ready"], doc["blocking"]) == (report["ready"], report["blocking"]) == (True, [])
    assert doc["docker_run_args"] == report["docker_run_args"] == [
        "--device=/dev/kfd", "--device=/dev/dri/renderD128", "--group-add=44", "--group-add=105"]
    assert doc["docker_run"] == ("docker run --device=/dev/kfd --device=/dev/dri/renderD128 "
                                 "--group-add=44 --group-add=105 IMAGE")
    service = doc["compose"]["service"]
    assert service == {"devices": ["/dev/kfd", "/dev/dri/renderD128"], "group_add": ["44", "105"]}
    parsed = yaml.safe_load(doc["compose"]["text"])["services"]["app"]
    assert parsed.pop("image") == "IMAGE"
    assert parsed == service
    assert all(isinstance(gid, str) for gid in parsed["group_add"])


def test_include_integrated_and_gpu_options_change_the_selection(roots):
    root = roots["amd_laptop_field_guide"]
    both = devices_json(root, "--include-integrated")
    assert [g["pci"] for g in both["gpus"] if g["selected"]] == ["0000:07:00.0", "0000:c8:00.0"]
    assert both["compose"]["service"]["devices"] == [
        "/dev/kfd", "/dev/dri/renderD128", "/dev/dri/renderD129"]
    only = devices_json(root, "--gpu", "0000:c8:00.0")
    assert only["docker_run_args"] == [
        "--device=/dev/kfd", "--device=/dev/dri/renderD129", "--group-add=110"]


def test_unknown_gpu_is_one_line_and_exit_2(roots):
    run = run_gpudoctor("devices", "--root", roots["amd_laptop_field_guide"], "--gpu",
                        "0000:0a:00.0")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr == ("gpudoctor: error: --gpu 0000:0a:00.0: no GPU at that address "
                          "(GPUs found: 0000:07:00.0, 0000:c8:00.0)\n")


def test_partitioned_mi300x_table_and_all_render_nodes(roots):
    root = roots["amd_mi300x_partitioned"]
    run = run_gpudoctor("devices", "--root", root)
    assert run.returncode == 0
    assert run.stdout.count("(+7 partitions)") == 8
    doc = devices_json(root)
    assert doc["compose"]["service"]["devices"] == ["/dev/kfd"] + [
        f"/dev/dri/renderD{m}" for m in range(128, 192)]
    assert doc["gpus"][0]["extra_render"] == [f"/dev/dri/renderD{m}" for m in range(129, 136)]


def test_nvidia_server_table_marks_the_bmc_and_compose_reserves_gpus(roots):
    root = roots["server_8gpu_bmc"]
    run = run_gpudoctor("devices", "--root", root)
    # The toolkit is missing on this server: the line is shown, with what it waits for.
    assert run.returncode == 1
    bmc = next(line for line in run.stdout.splitlines() if "0000:03:00.0" in line)
    assert "display-only" in bmc and bmc.endswith("no: not a GPU containers can compute on")
    lines = run.stdout.splitlines()
    at = lines.index("  docker run --gpus=all IMAGE")
    assert lines[at + 1].startswith("  Works once these are fixed: nvidia.toolkit.")
    assert lines[at + 3] == "    sudo gpudoctor fix nvidia.install_toolkit"
    doc = devices_json(root, rc=1)
    assert (doc["ready"], doc["blocking"]) == (False, ["nvidia.toolkit"])
    assert [g["kind"] for g in doc["gpus"]] == ["display"] + ["compute"] * 8
    # no daemon captured: the NVIDIA way is the one the fixes lead to, `--gpus=all`
    assert doc["docker_run_args"] == ["--gpus=all"]
    reservation = doc["compose"]["service"]["deploy"]["resources"]["reservations"]
    assert reservation["devices"] == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert "              count: all\n" in doc["compose"]["text"]


@pytest.mark.parametrize(("name", "reason"), [
    ("vm_no_gpu", "no AMD, NVIDIA or Intel GPU was found on the PCI bus"),
    ("nvidia_nouveau", "the selected GPUs have no usable driver or device files yet"),
])
def test_no_usable_gpu_says_why_and_exits_1(roots, name, reason):
    run = run_gpudoctor("devices", "--root", roots[name])
    assert run.returncode == 1
    assert f"No docker run arguments: {reason}" in run.stdout
    doc = devices_json(roots[name], rc=1)
    assert doc["docker_run_args"] == [] and doc["compose"]["text"] is None
    assert doc["empty_reason"].startswith(reason)


def test_compose_service_for_each_kind_of_argument():
    args = ["--device=/dev/kfd", "--device=nvidia.com/gpu=all", "--runtime=nvidia",
            "--env=NVIDIA_VISIBLE_DEVICES=all",
            '--gpus="device=0,2","capabilities=compute,utility"', "--group-add=993"]
    service = compose_service(args)
    assert service == {
        "devices": ["/dev/kfd", "nvidia.com/gpu=all"],
        "group_add": ["993"],
        "runtime": "nvidia",
        "environment": ["NVIDIA_VISIBLE_DEVICES=all"],
        "deploy": {"resources": {"reservations": {"devices": [
            {"driver": "nvidia", "device_ids": ["0", "2"],
             "capabilities": ["gpu", "compute", "utility"]}]}}},
    }
    parsed = yaml.safe_load(compose_text(args, "gpu", "busybox:latest"))
    assert parsed["services"]["gpu"] == {"image": "busybox:latest", **service}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_fragment(roots, tmp_path):
    """docker-compose parses and normalises the fragment without complaint (no daemon needed)."""
    doc = devices_json(roots["amd_kfd_render_different_groups"])
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(doc["compose"]["text"].replace("IMAGE", "busybox"))
    proc = subprocess.run(["docker-compose", "-f", str(compose_file), "config"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    normalised = yaml.safe_load(proc.stdout)["services"]["app"]
    assert normalised["group_add"] == ["44", "105"]
    assert [d.split(":")[0] for d in normalised["devices"]] == ["/dev/kfd", "/dev/dri/renderD128"]
