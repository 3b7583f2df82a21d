"""`gpudoctor snapshot` on this live machine, with a real test dockerd as the daemon.

The promise under test: a snapshot diagnoses like the host it was taken on. So each test runs
gpudoctor live (a subprocess whose DOCKER_HOST points at a private dockerd), snapshots the same
host, runs `--root SNAPSHOT`, and compares the two reports check by check. A check may differ
only by being skipped on the snapshot with a reason that says it needs the live machine.

Secrets are planted for real: the daemon's labels and daemon.json carry a hostname, a serial
and proxy URLs with passwords, and gpudoctor runs in its own UTS and mount namespace whose
hostname (and /etc/hostname) is the planted one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpudoctor import __version__
from gpudoctor.snapshot import MAX_FILE
from tests.support import scenarios
from tests.support.cli import Run, report_for, run_gpudoctor, validate_report
from tests.support.docker_fixtures import DockerdFactory
from tests.support.dockerd import Dockerd
from tests.support.unprivileged import NOBODY, Unprivileged
from tests.support.unprivileged import shared_folder as world_folder
from tests.test_snapshot_roots import all_bytes, host_json, read_archive

pytestmark = pytest.mark.docker

#: Words a replayed check uses when it cannot decide without the live machine.
NEEDS_LIVE = ("live", "snapshot", "captured", "root")
PLANTED_HOST = "planted-host-5071"
PLANTED_SERIAL = "PLANTED-SN-20264711"
PROXY_PASSWORD = "s3cret-7f3a"
LABEL_PASSWORD = "hunter2-b81c"
ENV_PASSWORD = "pw0rd-9c2e"


def daemon_env(d: Dockerd) -> dict[str, str]:
    """What a person's shell has when their docker CLI talks to this daemon."""
    env = d.cli_env()
    return {"DOCKER_HOST": env["DOCKER_HOST"], "DOCKER_CONFIG": env["DOCKER_CONFIG"]}


def live_report(env: dict[str, str]) -> dict[str, Any]:
    run = run_gpudoctor("--json", env=env)
    assert run.returncode in (0, 1), run.stderr
    return validate_report(run.json)


def assert_same_as_live(live: dict[str, Any], replay: dict[str, Any]) -> None:
    assert [c["id"] for c in replay["checks"]] == [c["id"] for c in live["checks"]]
    for a, b in zip(live["checks"], replay["checks"], strict=True):
        if a["status"] == b["status"]:
            continue
        assert b["status"] == "skip", (a["id"], a["status"], b["status"], b["summary"])
        assert any(w in b["summary"].lower() for w in NEEDS_LIVE), (a["id"], b["summary"])
    assert replay["gpus"] == live["gpus"]
    assert replay["docker_run_args"] == live["docker_run_args"]


