"""The shipped Ansible collection, run by the real ansible-playbook (Debian's ansible-core)
against an inventory of local-connection hosts, each pointed at its own host root, plus this
machine itself: the gathered reports, `changed`, check and diff mode, and the failure policy.

gpudoctor is installed on the hosts by the playbook's own first tasks, offline, from a
wheelhouse built here (`pip wheel`), as an air-gapped site would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support import container_roots, scenarios
from tests.support.cli import validate_report
from tests.support.hostroot import HostRootBuilder

REPO = Path(__file__).resolve().parents[1]
COLLECTION = REPO / "contrib" / "ansible" / "gpudoctor" / "doctor"
PLAYBOOK = COLLECTION / "playbooks" / "doctor.yml"
LIVE_PCI_IDS = Path("/usr/share/misc/pci.ids")
RUN_TASK = "Run gpudoctor"


@cache
def fleet_schema() -> dict:
    return json.loads(resources.files("gpudoctor.schema").joinpath("fleet.schema.json")
                      .read_text())


class Ansible:
    """A collection installed in a private path and a playbook run with the json callback."""

    def __init__(self, base: Path):
        self.base = base
        self.venv = base / "venv"
        self.env = dict(os.environ)
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(base / "collections"),
            "ANSIBLE_HOME": str(base / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(base / "ansible-tmp"),
            "ANSIBLE_STDOUT_CALLBACK": "gd_results",
            "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "support" / "ansible_callbacks"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "GPUDOCTOR_LOCK_FILE": str(base / "gpudoctor.lock"),
        })
        self.env.pop("GPUDOCTOR_DEBUG", None)

    def run(self, inventory: Path, *args: str, extra: dict[str, Any] | None = None,
            timeout: float = 300, playbook: str = str(PLAYBOOK)) -> tuple[int, dict[str, Any]]:
        argv = ["ansible-playbook", "-i", str(inventory), playbook, *args]
        if extra:
            argv += ["-e", json.dumps(extra)]
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                              timeout=timeout, check=False)
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"ansible-playbook rc {proc.returncode}: {proc.stdout[-3000:]}"
                                 f"\n{proc.stderr[-3000:]}") from None
        return proc.returncode, doc


def task_results(doc: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    for play in doc["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == name:
                return task["hosts"]
    raise AssertionError(f"no task {name!r} in the run")


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"all": {"hosts": hosts}}, indent=2))  # YAML reads JSON
    return path


@pytest.fixture(scope="module")
def ansible(tmp_path_factory) -> Ansible:
    base = tmp_path_factory.mktemp("ansible")
    a = Ansible(base)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(base / "wheelhouse"),
                    str(REPO)], check=True, capture_output=True, timeout=600)
    subprocess.run(["ansible-galaxy", "collection", "build", str(COLLECTION), "--output-path",
                    str(base / "dist")], check=True, capture_output=True, env=a.env, timeout=120)
    [tarball] = (base / "dist").glob("gpudoctor-doctor-*.tar.gz")
    subprocess.run(["ansible-galaxy", "collection", "install", str(tarball), "-p",
                    str(base / "collections")], check=True, capture_output=True, env=a.env,
                   timeout=120)
    return a


@pytest.fixture(scope="module")
def fleet(ansible) -> dict[str, Any]:
    """The first run: install from the wheelhouse, diagnose every host, gather the reports."""
    base = ansible.base
    roots = base / "roots"
    exe = str(ansible.venv / "bin" / "gpudoctor")
    common = {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
              "gpudoctor_install": "none", "gpudoctor_venv": str(ansible.venv),
              "gpudoctor_executable": exe}
    hosts = {
        "live": {**common, "gpudoctor_install": "wheels",
                 "gpudoctor_wheelhouse": str(base / "wheelhouse")},
        "gpu-nouveau": {**common, "gpudoctor_root": str(scenarios.nvidia_nouveau(
            roots / "nouveau"))},
        "gpu-healthy": {**common, "gpudoctor_root": str(container_roots.nvidia_all_good(
            roots / "healthy"))},
        "gpu-amd": {**common, "gpudoctor_root": str(scenarios.amd_laptop_field_guide(
            roots / "amd"))},
        "gpu-stale-pciids": {**common, "gpudoctor_root": str(scenarios.pciids_2023(
            roots / "stale"))},
        "gpu-badroot": {**common, "gpudoctor_root": str(roots / "never-captured")},
    }
    inventory = write_inventory(base / "inventory.yml", hosts)
    reports = base / "reports"
    rc, doc = ansible.run(inventory, extra={"gpudoctor_reports_dir": str(reports),
                                            "gpudoctor_controller": exe})
    return {"rc": rc, "doc": doc, "inventory": inventory, "reports": reports, "hosts": hosts}


def test_the_playbook_installs_offline_and_gathers_every_report(fleet, ansible):
    assert (ansible.venv / "bin" / "gpudoctor").exists()
    version = subprocess.run([str(ansible.venv / "bin" / "gpudoctor"), "--version"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    assert version.startswith("gpudoctor ")
    names = sorted(p.stem for p in fleet["reports"].glob("*.json"))
    assert names == ["gpu-amd", "gpu-healthy", "gpu-nouveau", "gpu-stale-pciids", "live"]
    reports = {n: validate_report(json.loads((fleet["reports"] / f"{n}.json").read_text()))
               for n in names}
    assert reports["live"]["host"]["root"] == "/"
    assert reports["gpu-nouveau"]["host"]["root"].endswith("/roots/nouveau")
    statuses = {c["id"]: c["status"] for c in reports["gpu-nouveau"]["checks"]}
    assert statuses["kernel.driver"] == "fail"
    assert not [c for c in reports["gpu-healthy"]["checks"] if c["status"] == "fail"]


def test_the_default_policy_fails_hosts_with_a_failing_check_only(fleet):
    doc = fleet["doc"]
    assert fleet["rc"] == 2  # ansible-playbook: some hosts failed
    results = task_results(doc, RUN_TASK)
    assert results["gpu-nouveau"]["failed"] is True
    assert results["gpu-nouveau"]["msg"].startswith("gpudoctor: failing checks: kernel.driver")
    assert results["gpu-nouveau"]["exit_code"] == 1  # the host's problems, not a crash
    for host in ("gpu-healthy", "gpu-amd", "gpu-stale-pciids"):
        assert not results[host].get("failed"), results[host]
        assert results[host]["changed"] is False
        assert results[host]["ansible_facts"]["gpudoctor_report"]["schema"] == \
            "gpudoctor.report/1"
    assert results["gpu-stale-pciids"]["failing"] == []
    assert results["gpu-stale-pciids"]["ready"] is True
    live = results["live"]
    failing_live = [c["id"] for c in live["report"]["checks"] if c["status"] == "fail"]
    assert live.get("failed", False) is bool(failing_live)
    # gpudoctor exit 2 (the root cannot be read) is a failed task with its one-line error.
    bad = results["gpu-badroot"]
    assert bad["failed"] is True and bad["msg"].startswith("gpudoctor could not run (exit 2): ")
    assert "never-captured" in bad["msg"] and "report" not in bad
    stats = doc["stats"]
    assert stats["gpu-nouveau"]["failures"] == 1 and stats["gpu-healthy"]["failures"] == 0


def test_the_controller_summary_lists_the_missing_host(fleet):
    summary = json.loads(Path(str(fleet["reports"]) + ".fleet.json").read_text())
    jsonschema.validate(summary, fleet_schema())
    assert summary["totals"]["reported"] == 5
    assert summary["missing"] == ["gpu-badroot"]
    hosts = {h["host"]: h for h in summary["hosts"]}
    assert "kernel.driver" in hosts["gpu-nouveau"]["fail"]
    assert hosts["gpu-healthy"]["fail"] == []


def test_a_policy_of_listed_ids_and_never(fleet, ansible, tmp_path):
    extra = {"gpudoctor_install": "none", "gpudoctor_reports_dir": str(tmp_path / "r1"),
             "gpudoctor_fail_on": ["kernel.driver", "docker.nvidia_runtime"],
             "gpudoctor_hosts": "all:!gpu-badroot"}
    rc, doc = ansible.run(fleet["inventory"], extra=extra)
    results = task_results(doc, RUN_TASK)
    failed = {h: r.get("msg") for h, r in results.items() if r.get("failed")}
    assert sorted(failed) == ["gpu-nouveau"], failed
    assert results["gpu-nouveau"]["msg"] == "gpudoctor: failing checks: kernel.driver"
    assert rc == 2
    live = results["live"]
    assert live["msg"].startswith(("failing checks (allowed by fail_on): ", "no check failed"))
    extra.update(gpudoctor_fail_on="never", gpudoctor_reports_dir=str(tmp_path / "r2"))
    rc, doc = ansible.run(fleet["inventory"], extra=extra)
    assert rc == 0
    results = task_results(doc, RUN_TASK)
    assert not [h for h, r in results.items() if r.get("failed")]
    assert "kernel.driver" in results["gpu-nouveau"]["failing"]
    assert len(list((tmp_path / "r2").glob("*.json"))) == 5


def test_a_bad_policy_is_refused(fleet, ansible, tmp_path):
    """(Run by the installed collection's name, as its README says.)"""
    rc, doc = ansible.run(fleet["inventory"], "-l", "gpu-amd",
                          extra={"gpudoctor_install": "none", "gpudoctor_fail_on": 7,
                                 "gpudoctor_reports_dir": str(tmp_path)},
                          playbook="gpudoctor.doctor.doctor")
    result = task_results(doc, RUN_TASK)["gpu-amd"]
    assert rc == 2 and result["msg"].startswith(
        "fail_on names checks gpudoctor does not have: 7 (it has: gpu.present, ")
    rc, doc = ansible.run(fleet["inventory"], "-l", "gpu-amd",
                          extra={"gpudoctor_install": "none",
                                 "gpudoctor_fail_on": ["kernel.drvier"],
                                 "gpudoctor_reports_dir": str(tmp_path)})
    result = task_results(doc, RUN_TASK)["gpu-amd"]
    assert rc == 2 and result["msg"].startswith(
        "fail_on names checks gpudoctor does not have: kernel.drvier (it has: ")


@pytest.fixture
def pci_ids_server(tmp_path):
    """A newer pci.ids on a real HTTP server, and this machine's pci.ids put back after."""
    builder = HostRootBuilder(tmp_path / "src")
    # Newer than any copy another test may have left on this machine (a shared file).
    builder.write_pci_ids("/pci.ids", version="2099.12.31", date="2099-12-31 03:15:02")
    body = (tmp_path / "src" / "pci.ids").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/pci.ids" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saved = LIVE_PCI_IDS.read_bytes() if LIVE_PCI_IDS.exists() else None
    saved_stat = LIVE_PCI_IDS.stat() if saved is not None else None
    before = set(LIVE_PCI_IDS.parent.glob("pci.ids*")) if LIVE_PCI_IDS.parent.exists() else set()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pci.ids", body
    finally:
        server.shutdown()
        server.server_close()
        for path in set(LIVE_PCI_IDS.parent.glob("pci.ids*")) - before:
            path.unlink()
        if saved is None:
            LIVE_PCI_IDS.unlink(missing_ok=True)
        else:
            LIVE_PCI_IDS.write_bytes(saved)
            assert saved_stat is not None
            LIVE_PCI_IDS.chmod(saved_stat.st_mode & 0o7777)
            os.utime(LIVE_PCI_IDS, ns=(saved_stat.st_atime_ns, saved_stat.st_mtime_ns))


@pytest.mark.machine
def test_fixes_changed_only_when_something_changed_and_check_mode_changes_nothing(
        fleet, ansible, tmp_path, pci_ids_server):
    url, body = pci_ids_server
    saved = LIVE_PCI_IDS.read_bytes() if LIVE_PCI_IDS.exists() else None
    extra = {"gpudoctor_install": "none", "gpudoctor_reports_dir": str(tmp_path / "r"),
             "gpudoctor_fix_ids": ["pciids.update"], "gpudoctor_pciids_url": url,
             "gpudoctor_fail_on": "never"}
    # --check --diff: what would change, and nothing changes.
    rc, doc = ansible.run(fleet["inventory"], "-l", "live", "--check", "--diff", extra=extra)
    live = task_results(doc, RUN_TASK)["live"]
    assert rc == 0 and live["changed"] is True, live
    assert live["fix"]["applied"] == [] and [p["id"] for p in live["fix"]["plans"]] == [
        "pciids.update"]
    assert any(f"download {url}" in d.get("prepared", "") for d in live["diff"]), live["diff"]
    assert (LIVE_PCI_IDS.read_bytes() if LIVE_PCI_IDS.exists() else None) == saved
    # For real: the file is replaced, changed is true.
    rc, doc = ansible.run(fleet["inventory"], "-l", "live", extra=extra)
    live = task_results(doc, RUN_TASK)["live"]
    assert rc == 0 and live["changed"] is True, (live.get("msg"), live.get("fix"))
    assert live["fix"]["applied"] == ["pciids.update"]
    assert LIVE_PCI_IDS.read_bytes() == body
    gathered = json.loads((tmp_path / "r" / "live.json").read_text())
    assert gathered == live["report"] and validate_report(gathered)
    # Again: nothing to do, nothing changed (gpudoctor compared the download with the file).
    rc, doc = ansible.run(fleet["inventory"], "-l", "live", extra=extra)
    live = task_results(doc, RUN_TASK)["live"]
    assert rc == 0 and live["changed"] is False, live
    assert live["fix"]["unchanged"] == ["pciids.update"] and live["fix"]["applied"] == []


def test_fixes_on_a_host_root_are_only_planned(fleet, ansible, tmp_path):
    extra = {"gpudoctor_install": "none", "gpudoctor_reports_dir": str(tmp_path),
             "gpudoctor_fix": True, "gpudoctor_fail_on": "never"}
    root = Path(fleet["hosts"]["gpu-healthy"]["gpudoctor_root"])
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    rc, doc = ansible.run(fleet["inventory"], "-l", "gpu-nouveau,gpu-healthy", extra=extra)
    results = task_results(doc, RUN_TASK)
    assert rc == 0
    assert results["gpu-nouveau"]["changed"] is False and results["gpu-healthy"]["changed"] is False
    assert results["gpu-nouveau"]["fix"]["applied"] == []
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    assert after == before


def test_the_collection_installs_from_the_repository_folder(tmp_path, ansible):
    env = dict(ansible.env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
    subprocess.run(["ansible-galaxy", "collection", "install", str(COLLECTION), "-p",
                    str(tmp_path)], check=True, capture_output=True, env=env, timeout=120)
    module = tmp_path / "ansible_collections" / "gpudoctor" / "doctor" / "plugins" / "modules"
    assert (module / "gpudoctor.py").read_text() == (
        COLLECTION / "plugins" / "modules" / "gpudoctor.py").read_text()
    doc = subprocess.run(["ansible-doc", "-t", "module", "gpudoctor.doctor.gpudoctor"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert doc.returncode == 0, doc.stderr
    assert "fail_on" in doc.stdout and "check mode" in doc.stdout.lower()
    shutil.rmtree(tmp_path / "ansible_collections")


def test_the_pip_install_mode_makes_a_venv_that_runs(ansible, tmp_path):
    """gpudoctor_install=pip: `pip install` into a new venv (here the spec is the wheel built
    from this checkout; its dependencies come from the host's configured package index)."""
    [wheel] = (ansible.base / "wheelhouse").glob("gpudoctor-*.whl")
    venv = tmp_path / "venv-pip"
    inventory = write_inventory(tmp_path / "inventory.yml", {"pip-host": {
        "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
        "gpudoctor_install": "pip", "gpudoctor_venv": str(venv),
        "gpudoctor_pip_spec": str(wheel), "gpudoctor_fail_on": "never",
        "gpudoctor_root": str(scenarios.amd_mi300x_8(tmp_path / "root"))}})
    rc, doc = ansible.run(inventory, extra={"gpudoctor_reports_dir": str(tmp_path / "r")})
    install = task_results(doc, "Install gpudoctor into a virtual environment with pip")
    assert rc == 0 and install["pip-host"]["changed"] is True, install
    assert (venv / "bin" / "gpudoctor").exists()
    result = task_results(doc, RUN_TASK)["pip-host"]
    assert result["cmd"][0] == str(venv / "bin" / "gpudoctor") and result["failing"] == []
    assert json.loads((tmp_path / "r" / "pip-host.json").read_text())["gpus"]
