"""--format prometheus through Debian's real node_exporter (textfile collector on 127.0.0.1),
and --format nagios exit codes and status lines, on healthy and broken host roots."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import container_roots, scenarios
from tests.support.cli import report_for, run_gpudoctor, validate_report

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
PERF = re.compile(r"^'?([^'=]+)'?=(-?[\d.]+)[a-zA-Z%]*;([^;]*);([^;]*);([^;]*)(?:;([^;]*))?$")


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("mon")
    return {"healthy": container_roots.nvidia_all_good(base / "healthy"),
            "nouveau": scenarios.nvidia_nouveau(base / "nouveau"),
            "stale_pciids": scenarios.pciids_2023(base / "stale"),
            "amd": scenarios.amd_laptop_field_guide(base / "amd")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def node_exporter(tmp_path):
    """Debian's prometheus-node-exporter with only the textfile collector, on a free port."""
    folder = tmp_path / "textfile"
    folder.mkdir()
    port = _free_port()
    proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
                             "--collector.disable-defaults", "--collector.textfile",
                             f"--collector.textfile.directory={folder}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                why = proc.stderr.read() if proc.stderr else b""
                raise AssertionError(f"node_exporter did not start: {why!r}") from None
            time.sleep(0.1)
    try:
        yield url, folder
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def compute_gpus(root: Path) -> tuple[int, int]:
    """(found, selected) as the report counts them: compute GPUs where it says `kind`."""
    gpus = [g for g in report_for(root)["gpus"] if g.get("kind", "compute") == "compute"]
    return len(gpus), sum(1 for g in gpus if g["selected"])


def labels_of(samples: dict, name: str) -> dict[str, str]:
    [key] = [k for k in samples if k[0] == name]
    return dict(key[1])


def test_node_exporter_serves_the_broken_hosts_metrics(node_exporter, roots):
    url, folder = node_exporter
    target = folder / "gpudoctor.prom"
    run = run_gpudoctor("--format", "prometheus", "-o", target, "--root", roots["nouveau"])
    assert run.returncode == 1 and run.stdout == "" and run.stderr == ""
    samples = scrape(url)
    assert value(samples, "node_textfile_scrape_error") == 0
    assert (("node_textfile_mtime_seconds", (("file", str(target)),)) in samples
            or ("node_textfile_mtime_seconds", (("file", target.name),)) in samples)
    for check, status in (("kernel.driver", "fail"), ("devices.nodes", "fail"),
                          ("gpu.present", "pass"), ("docker.daemon", "skip")):
        row = [k for k in samples if k[0] == "gpudoctor_check_status"
               and dict(k[1])["id"] == check and dict(k[1])["status"] == status]
        assert len(row) == 1 and samples[row[0]] == 1, (check, status)
    assert value(samples, "gpudoctor_check_status", id="kernel.driver", area="Kernel",
                 status="pass") == 0
    assert value(samples, "gpudoctor_checks", status="fail") == 3
    assert value(samples, "gpudoctor_gpus_found") == 1
    assert value(samples, "gpudoctor_gpus_selected") == 1
    assert value(samples, "gpudoctor_ready") == 0
    stamp = value(samples, "gpudoctor_last_run_timestamp_seconds")
    assert abs(stamp - time.time()) < 120


def test_the_healthy_host_is_ready_with_its_versions(node_exporter, roots):
    url, folder = node_exporter
    run = run_gpudoctor("check", "--format", "prometheus", "-o", folder / "gpudoctor.prom",
                        "--root", roots["healthy"])
    assert run.returncode == 0, run.stderr
    samples = scrape(url)
    assert value(samples, "node_textfile_scrape_error") == 0
    assert value(samples, "gpudoctor_ready") == 1
    assert value(samples, "gpudoctor_checks", status="fail") == 0
    assert value(samples, "gpudoctor_gpus_found") == compute_gpus(roots["healthy"])[0]
    assert value(samples, "gpudoctor_gpus_selected") == 8
    info = labels_of(samples, "gpudoctor_info")
    assert info["nvidia_driver"] == "580.95.05" and info["docker"] == "28.5.1"
    assert info["toolkit"] == "1.17.8-1" and info["version"] and info["amdgpu"] == ""
    assert not [k for k in samples if k[0] == "gpudoctor_check_status"
                and dict(k[1])["status"] == "fail" and samples[k] == 1]


def test_o_replaces_the_file_atomically_and_leaves_no_temporary(tmp_path, roots):
    target = tmp_path / "gpudoctor.prom"
    target.write_text("# an older run\n")
    before = target.stat().st_ino
    run = run_gpudoctor("--format", "prometheus", "-o", target, "--root", roots["amd"])
    assert run.returncode == 0, run.stderr
    assert target.stat().st_ino != before  # renamed over, not rewritten in place
    assert "gpudoctor_ready 1.0" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpudoctor.prom"]
    # The same metrics on stdout without -o.
    stdout = run_gpudoctor("--format", "prometheus", "--root", roots["amd"]).stdout
    strip = re.compile(r"^gpudoctor_last_run_timestamp_seconds .*$", re.M)
    assert strip.sub("", stdout) == strip.sub("", target.read_text())


def test_json_and_text_go_to_o_too(tmp_path, roots):
    run = run_gpudoctor("--format", "json", "-o", tmp_path / "r.json", "--root", roots["nouveau"])
    assert run.returncode == 1 and run.stdout == ""
    assert validate_report(json.loads((tmp_path / "r.json").read_text()))["versions"]
    run = run_gpudoctor("check", "-o", tmp_path / "r.txt", "--root", roots["nouveau"])
    assert run.returncode == 1 and run.stdout == ""
    text = (tmp_path / "r.txt").read_text()
    assert text.startswith("gpudoctor report for ") and "\x1b[" not in text


