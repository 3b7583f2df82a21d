"""The report as a person and a script read it: a verdict with the next command, commands that
can be pasted at any terminal width, readiness in the JSON, ASCII output that never crashes,
and JSON that is the same from one run to the next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpudoctor.textreport import render
from gpudoctor.verdict import verdict_of
from tests.support import scenarios
from tests.support.cli import check_of, report_for, run_gpudoctor

BROKEN = ("nvidia_nouveau", "server_8gpu_bmc", "nvidia_laptop_intel_igpu", "vm_no_gpu")
HEALTHY = ("amd_laptop_field_guide", "amd_desktop_two_7900xtx_igpu")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ux-roots")
    return {name: scenarios.build(name, base / name) for name in BROKEN + HEALTHY}


def text_report(root: Path, columns: int, *extra: str, **env: str):
    return run_gpudoctor("--root", root, *extra, env={"COLUMNS": str(columns), **env})


# ----- readiness -------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "blocking"), [
    ("nvidia_nouveau", ["kernel.driver", "devices.nodes", "nvidia.toolkit"]),
    ("server_8gpu_bmc", ["nvidia.toolkit"]),
    ("nvidia_laptop_intel_igpu", ["nvidia.toolkit"]),
    ("vm_no_gpu", ["gpu.present"]),
])
def test_broken_hosts_are_not_ready_and_say_what_blocks(roots, name, blocking):
    report = report_for(roots[name])  # validated against the schema
    assert report["ready"] is False
    assert report["blocking"] == blocking
    failing = {c["id"] for c in report["checks"] if c["status"] in ("fail", "error")}
    assert set(report["blocking"]) <= failing


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_hosts_are_ready(roots, name):
    report = report_for(roots[name])
    assert (report["ready"], report["blocking"]) == (True, [])
    assert report["docker_run_args"]
    assert report["host"]["hostname"] is None or report["host"]["hostname"]
    assert report["generated_at"].endswith("Z")


def test_a_stale_pciids_warning_does_not_make_the_host_unready(tmp_path):
    root = scenarios.build("pciids_2023", tmp_path / "stale")
    report = report_for(root)
    assert check_of(report, "pciids.fresh")["status"] == "warn"
    assert report["ready"] is True
    last = text_report(root, 100).stdout.splitlines()[-1]
    assert last.startswith("[!] Ready (1 warning: pciids.fresh; containers are not affected): "
                           "docker run ")
    assert "Doctor found problems" not in text_report(root, 100).stdout


def test_gpus_have_a_kind_and_counts_leave_the_bmc_out(roots):
    report = report_for(roots["server_8gpu_bmc"])
    kinds = {g["pci"]: g["kind"] for g in report["gpus"]}
    assert kinds.pop("0000:03:00.0") == "display"  # the BMC's ASPEED VGA
    assert set(kinds.values()) == {"compute"} and len(kinds) == 8
    text = text_report(roots["server_8gpu_bmc"], 100).stdout
    assert ("  GPUs: 8 GPUs found, 8 selected for containers (and 1 display-only device, "
            "such as a server's BMC VGA)") in text.splitlines()
    assert "8 GPUs found; 8 selected" in text  # gpu.present's own summary: no "GPU(s)"


# ----- the verdict line --------------------------------------------------------------------------
def test_report_ends_with_the_verdict_and_the_next_command(roots):
    run = text_report(roots["nvidia_nouveau"], 100)
    assert run.returncode == 1
    last = run.stdout.splitlines()[-1]
    assert last == ("[✗] Not ready: blocked by kernel.driver, devices.nodes, nvidia.toolkit. "
                    "By hand (steps above): kernel.driver, devices.nodes. "
                    "Next: sudo gpudoctor fix nvidia.install_toolkit")
    ready = text_report(roots["amd_laptop_field_guide"], 100)
    assert ready.returncode == 0
    assert ready.stdout.splitlines()[-1] == (
        "[✓] Ready: docker run --device=/dev/kfd --device=/dev/dri/renderD128 --group-add=110 "
        "IMAGE")


def test_run_arguments_say_they_work_only_once_the_blockers_are_fixed(roots):
    lines = text_report(roots["server_8gpu_bmc"], 100).stdout.splitlines()
    at = lines.index("  docker run --gpus=all IMAGE")
    assert lines[at + 1] == "  Works once these are fixed: nvidia.toolkit."
    healthy = text_report(roots["amd_laptop_field_guide"], 100).stdout
    assert "Works once" not in healthy


# ----- commands that can be pasted ---------------------------------------------------------------
@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("name", ["nvidia_nouveau", "server_8gpu_bmc", "vm_no_gpu"])
def test_every_remedy_command_is_whole_on_its_own_line(roots, name, columns):
    report = report_for(roots[name])
    run = text_report(roots[name], columns)
    lines = [line.strip() for line in run.stdout.splitlines()]
    listed = [c for check in report["checks"] if check["status"] in ("fail", "warn", "error")
              for c in check["commands"]]
    assert listed, "the failing checks give their commands"
    for command in listed:
        assert command in lines, (columns, command)
    for check in report["checks"]:
        if check["fixes"] and check["status"] in ("fail", "warn", "error"):
            assert "sudo gpudoctor fix " + " ".join(check["fixes"]) in lines
    # Prose still wraps to the terminal; only commands may run past it.
    prose = [line for line in run.stdout.splitlines()
             if line.startswith("        ") and line.strip() not in listed
             and "`" not in line]
    assert all(len(line) <= columns for line in prose), columns


def test_a_quoted_command_in_prose_is_never_split(roots):
    report = report_for(roots["nvidia_nouveau"])
    out = render(report, stream=None, colour=False, width=80)
    for line in out.splitlines():
        assert line.count("`") % 2 == 0, line  # every quote opens and closes on one line


def test_commands_are_a_list_in_the_json(roots):
    report = report_for(roots["nvidia_nouveau"])
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["commands"][0].startswith("curl -fsSL https://nvidia.github.io/")
    assert toolkit["commands"][1].startswith("sudo dpkg -i libnvidia-container1_")
    driver = check_of(report, "kernel.driver")
    assert driver["commands"][:3] == [
        "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee "
        "/etc/modprobe.d/blacklist-nouveau.conf", "sudo update-initramfs -u", "sudo reboot"]
    for check in report["checks"]:
        assert all(c and "\n" not in c for c in check["commands"]), check["id"]


# ----- encodings ---------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_report_on_an_ascii_or_latin1_terminal(roots, encoding):
    for args in (("--root", roots["nvidia_nouveau"]), ("--root", roots["nvidia_nouveau"], "-v"),
                 ("list",), ("devices", "--root", roots["server_8gpu_bmc"])):
        run = run_gpudoctor(*args, env={"PYTHONIOENCODING": encoding})
        assert run.returncode in (0, 1), (args, run.stderr)
        assert "Error" not in run.stderr and run.stderr == "", (args, run.stderr)
    run = run_gpudoctor("--root", roots["nvidia_nouveau"], env={"PYTHONIOENCODING": "ascii"})
    assert run.stdout.isascii()
    assert run.stdout.splitlines()[-1].startswith("[x] Not ready: blocked by kernel.driver")
    assert "      -> Keep nouveau off the GPU" in run.stdout  # the arrow, spelled in ASCII


# ----- stable JSON -------------------------------------------------------------------------------
def test_two_runs_give_the_same_json_apart_from_generated_at(roots):
    first, second = (report_for(roots["server_8gpu_bmc"]) for _ in range(2))
    for doc in (first, second):
        doc.pop("generated_at")
        assert all("duration_ms" not in c for c in doc["checks"])
    assert json.dumps(first) == json.dumps(second)
    timed = report_for(roots["server_8gpu_bmc"], "--timings")
    assert all(c["duration_ms"] >= 0 for c in timed["checks"])


def test_verdict_of_an_old_report_without_the_new_fields():
    verdict = verdict_of({"checks": [
        {"id": "pciids.fresh", "status": "fail", "fixes": ["pciids.update"]},
        {"id": "docker.daemon", "status": "error", "fixes": [], "commands": ["sudo x"]}],
        "docker_run_args": ["--gpus=all"]})
    # pci.ids names GPUs for people: never blocking; an undecided daemon is.
    assert (verdict.ready, verdict.blocking) == (False, ["docker.daemon"])
    assert verdict.line() == ("Not ready: blocked by docker.daemon. Next, by hand "
                              "(docker.daemon): sudo x")


# ----- help --------------------------------------------------------------------------------------
def test_help_lists_exit_codes_and_docs_in_the_repository():
    run = run_gpudoctor("--help")
    assert run.returncode == 0
    for expected in ("exit codes:", "  0 ", "  1 ", "  2 ", "  3 ", "docs/checks.md",
                     "gpudoctor/schema/report.schema.json"):
        assert expected in run.stdout, expected
    assert "shared/design" not in run.stdout
    repo = Path(__file__).resolve().parents[1]
    assert (repo / "docs" / "checks.md").is_file()
    assert (repo / "gpudoctor" / "schema" / "report.schema.json").is_file()


def test_list_does_not_take_options_that_do_not_apply():
    run = run_gpudoctor("list", "--gpu", "0000:01:00.0")
    assert run.returncode == 2
    assert run.stderr.startswith("gpudoctor: error: unrecognized arguments: --gpu")
    assert "--gpu" not in run_gpudoctor("list", "--help").stdout


def test_fix_everything_says_first_what_it_cannot_fix(roots):
    run = run_gpudoctor("fix", "--dry-run", "--root", roots["nvidia_nouveau"])
    lines = run.stdout.splitlines()
    assert lines[0] == ("Not fixed automatically, whatever you apply here: kernel.driver, "
                        "devices.nodes.")
    assert "    sudo update-initramfs -u" in lines
    assert lines.index("    sudo update-initramfs -u") < next(
        i for i, line in enumerate(lines) if line.startswith("Plan: "))


def test_fix_everything_exits_1_while_a_check_still_fails(roots):
    run = run_gpudoctor("fix", "--yes", "--root", roots["vm_no_gpu"])
    # No fix can give a VM a GPU: nothing is planned, and the run does not claim success.
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.splitlines()[0] == ("Not fixed automatically, whatever you apply here: "
                                          "gpu.present.")
    assert "    lspci -nn" in run.stdout.splitlines()
    doc = run_gpudoctor("fix", "--yes", "--json", "--root", roots["vm_no_gpu"]).json
    assert (doc["exit_code"], doc["still_failing"], doc["manual"]) == (
        1, ["gpu.present"], ["gpu.present"])


def test_hostname_is_reported_and_redacted_in_a_snapshot(tmp_path):
    import socket

    live = run_gpudoctor("--json").json
    assert live["host"]["hostname"] == socket.gethostname()
    archive = tmp_path / "snap.tar.gz"
    assert run_gpudoctor("snapshot", "-o", archive).returncode == 0
    replayed = report_for(archive)
    assert replayed["host"]["hostname"] not in (None, socket.gethostname())
    # The verdict replays too.
    assert (replayed["ready"], replayed["blocking"]) == (live["ready"], live["blocking"])


def test_no_rocm_reasoning_on_an_nvidia_only_host(roots):
    nvidia = check_of(report_for(roots["server_8gpu_bmc"]), "gpu.present")
    assert "ROCm" not in nvidia["details"]
    amd = check_of(report_for(roots["amd_laptop_field_guide"]), "gpu.present")
    assert "ROCm can crash" in amd["details"]


def test_evidence_quotes_json_not_python_reprs(tmp_path):
    from tests.support import container_roots

    report = report_for(container_roots.nvidia_all_good(tmp_path / "good"))
    evidence = " ".join(check_of(report, "docker.nvidia_runtime")["evidence"])
    assert 'declares runtimes.nvidia = {"args": [], "path": "nvidia-container-runtime"}' in evidence
    assert "{'" not in evidence
    assert report["ready"] is True  # and this healthy NVIDIA host is ready


def test_download_progress_never_reads_zero_kib():
    from gpudoctor.fixes.pciids_update import human_bytes

    assert human_bytes(0) == "0 bytes"
    assert human_bytes(412) == "412 bytes"
    assert human_bytes(3 * 1024 + 400) == "3.4 KiB"
    assert human_bytes(1300 * 1024) == "1.3 MiB"


def test_gpu_kind_from_vendor_and_class():
    from gpudoctor.facts.gpus import Gpu

    def gpu(vendor: str, vendor_id: int, pci_class: int) -> Gpu:
        return Gpu("0000:01:00.0", vendor, vendor_id, 0x1234, pci_class, "/sys/x")

    assert gpu("nvidia", 0x10DE, 0x030200).role == "compute"
    assert gpu("amd", 0x1002, 0x038000).role == "compute"
    assert gpu("other", 0x1A03, 0x030000).role == "display"  # ASPEED BMC VGA
    assert gpu("nvidia", 0x10DE, 0x068000).role == "switch"  # NVSwitch: a bridge-class device
