"""`gpudoctor fleet` over reports of every host root the tests build, plus broken and missing
ones: the real command in a subprocess, every --json summary validated against the shipped
gpudoctor.fleet/1 schema."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from gpudoctor.fleet.summary import abstract
from tests.support.cli import run_gpudoctor
from tests.support.fleet_roots import build_roots, write_reports

HEALTHY = ("amd_laptop_field_guide", "amd_mi300x_8", "ctr_nvidia_all_good")


@cache
def fleet_schema() -> dict:
    return json.loads(resources.files("gpudoctor.schema").joinpath("fleet.schema.json")
                      .read_text())


def fleet(*args: str | Path, input: str | None = None, expect_rc: int | None = None):
    run = run_gpudoctor("fleet", *args, input=input)
    if expect_rc is not None:
        assert run.returncode == expect_rc, (run.returncode, run.stderr, run.stdout[-3000:])
    if "--json" in args and run.returncode in (0, 1):
        jsonschema.validate(run.json, fleet_schema())
    return run


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    base = tmp_path_factory.mktemp("fleet")
    roots = build_roots(base / "roots")
    reports = write_reports(roots, base / "reports")
    return base / "reports", reports


@pytest.fixture
def broken_fleet(fleet_dir, tmp_path) -> Path:
    """The fleet plus what a real gathering leaves behind."""
    folder, _ = fleet_dir
    out = tmp_path / "reports"
    out.mkdir()
    for path in folder.iterdir():
        (out / path.name).write_bytes(path.read_bytes())
    (out / "cut-off.json").write_text((folder / "nvidia_nouveau.json").read_text()[:500])
    (out / "empty.json").write_text("")
    (out / "html.json").write_text("<html><body>502 Bad Gateway</body></html>\n")
    (out / "list.json").write_text("[1, 2]\n")
    (out / "other.json").write_text('{"schema": "something.else/2", "checks": []}\n')
    (out / "notes.txt").write_text("not a report, and not read: only *.json\n")
    return out


def test_every_host_root_in_one_summary(fleet_dir):
    folder, reports = fleet_dir
    run = fleet("--json", folder, expect_rc=1)
    doc = run.json
    failing = sorted(n for n, r in reports.items() if r["summary"]["fail"])
    assert doc["totals"] == {"hosts": len(reports), "reported": len(reports),
                             "ok": len(reports) - len(failing), "failing": len(failing),
                             "unreadable": 0, "missing": 0}
    assert sorted(h["host"] for h in doc["hosts"] if h["fail"]) == failing
    # Per check: how many hosts fail it, and which, agree with the reports themselves.
    for row in doc["checks"]:
        expect = sorted(n for n, r in reports.items()
                        for c in r["checks"] if c["id"] == row["id"] and c["status"] == "fail")
        assert sorted(row["failing_hosts"]) == expect and row["fail"] == len(expect)
    fails = [row["fail"] for row in doc["checks"]]
    assert fails == sorted(fails, reverse=True)
    toolkit = next(c for c in doc["causes"] if c["summary"] ==
                   "nvidia-container-toolkit is not installed")
    assert sorted(toolkit["hosts"]) == sorted(
        n for n, r in reports.items() for c in r["checks"]
        if c["id"] == "nvidia.toolkit" and c["summary"] == toolkit["summary"])
    assert toolkit["count"] >= 4
    # The same cause on hosts with different PCI addresses is one group, values abstracted.
    nodes = next(c for c in doc["causes"] if c["check"] == "devices.nodes")
    assert nodes["summary"] == "<pci> has no /dev/nvidiaN: the nvidia driver is not loaded"
    assert sorted(nodes["hosts"]) == ["nvidia_nouveau", "nvidia_secure_boot_blocked"]
    # Versions spread, from the reports' `versions`.
    assert doc["versions"]["docker"]["28.5.1"] == sum(
        1 for r in reports.values() if r["versions"]["docker"] == "28.5.1")
    assert doc["versions"]["nvidia_driver"]["550.120"] == 2
    assert sum(doc["versions"]["toolkit"].values()) == len(reports)


def test_text_summary_says_causes_hosts_and_versions(fleet_dir):
    folder, _ = fleet_dir
    run = fleet(folder, expect_rc=1)
    out = run.stdout
    assert out.startswith("gpudoctor fleet: 24 host(s): 11 without a failing check, 13 failing")
    # causes are labelled with the finding id the checks decide with
    assert ("[5 host(s)] nvidia.toolkit.not_installed: nvidia-container-toolkit is not "
            "installed") in out
    assert ("devices.nodes.unusable: <pci> has no /dev/nvidiaN: the nvidia driver is not loaded\n"
            "     e.g. 01:00.0 has no /dev/nvidiaN") in out
    assert "hosts: nvidia_nouveau, nvidia_secure_boot_blocked" in out
    assert "docker         unknown (13), 28.5.1 (8)" in out


def test_broken_and_missing_reports_are_listed_not_fatal(broken_fleet, tmp_path):
    hosts = tmp_path / "inventory.txt"
    hosts.write_text("# every host we run\namd_mi300x_8\ngpu-lost-01\ngpu-lost-02  # rack 4\n"
                     "\nnvidia_nouveau\n")
    doc = fleet("--json", "--hosts", hosts, broken_fleet, expect_rc=1).json
    reasons = {u["host"]: u["reason"] for u in doc["unreadable"]}
    assert reasons["cut-off"].startswith("not JSON (line ")
    assert reasons["empty"] == "empty"
    assert reasons["html"] == "not JSON (line 1 column 1: Expecting value)"
    assert reasons["list"] == "a JSON list, not a report object"
    assert reasons["other"] == "schema 'something.else/2', not 'gpudoctor.report/1'"
    assert "notes" not in reasons
    assert doc["missing"] == ["gpu-lost-01", "gpu-lost-02"]
    assert doc["totals"]["unreadable"] == 5 and doc["totals"]["missing"] == 2
    assert doc["totals"]["hosts"] == 24 + 5 + 2
    text = fleet("--hosts", hosts, broken_fleet, expect_rc=1).stdout
    assert "Missing reports (2): gpu-lost-01, gpu-lost-02" in text
    assert f"{broken_fleet}/empty.json: empty" in text


def test_healthy_hosts_exit_0_and_show_no_cause(fleet_dir):
    folder, _ = fleet_dir
    doc = fleet("--json", *(folder / f"{n}.json" for n in HEALTHY), expect_rc=0).json
    assert doc["causes"] == [] and doc["totals"]["failing"] == 0
    assert [h["host"] for h in doc["hosts"]] == list(HEALTHY)
    assert all(h["ready"] for h in doc["hosts"])
    text = fleet(*(folder / f"{n}.json" for n in HEALTHY), expect_rc=0).stdout
    assert "Causes" not in text and "Failing checks" not in text


def test_json_lines_on_stdin_with_one_bad_line(fleet_dir):
    _, reports = fleet_dir
    lines = [json.dumps(reports["nvidia_nouveau"]), "{oops", "",
             json.dumps(reports["amd_mi300x_8"])]
    doc = fleet("--json", input="\n".join(lines) + "\n", expect_rc=1).json
    assert [h["host"] for h in doc["hosts"]] == ["stdin:1", "stdin:4"]
    assert doc["hosts"][0]["fail"] == ["kernel.driver", "devices.nodes", "nvidia.toolkit"]
    assert doc["unreadable"] == [{"host": "stdin:2", "source": "stdin:2",
                                  "reason": "not JSON (line 2 column 2: Expecting property "
                                            "name enclosed in double quotes)"}]


def test_pretty_printed_reports_back_to_back_on_stdin(fleet_dir):
    folder, _ = fleet_dir
    text = "".join((folder / f"{n}.json").read_text() + "\n" for n in HEALTHY)
    broken = (folder / "nvidia_nouveau.json").read_text()[:300] + "\n"
    doc = fleet("--json", "-", input=text + broken + text, expect_rc=1).json
    assert len(doc["hosts"]) == 6 and len(doc["unreadable"]) == 1
    assert doc["unreadable"][0]["reason"].startswith("not JSON (line ")


def test_a_jsonl_file_in_a_folder(fleet_dir, tmp_path):
    _, reports = fleet_dir
    (tmp_path / "rack4.jsonl").write_text(
        "".join(json.dumps(reports[n]) + "\n" for n in HEALTHY))
    doc = fleet("--json", tmp_path, expect_rc=0).json
    assert [h["host"] for h in doc["hosts"]] == ["rack4:1", "rack4:2", "rack4:3"]
    assert doc["hosts"][1]["source"] == f"{tmp_path}/rack4.jsonl:2"
    # `gpudoctor --json >> all.json` on two runs: two pretty-printed documents in one file.
    (tmp_path / "rack4.jsonl").unlink()
    pretty = json.dumps(reports["amd_mi300x_8"], indent=2) + "\n"
    (tmp_path / "all.json").write_text(pretty + pretty)
    doc = fleet("--json", tmp_path, expect_rc=0).json
    assert [h["host"] for h in doc["hosts"]] == ["all:1", f"all:{pretty.count(chr(10)) + 1}"]


def test_a_consequence_is_counted_under_its_root_cause(fleet_dir, tmp_path):
    """A check whose `cause` is another failing check on that host is not a cause itself."""
    _, reports = fleet_dir
    for name in ("nvidia_nouveau", "nvidia_secure_boot_blocked"):
        report = json.loads(json.dumps(reports[name]))
        for check in report["checks"]:
            if check["id"] == "devices.nodes":
                check["cause"] = "kernel.driver"
            if check["id"] == "kernel.driver":
                check["commands"] = ["sudo modprobe nvidia"]
        (tmp_path / f"{name}.json").write_text(json.dumps(report))
    doc = fleet("--json", tmp_path, expect_rc=1).json
    assert "devices.nodes" not in {c["check"] for c in doc["causes"]}
    drivers = [c for c in doc["causes"] if c["check"] == "kernel.driver"]
    assert len(drivers) == 2  # nouveau and Secure Boot are different causes
    assert all(c["consequences"] == {"devices.nodes": 1} for c in drivers)
    assert all(c["commands"] == ["sudo modprobe nvidia"] for c in drivers)
    # The per-check counts still say devices.nodes fails on both hosts.
    row = next(r for r in doc["checks"] if r["id"] == "devices.nodes")
    assert row["fail"] == 2
    text = fleet(tmp_path, expect_rc=1).stdout
    assert "also failing because of it: devices.nodes (1)" in text
    assert "run: sudo modprobe nvidia" in text


def test_hostnames_name_reports_in_a_stream_and_files_keep_their_names(fleet_dir, tmp_path):
    _, reports = fleet_dir
    one = dict(reports["server_8gpu_bmc"], host={**reports["server_8gpu_bmc"]["host"],
                                                 "hostname": "gpu-07"})
    doc = fleet("--json", input=json.dumps(one) + "\n" + json.dumps(one) + "\n",
                expect_rc=1).json
    assert [h["host"] for h in doc["hosts"]] == ["gpu-07", "gpu-07#2"]
    (tmp_path / "rack4-07.json").write_text(json.dumps(one))
    (tmp_path / "rack4-08.json").write_text(json.dumps(one))
    doc = fleet("--json", tmp_path, expect_rc=1).json
    assert [(h["host"], h["hostname"]) for h in doc["hosts"]] == [("rack4-07", "gpu-07"),
                                                                  ("rack4-08", "gpu-07")]


def test_a_fix_json_document_is_read_through_its_report(fleet_dir, tmp_path):
    _, reports = fleet_dir
    doc = {"schema": "gpudoctor.fix/1", "plans": [], "applied": [], "exit_code": 0,
           "report": reports["amd_mi300x_8"]}
    (tmp_path / "gpu-09.json").write_text(json.dumps(doc))
    summary = fleet("--json", tmp_path, expect_rc=0).json
    assert summary["hosts"][0]["host"] == "gpu-09"


def test_bad_paths_are_one_line_errors(tmp_path):
    run = fleet(tmp_path / "nope", expect_rc=2)
    assert run.stderr == f"gpudoctor: error: {tmp_path}/nope: no such file or folder\n"
    run = fleet("--hosts", tmp_path / "nohosts", tmp_path, expect_rc=2)
    assert run.stderr.startswith("gpudoctor: error: --hosts ") and run.stderr.count("\n") == 1


def test_an_empty_folder_is_an_empty_fleet(tmp_path):
    doc = fleet("--json", tmp_path, expect_rc=0).json
    assert doc["totals"]["hosts"] == 0 and doc["hosts"] == []


@pytest.mark.parametrize(("text", "expected"), [
    ("0000:18:00.0 and 0000:2a:00.0 lack nvidia", "<pci> and <pci> lack nvidia"),
    ("GPUs (18:00.0, 2a:00.0, 3a:00.0, ...) have no driver", "GPUs (<pci>, ...) have no driver"),
    ("driver 580.95.05 is older than 1.17.8-1 needs", "driver <version> is older than "
                                                      "<version> needs"),
    ("/dev/nvidia3 is missing", "/dev/nvidia<n> is missing"),
    ("GPU-5f1e2d3c-aaaa-bbbb-cccc-0123456789ab lost", "GPU-<uuid> lost"),
    ("the nvidia runtime is not declared", "the nvidia runtime is not declared"),
])
def test_abstracting_host_specific_values(text, expected):
    assert abstract(text) == expected