def test_o_into_a_missing_folder_is_a_one_line_error(tmp_path, roots):
    run = run_gpudoctor("--format", "prometheus", "-o", tmp_path / "nope" / "g.prom",
                        "--root", roots["amd"])
    assert run.returncode == 2
    assert run.stderr == (f"gpudoctor: error: -o {tmp_path}/nope/g.prom: the folder "
                          f"{tmp_path}/nope does not exist\n")


def test_json_and_another_format_conflict(roots):
    run = run_gpudoctor("--json", "--format", "nagios", "--root", roots["amd"])
    assert run.returncode == 3 and run.stdout.startswith("GPUDOCTOR UNKNOWN - --json and")
    run = run_gpudoctor("--json", "--format", "prometheus", "--root", roots["amd"])
    assert run.returncode == 2 and "ask for two formats" in run.stderr


def nagios(*args: str | Path) -> tuple[int, str, dict[str, tuple]]:
    run = run_gpudoctor("--format", "nagios", *args)
    assert run.stdout.count("\n") == 1 and run.stdout.endswith("\n"), run.stdout
    line = run.stdout.rstrip("\n")
    perf: dict[str, tuple] = {}
    if " | " in line:
        line, data = line.split(" | ")
        for item in data.split(" "):
            match = PERF.match(item)
            assert match, item
            perf[match.group(1)] = match.groups()[1:]
    return run.returncode, line, perf


def test_nagios_ok_on_a_healthy_host(roots):
    code, line, perf = nagios("--root", roots["healthy"])
    assert code == 0
    found, selected = compute_gpus(roots["healthy"])
    assert selected == 8
    n = len(report_for(roots["healthy"])["checks"])
    assert line == (f"GPUDOCTOR OK - {n} checks, none failed; 8 of {found} GPU(s) selected for "
                    "containers")
    assert perf["fail"] == ("0", "", "0", "0", str(n))
    assert perf["gpus_found"][0] == str(found) and perf["ready"][0] == "1"


def test_nagios_critical_names_the_failing_checks(roots):
    code, line, perf = nagios("--root", roots["nouveau"])
    report = report_for(roots["nouveau"])
    failed = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    assert code == 2 and "kernel.driver" in failed
    assert line.startswith(f"GPUDOCTOR CRITICAL - {len(failed)} of {len(report['checks'])} "
                           f"checks failed: {', '.join(failed)}; {failed[0]}: ")
    assert "nouveau, not nvidia" in line
    assert perf["fail"][0] == "3" and perf["ready"][0] == "0"


def test_nagios_warning_for_a_warning_only(roots):
    code, line, perf = nagios("check", "--root", roots["stale_pciids"])
    n = len(report_for(roots["stale_pciids"])["checks"])
    assert code == 1
    assert line.startswith(f"GPUDOCTOR WARNING - 1 of {n} checks warned or could not decide: "
                           "pciids.fresh; pciids.fresh: ")
    assert perf["warn"] == ("1", "0", "", "0", str(n))


def test_nagios_unknown_when_gpudoctor_cannot_run(tmp_path):
    code, line, perf = nagios("--root", tmp_path / "no-such-root")
    assert code == 3 and line.startswith("GPUDOCTOR UNKNOWN - ") and "no-such-root" in line
    assert perf == {}
    run = run_gpudoctor("--format", "nagios", "--no-such-option")
    assert run.returncode == 3
    assert run.stdout == "GPUDOCTOR UNKNOWN - bad command line (see stderr)\n"
    assert "unrecognized arguments: --no-such-option" in run.stderr


def test_nagios_o_writes_the_line(tmp_path, roots):
    out = tmp_path / "status.txt"
    run = run_gpudoctor("--format", "nagios", "-o", out, "--root", roots["amd"])
    assert run.returncode == 0 and run.stdout == ""
    assert out.read_text().startswith("GPUDOCTOR OK - ")
    assert os.listdir(tmp_path) == ["status.txt"]


def test_a_snapshot_replays_the_same_versions_and_monitoring_output(tmp_path, roots):
    """`versions` uses only what the checks read, so a snapshot of the broken or the healthy
    host gives the same versions, metrics (but the run's time) and Nagios line."""
    strip = re.compile(r"^gpudoctor_last_run_timestamp_seconds .*$", re.M)
    for name in ("healthy", "nouveau"):
        out = tmp_path / f"{name}.tar.gz"
        run = run_gpudoctor("snapshot", "--root", roots[name], "-o", out)
        assert run.returncode == 0, run.stderr
        source, copy = report_for(roots[name]), report_for(out)
        assert copy["versions"] == source["versions"]
        metrics = [strip.sub("", run_gpudoctor("--format", "prometheus", "--root", r).stdout)
                   for r in (roots[name], out)]
        assert metrics[0] == metrics[1] and "gpudoctor_info{" in metrics[0]
        lines = [run_gpudoctor("--format", "nagios", "--root", r) for r in (roots[name], out)]
        assert (lines[0].returncode, lines[0].stdout) == (lines[1].returncode, lines[1].stdout)
    healthy = report_for(roots["healthy"])["versions"]
    assert healthy == {"nvidia_driver": "580.95.05", "amdgpu": None, "toolkit": "1.17.8-1",
                       "docker": "28.5.1"}


def test_json_does_not_import_the_prometheus_client(roots):
    code = ("import sys, io, contextlib\nfrom gpudoctor.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    main(['--json', '--root', {str(roots['amd'])!r}])\n"
            "print(sorted(m for m in sys.modules if m.startswith(('prometheus_client', "
            "'gpudoctor.fleet', 'gpudoctor.formats'))))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert run.stdout.strip() == "[]"
