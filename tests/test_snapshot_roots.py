"""`gpudoctor snapshot --root ROOT` on hosts this machine cannot be: many GPUs, MI300X partitions.

Re-capturing a root exercises the whole capture path (links on the way to every path, listed
folders, device nodes from host.json, redaction) on sysfs trees laid out like the kernel's, and
the result must diagnose exactly like the root it came from. The roots come from
tests/support/scenarios.py; every report is validated against the shipped schema.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from gpudoctor import __version__
from gpudoctor.snapshot import MAX_FILE
from tests.support import scenarios
from tests.support.cli import report_for, run_gpudoctor
from tests.support.hostroot import (
    DEFAULT_CAPTURED_AT,
    HostRootBuilder,
    sample_docker_info,
    sample_docker_version,
)

UUID_RE = re.compile(rb"GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def snapshot(source: Path, out: Path, *extra: str) -> dict[str, Any]:
    """`gpudoctor snapshot --root SOURCE -o OUT --json`; returns its summary."""
    run = run_gpudoctor("snapshot", "--root", source, "-o", out, "--json", *extra)
    assert run.returncode == 0, (run.returncode, run.stderr)
    assert run.stderr == ""
    return run.json


def read_archive(path: Path) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """Every member by name, with its bytes (b"" for folders and links)."""
    found: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    with tarfile.open(path, "r:gz") as tar:
        for info in tar:
            data = tar.extractfile(info).read() if info.isreg() else b""  # type: ignore[union-attr]
            found[info.name] = (info, data)
    return found


def host_json(members: dict[str, tuple[tarfile.TarInfo, bytes]]) -> dict[str, Any]:
    return json.loads(members[".gpudoctor/host.json"][1])


def all_bytes(members: dict[str, tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """Names, link targets and contents of every member, to search for what must not be there."""
    return b"\n".join(name.encode() + b"\0" + info.linkname.encode() + b"\0" + data
                      for name, (info, data) in members.items())


def assert_same_diagnosis(source: dict[str, Any], copy: dict[str, Any]) -> None:
    assert [c["id"] for c in copy["checks"]] == [c["id"] for c in source["checks"]]
    for a, b in zip(source["checks"], copy["checks"], strict=True):
        assert (b["status"], b["summary"], b["fixes"]) == (a["status"], a["summary"], a["fixes"]), \
            a["id"]
    assert copy["gpus"] == source["gpus"]
    assert copy["docker_run_args"] == source["docker_run_args"]
    assert (copy["ready"], copy["blocking"]) == (source["ready"], source["blocking"])


@pytest.mark.parametrize("scenario", ["server_8gpu_bmc", "amd_mi300x_partitioned",
                                      "amd_laptop_field_guide", "nvidia_laptop_intel_igpu",
                                      "amd_desktop_two_7900xtx_igpu", "vm_no_gpu"])
def test_snapshot_of_a_root_diagnoses_the_same(scenario: str, tmp_path: Path) -> None:
    root = scenarios.build(scenario, tmp_path / "root")
    out = tmp_path / "snap.tar.gz"
    summary = snapshot(root, out)
    assert summary["archive"] == str(out)
    assert summary["size_bytes"] == out.stat().st_size
    source, copy = report_for(root), report_for(out)
    assert_same_diagnosis(source, copy)
    assert copy["host"]["root"] == str(out)
    assert copy["host"]["snapshot"] == {"captured_at": DEFAULT_CAPTURED_AT,
                                        "captured_by": f"gpudoctor {__version__}"}
    members = read_archive(out)
    for name, (info, _data) in members.items():
        assert not name.startswith(("/", "..")), name
        assert info.isreg() or info.isdir() or info.issym(), name
        assert info.size <= MAX_FILE, name
        if info.issym():
            assert not info.linkname.startswith("/"), (name, info.linkname)
            # Links are kept exactly as the kernel laid them out (they are relative already).
            assert info.linkname == os.readlink(root / name), name
    doc = host_json(members)
    source_nodes = json.loads((root / ".gpudoctor/host.json").read_text())["device_nodes"]
    if source["docker_run_args"]:  # a GPU was selected, so its device nodes were examined
        assert doc["device_nodes"], "the device nodes the checks looked at are recorded"
    for path, entry in doc["device_nodes"].items():
        assert source_nodes[path] == entry, path
        assert members[path.lstrip("/")][0].size == 0  # an empty placeholder, never a node


def test_eight_gpus_snapshot_in_a_few_seconds(tmp_path: Path) -> None:
    root = scenarios.build("generated", tmp_path / "root", n_gpus=8, vendor="amd")
    out = tmp_path / "snap.tar.gz"
    started = time.monotonic()
    summary = snapshot(root, out)
    wall = time.monotonic() - started
    assert summary["seconds"] < 5.0, summary["seconds"]
    assert wall < 10.0, wall  # the whole command, Python's start included
    copy = report_for(out)
    assert len([g for g in copy["gpus"] if g["selected"]]) == 8
    assert_same_diagnosis(report_for(root), copy)


def test_gpu_uuids_are_replaced_consistently(tmp_path: Path) -> None:
    root = scenarios.build("server_8gpu_bmc", tmp_path / "root")
    originals = set()
    for info in (root / "proc/driver/nvidia/gpus").glob("*/information"):
        originals.update(UUID_RE.findall(info.read_bytes()))
    assert len(originals) == 8

    members = read_archive(tmp_path / "snap.tar.gz") if snapshot(
        root, tmp_path / "snap.tar.gz") else {}
    blob = all_bytes(members)
    for uuid in originals:
        assert uuid not in blob
    stand_ins = set()
    for name, (_info, data) in members.items():
        if name.endswith("/information"):
            found = UUID_RE.findall(data)
            assert len(found) == 1 and found[0].startswith(b"GPU-00000000-0000-0000-0000-"), data
            stand_ins.update(found)
    assert len(stand_ins) == 8  # still one distinct UUID per GPU
    doc = host_json(members)
    assert doc["redaction"] is True
    where = {r["where"] for r in doc["redacted"] if r["what"] == "GPU UUID"}
    assert len([w for w in where if w.endswith("/information")]) == 8
    assert not any(uuid.decode() in json.dumps(doc["redacted"]) for uuid in originals)

    kept = read_archive(tmp_path / "kept.tar.gz") if snapshot(
        root, tmp_path / "kept.tar.gz", "--no-redact") else {}
    assert originals <= set(UUID_RE.findall(all_bytes(kept)))
    assert host_json(kept)["redaction"] is False and host_json(kept)["redacted"] == []


def test_amd_unique_ids_are_replaced_but_still_tie_partitions_to_gpus(tmp_path: Path) -> None:
    """KFD ties each MI300X partition to its GPU by unique_id: stand-ins must keep that."""
    root = scenarios.build("amd_mi300x_partitioned", tmp_path / "root")
    hex_ids = {p.read_text().strip() for p in (root / "sys/devices").rglob("unique_id")}
    hex_ids.discard("0" * 16)
    assert len(hex_ids) == 8
    decimal_ids = {str(int(h, 16)) for h in hex_ids}
    out = tmp_path / "snap.tar.gz"
    snapshot(root, out)
    blob = all_bytes(read_archive(out))
    for value in hex_ids | decimal_ids:
        assert value.encode() not in blob, value
    copy = report_for(out)
    assert_same_diagnosis(report_for(root), copy)
    assert len(copy["docker_run_args"]) == 64 + 2  # kfd, 64 partition render nodes, group


# ----- a root with every kind of secret planted ------------------------------------------------
HOSTNAME = "gpu-node-17.example.org"
SECRETS = {
    "hostname": HOSTNAME,
    "short hostname": "gpu-node-17",
    "daemon.json proxy password": "s3cret",
    "registry mirror token": "t0ken",
    "docker info proxy password": "pa55word",
    "label credentials": "hunter22",
    "label serial": "SN-PLANT-7731",
    "DMI serial seen in a label": "CZJ1234ABC",
    "process environment secret": "AKIAPLANTED0123",
    "docker CLI login": "Ym9iOnMzY3JldA==",
}


def planted_root(root: Path) -> Path:
    """An 8-GPU server whose daemon.json, docker info, processes and DMI carry secrets."""
    b = HostRootBuilder(root)
    scenarios.populate_server_8gpu_bmc(b)
    b.write("/etc/hostname", f"{HOSTNAME}\n")
    b.write("/sys/class/dmi/id/product_serial", "CZJ1234ABC\n", mode=0o400)
    b.write("/home/alice/.docker/config.json", json.dumps({
        "auths": {"registry.example": {"auth": "Ym9iOnMzY3JldA=="}}, "currentContext": "default",
    }))
    b.set_host_json(env={"HOME": "/home/alice"})  # the docker CLI's config is read from there
    b.write("/etc/docker/daemon.json", json.dumps({
        "proxies": {"http-proxy": "http://bob:s3cret@proxy.example:3128"},
        "registry-mirrors": ["https://erin:t0ken@mirror.example"],
        "labels": [f"host={HOSTNAME}"],
    }, indent=2) + "\n")
    info = sample_docker_info()
    info.update(Name="gpu-node-17", HttpProxy="http://dave:pa55word@proxy.example:3128",
                Labels=["serial=SN-PLANT-7731", "asset=CZJ1234ABC",
                        "owner=http://carol:hunter22@registry.example:5000"])
    b.set_docker(info=info, version=sample_docker_version())
    b.add_process(1423, "dockerd", "/usr/bin/dockerd",
                  ["/usr/bin/dockerd", "-H", "fd://", "--label", f"node={HOSTNAME}"])
    b.finish()
    doc = json.loads((root / ".gpudoctor/host.json").read_text())
    doc["processes"][0]["env"] = {"PATH": "/usr/bin:/bin", "HOME": "/root",
                                  "AWS_SECRET_ACCESS_KEY": "AKIAPLANTED0123"}
    (root / ".gpudoctor/host.json").write_text(json.dumps(doc, indent=2))
    return root


def test_planted_secrets_never_reach_the_archive(tmp_path: Path) -> None:
    root = planted_root(tmp_path / "root")
    out = tmp_path / "snap.tar.gz"
    summary = snapshot(root, out)
    members = read_archive(out)
    blob = all_bytes(members)
    for what, value in SECRETS.items():
        assert value.encode() not in blob, what
    doc = host_json(members)
    info = doc["docker"]["info"]
    assert info["Name"] == "REDACTED-HOSTNAME"
    assert info["HttpProxy"] == "http://REDACTED@proxy.example:3128"
    assert info["Labels"] == ["serial=REDACTED-SERIAL-1", "asset=REDACTED-SERIAL-2",
                              "owner=http://REDACTED@registry.example:5000"] or \
        info["Labels"] == ["serial=REDACTED-SERIAL-2", "asset=REDACTED-SERIAL-1",
                           "owner=http://REDACTED@registry.example:5000"]
    config = json.loads(members["etc/docker/daemon.json"][1])
    assert config["proxies"]["http-proxy"] == "http://REDACTED@proxy.example:3128"
    assert config["registry-mirrors"] == ["https://REDACTED@mirror.example"]
    assert config["labels"] == ["host=REDACTED-HOSTNAME"]
    dockerd = doc["processes"][0]
    assert dockerd["env"] == {"AWS_SECRET_ACCESS_KEY": "REDACTED", "HOME": "/root",
                              "PATH": "/usr/bin:/bin"}
    assert dockerd["cmdline"][-1] == "node=REDACTED-HOSTNAME"
    login = json.loads(members["home/alice/.docker/config.json"][1])
    assert login["auths"]["registry.example"]["auth"] == "REDACTED"
    kinds = {r["what"] for r in doc["redacted"]}
    assert kinds == {"hostname", "serial number", "URL credentials", "GPU UUID",
                     "environment value", "credentials"}
    assert {"what": "URL credentials", "where": "/etc/docker/daemon.json"} in doc["redacted"]
    assert summary["redacted"] == doc["redacted"]
    # Redaction changed no verdict.
    assert_same_diagnosis(report_for(root), report_for(out))

    kept_out = tmp_path / "kept.tar.gz"
    snapshot(root, kept_out, "--no-redact")
    kept = all_bytes(read_archive(kept_out))
    for what, value in SECRETS.items():
        assert value.encode() in kept, what  # proves the scan above can fail


def test_text_output_names_the_file_and_its_size(tmp_path: Path) -> None:
    root = scenarios.build("amd_laptop_field_guide", tmp_path / "root")
    work = tmp_path / "work"
    work.mkdir()
    run = run_gpudoctor("snapshot", "--root", root, cwd=work)
    assert run.returncode == 0, run.stderr
    made = list(work.iterdir())
    assert len(made) == 1
    name = made[0].name
    assert re.fullmatch(r"gpudoctor-snapshot-\d{8}-\d{4}\.tar\.gz", name), name
    size = made[0].stat().st_size
    first = run.stdout.splitlines()[0]
    assert first.startswith(f"Wrote {name} (")
    assert re.search(r"\((\d+\.\d KiB|\d+ bytes), \d+ entries, \d+\.\d s\)", first), first
    assert f"{size / 1024:.1f} KiB" in first
    assert f"gpudoctor --root {name}" in run.stdout
    again = run_gpudoctor("snapshot", "--root", root, cwd=work, env={"SUDO_UID": "4321",
                                                                      "SUDO_GID": "4322"})
    assert again.returncode == 0
    assert len(list(work.iterdir())) == 2  # a second snapshot never overwrites the first
    second = next(p for p in work.iterdir() if p != made[0])
    if os.geteuid() == 0:  # under sudo the person who asked owns the archive
        assert (second.stat().st_uid, second.stat().st_gid) == (4321, 4322)
    assert second.stat().st_mode & 0o777 == 0o600


def test_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    root = scenarios.build("vm_no_gpu", tmp_path / "root")
    run = run_gpudoctor("snapshot", "--root", root, "-o", tmp_path / "missing" / "s.tar.gz")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"gpudoctor: error: cannot write {tmp_path / 'missing' / 's.tar.gz'}: the folder "
        f"{tmp_path / 'missing'} does not exist"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_snapshot_of_a_snapshot_is_the_same_snapshot(tmp_path: Path) -> None:
    """Re-capturing an archive (to redact one made with --no-redact) keeps stand-ins stable."""
    root = scenarios.build("amd_mi300x_8", tmp_path / "root")
    first, second = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"
    snapshot(root, first)
    snapshot(first, second)
    a, b = read_archive(first), read_archive(second)
    assert sorted(a) == sorted(b)
    for name in a:
        if name != ".gpudoctor/host.json":
            assert a[name][1] == b[name][1], name
            assert a[name][0].linkname == b[name][0].linkname, name
    assert host_json(a)["redacted"]  # the first capture replaced the unique ids...
    assert host_json(b)["redacted"] == []  # ...and the stand-ins are not secrets
    assert host_json(b)["device_nodes"] == host_json(a)["device_nodes"]
    assert_same_diagnosis(report_for(root), report_for(second))


def test_fix_plans_from_a_snapshot_match_the_root(tmp_path: Path) -> None:
    """A helper sees, from the snapshot, the repair plan the person would get on the host."""
    root = scenarios.build("server_8gpu_bmc", tmp_path / "root")
    out = tmp_path / "snap.tar.gz"
    snapshot(root, out)
    source = run_gpudoctor("fix", "--dry-run", "--root", root)
    copy = run_gpudoctor("fix", "--dry-run", "--root", out)
    assert source.stdout.startswith("Plan: ")
    assert (copy.returncode, copy.stdout) == (source.returncode, source.stdout)