def run_as(prefix: list[str], *args: str | os.PathLike, env: dict[str, str] | None = None,
           cwd: str | os.PathLike | None = None, python: str = sys.executable) -> Run:
    """`PREFIX python -m gpudoctor ARGS` (a namespace or another user), captured."""
    full = {k: v for k, v in os.environ.items() if k != "GPUDOCTOR_DEBUG"}
    full["NO_COLOR"] = "1"
    full.update(env or {})
    python = [] if (prefix and prefix[-1].endswith(("python3", ".venv/bin/python"))) or (
        prefix and "/python" in prefix[-1]) else [sys.executable]
    proc = subprocess.run([*prefix, *python, "-m", "gpudoctor", *map(str, args)],
                          capture_output=True, text=True, env=full, cwd=cwd, timeout=120,
                          check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return Run(proc.returncode, proc.stdout, proc.stderr)


# ----- the same diagnosis ------------------------------------------------------------------------
def test_snapshot_then_root_matches_the_live_run(dockerd_factory: DockerdFactory,
                                                 tmp_path: Path) -> None:
    d = dockerd_factory(config={"labels": ["purpose=gpudoctor-snapshot-test"]})
    env = daemon_env(d)
    live = live_report(env)
    assert live["checks"], "the live run ran checks"
    assert {c["id"]: c["status"] for c in live["checks"]}["docker.daemon"] in ("pass", "warn")

    out = tmp_path / "host.tar.gz"
    run = run_gpudoctor("snapshot", "-o", out, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"Wrote {out} (")
    replay = report_for(out)
    assert_same_as_live(live, replay)
    snap = replay["host"]["snapshot"]
    assert snap["captured_by"] == f"gpudoctor {__version__}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", snap["captured_at"])
    assert replay["host"]["root"] == str(out)

    doc = host_json(read_archive(out))
    assert doc["format"] == 1
    assert doc["docker"]["info"]["ID"] == d.info()["ID"]
    assert doc["docker"]["version"]["Version"].startswith("20.10")
    assert isinstance(doc["docker"]["containers"], list)
    assert doc["env"]["DOCKER_HOST"] == d.host
    dockerd = [p for p in doc["processes"] if p["pid"] == d.pid]
    assert dockerd and f"--config-file={d.config_file}" in dockerd[0]["cmdline"]
    assert doc["statuses"] == {c["id"]: c["status"] for c in live["checks"]}
    # The daemon's own configuration file travels with the snapshot, as dockerd reads it.
    config = read_archive(out)[str(d.config_file).lstrip("/")][1]
    assert json.loads(config) == json.loads(d.config_file.read_text())


def test_live_snapshot_is_quick_bounded_and_named_by_date(dockerd_factory: DockerdFactory,
                                                          tmp_path: Path) -> None:
    d = dockerd_factory()
    work = tmp_path / "work"
    work.mkdir()
    started = time.monotonic()
    run = run_gpudoctor("snapshot", "--json", env=daemon_env(d), cwd=work)
    wall = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    summary = run.json
    made = list(work.iterdir())
    assert len(made) == 1 and summary["archive"] == str(made[0])
    assert re.fullmatch(r"gpudoctor-snapshot-\d{8}-\d{4}\.tar\.gz", made[0].name)
    assert os.uname().nodename not in made[0].name
    assert summary["size_bytes"] == made[0].stat().st_size
    assert summary["seconds"] < 10, summary
    assert wall < 20, wall
    members = read_archive(made[0])
    assert summary["members"] == len(members)
    for name, (info, _data) in members.items():
        assert info.size <= MAX_FILE, name
        assert info.isreg() or info.isdir() or info.issym(), name
        if info.issym():
            assert not info.linkname.startswith("/"), name
    # sysfs as the kernel lays it out: bus entries are links into /sys/devices.
    pci = [n for n in members if n.startswith("sys/bus/pci/devices/")]
    assert pci and all(members[n][0].issym() for n in pci)
    assert all(members[n][0].linkname.startswith("../../../devices/") for n in pci)


# ----- a live host with GPUs ---------------------------------------------------------------------
FAKE_HARDWARE = r"""set -e
root=$1; shift
mount --bind "$root/sys" /sys
mkdir -p "$root/proc/driver" && mount --bind "$root/proc/driver" /proc/driver
mount --bind "$root/etc/group" /etc/group
mount -t tmpfs -o mode=755 gd-dev /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/random c 1 8
cp -a "$root/dev/." /dev/
while read -r path kind major minor mode uid gid; do
    rm -f "$path"; mknod "$path" "$kind" "$major" "$minor"
    chown "$uid:$gid" "$path"; chmod "$mode" "$path"
done < "$root/nodes.txt"
exec "$@"
"""


def fake_hardware(root: Path) -> list[str]:
    """A command prefix: a mount namespace where the root's GPUs are this machine's.

    /sys, /proc/driver and /etc/group come from the root; /dev is a fresh tmpfs holding real
    device nodes made with mknod from the root's host.json. Nothing leaves the namespace.
    """
    nodes = json.loads((root / ".gpudoctor/host.json").read_text())["device_nodes"]
    lines = [f"{path} {'c' if e['type'] == 'char' else 'b'} {e['major']} {e['minor']} "
             f"{e['mode']} {e['uid']} {e['gid']}" for path, e in nodes.items()]
    (root / "nodes.txt").write_text("\n".join(lines) + "\n")
    script = root.parent / "fake-hardware.sh"
    script.write_text(FAKE_HARDWARE)
    return ["unshare", "--mount", "--propagation", "private", "sh", str(script), str(root)]


@pytest.mark.parametrize("scenario", ["server_8gpu_bmc", "amd_laptop_field_guide"])
def test_live_gpu_host_snapshot_diagnoses_the_same(scenario: str, dockerd_factory: DockerdFactory,
                                                   tmp_path: Path) -> None:
    root = scenarios.build(scenario, tmp_path / "root")
    uuids = set()
    for info in (root / "proc/driver/nvidia/gpus").glob("*/information"):
        uuids.update(re.findall(r"GPU-[0-9a-f-]{36}", info.read_text()))
    prefix = fake_hardware(root)
    env = daemon_env(dockerd_factory())
    live = run_as(prefix, "--json", env=env)
    assert live.returncode in (0, 1), live.stderr
    live_doc = validate_report(live.json)
    assert [g for g in live_doc["gpus"] if g["selected"]], "the namespace shows the GPUs"

    out = tmp_path / "snap.tar.gz"
    run = run_as(prefix, "snapshot", "--json", "-o", out, env=env)
    assert run.returncode == 0, run.stderr
    assert run.json["seconds"] < 5.0, run.json
    replay = report_for(out)
    assert_same_as_live(live_doc, replay)
    assert {c["id"]: c["status"] for c in replay["checks"]}["devices.nodes"] == \
        {c["id"]: c["status"] for c in live_doc["checks"]}["devices.nodes"] != "skip"

    members = read_archive(out)
    doc = host_json(members)
    source = json.loads((root / ".gpudoctor/host.json").read_text())["device_nodes"]
    for path, entry in doc["device_nodes"].items():
        assert entry == source[path], path  # stat() of the real node, as mknod made it
        assert members[path.lstrip("/")][0].isreg() and members[path.lstrip("/")][0].size == 0
    assert len(doc["device_nodes"]) >= len([a for a in live_doc["docker_run_args"]
                                            if a.startswith("--device=/dev/")])
    blob = all_bytes(members)
    for uuid in uuids:
        assert uuid.encode() not in blob
    if uuids:
        assert {r["what"] for r in doc["redacted"]} >= {"GPU UUID"}


# ----- redaction ---------------------------------------------------------------------------------
@pytest.fixture
def planted_daemon(dockerd_factory: DockerdFactory) -> Iterator[Dockerd]:
    """A daemon whose labels, proxy and daemon.json carry a hostname, a serial and passwords."""
    d = dockerd_factory(
        config={"labels": [f"host={PLANTED_HOST}", f"serial={PLANTED_SERIAL}",
                           f"mirror=http://bob:{LABEL_PASSWORD}@mirror.example:5000"]},
        env={"HTTP_PROXY": f"http://alice:{ENV_PASSWORD}@proxy.example:8080"})
    # The person then added proxies (a Docker 23+ key) to the file; dockerd reads it at its
    # next start, gpudoctor reads it now.
    config = json.loads(d.config_file.read_text())
    config["proxies"] = {"http-proxy": f"http://bob:{PROXY_PASSWORD}@proxy.example:3128"}
    d.config_file.write_text(json.dumps(config, indent=2) + "\n")
    yield d


def in_planted_namespace(tmp_path: Path) -> list[str]:
    """A command prefix: own UTS and mount namespace, hostname and /etc/hostname planted."""
    fake = tmp_path / "hostname"
    fake.write_text(f"{PLANTED_HOST}\n")
    script = 'mount --bind "$1" /etc/hostname && hostname "$2" && shift 2 && exec "$@"'
    return ["unshare", "--uts", "--mount", "--propagation", "private", "sh", "-c", script,
            "sh", str(fake), PLANTED_HOST]


def test_planted_secrets_are_redacted(planted_daemon: Dockerd, tmp_path: Path) -> None:
    d = planted_daemon
    env = daemon_env(d)
    prefix = in_planted_namespace(tmp_path)
    seen = run_as([*prefix, "sh", "-c", 'hostname; cat /etc/hostname; exec "$@"', "sh"],
                  "--json", env=env)
    assert seen.stdout.splitlines()[:2] == [PLANTED_HOST, PLANTED_HOST]  # the plant took
    assert os.uname().nodename != PLANTED_HOST  # ...only inside the namespace

    out = tmp_path / "snap.tar.gz"
    run = run_as(prefix, "snapshot", "-o", out, env=env)
    assert run.returncode == 0, run.stderr
    assert "Redacted:" in run.stdout and "hostname" in run.stdout
    members = read_archive(out)
    blob = all_bytes(members)
    for secret in (PLANTED_HOST, PLANTED_SERIAL, PROXY_PASSWORD, LABEL_PASSWORD, ENV_PASSWORD,
                   "bob:", "alice:"):
        assert secret.encode() not in blob, secret

    doc = host_json(members)
    info = doc["docker"]["info"]
    assert info["Name"] == "REDACTED-HOSTNAME"  # the daemon's own hostname too
    assert sorted(info["Labels"]) == ["host=REDACTED-HOSTNAME",  # dockerd's order varies
                                      "mirror=http://REDACTED@mirror.example:5000",
                                      "serial=REDACTED-SERIAL-1"]
    assert info["HttpProxy"] == "http://REDACTED@proxy.example:8080"
    config = json.loads(members[str(d.config_file).lstrip("/")][1])
    assert config["proxies"]["http-proxy"] == "http://REDACTED@proxy.example:3128"
    where = str(d.config_file)
    for what in ("hostname", "serial number", "URL credentials"):
        assert {"what": what, "where": where} in doc["redacted"], what
        assert {"what": what, "where": "docker info"} in doc["redacted"], what
    # Redaction changed no verdict.
    assert_same_as_live(live_report(env), report_for(out))

    kept_out = tmp_path / "kept.tar.gz"
    kept = run_as(prefix, "snapshot", "--no-redact", "-o", kept_out, env=env)
    assert kept.returncode == 0, kept.stderr
    assert "Not redacted" in kept.stdout
    kept_blob = all_bytes(read_archive(kept_out))
    for secret in (PLANTED_HOST, PLANTED_SERIAL, PROXY_PASSWORD, LABEL_PASSWORD):
        assert secret.encode() in kept_blob, secret  # the scan above can fail


# ----- any user ----------------------------------------------------------------------------------
@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder nobody can write to."""
    with world_folder("gd-snapshot-nobody-", 0o777) as folder:
        yield folder


def test_unprivileged_user_gets_a_snapshot_with_unreadables_recorded(
        dockerd_factory: DockerdFactory, shared_folder: Path,
        unprivileged: Unprivileged) -> None:
    d = dockerd_factory()
    env = {**daemon_env(d), "HOME": str(shared_folder), **unprivileged.env()}
    nobody = {"env": env, "cwd": shared_folder, "python": unprivileged.python}
    live = run_as(NOBODY, "--json", **nobody)
    assert live.returncode in (0, 1), live.stderr
    live_doc = validate_report(live.json)

    out = shared_folder / "nobody.tar.gz"
    run = run_as(NOBODY, "snapshot", "-o", out, **nobody)
    assert run.returncode == 0, run.stderr
    assert "Could not read" in run.stdout
    assert out.stat().st_uid == 65534

    doc = host_json(read_archive(out))
    assert doc["user"]["uid"] == 65534
    # The private daemon's files sit under root-only folders: recorded, not fatal.
    assert any(str(d.config_file).startswith(u["path"] + "/")
               and "permission denied" in u["reason"].lower()
               for u in doc["unreadable"]), doc["unreadable"]
    assert "permission denied" in doc["docker"]["error"]
    assert_same_as_live(live_doc, report_for(out))
