"""What contrib/ ships for fleets, run for real: the systemd service and timer (verified by
systemd-analyze and their ExecStart run), the cron line (run through sh), the alert rules
(promtool's check and rule unit tests, on the metrics gpudoctor writes), and the Kubernetes
DaemonSet (validated against the Kubernetes schema by kubernetes-validate, and its command run
on a host root laid out as the pod mounts the node: / read-only at /host in a private mount
namespace)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gpudoctor.formats.prometheus import render
from tests.support import scenarios
from tests.support.cli import report_for

REPO = Path(__file__).resolve().parents[1]
PROM = REPO / "contrib" / "prometheus"
K8S = REPO / "contrib" / "kubernetes" / "gpudoctor-daemonset.yaml"
SHIPPED_EXE = "/opt/gpudoctor/bin/gpudoctor"
TEXTFILE = "/var/lib/prometheus/node-exporter"
EXE = str(Path(sys.executable).parent / "gpudoctor")


@pytest.fixture(scope="module")
def nouveau(tmp_path_factory) -> Path:
    return scenarios.nvidia_nouveau(tmp_path_factory.mktemp("contrib") / "nouveau")


def metric_names(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def exec_start(unit: str) -> str:
    [line] = [x for x in unit.splitlines() if x.startswith("ExecStart=")]
    return line.split("=", 1)[1]


def test_the_systemd_units_verify(tmp_path):
    for name in ("gpudoctor-textfile.service", "gpudoctor-textfile.timer"):
        text = (PROM / name).read_text().replace(SHIPPED_EXE, EXE)
        (tmp_path / name).write_text(text)
    run = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "gpudoctor-textfile.timer"),
                          str(tmp_path / "gpudoctor-textfile.service")],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout + run.stderr == "", run.stdout + run.stderr
    # verify really checks: a unit whose command is missing is refused.
    broken = (PROM / "gpudoctor-textfile.service").read_text().replace(
        SHIPPED_EXE, str(tmp_path / "no-such-gpudoctor"))
    (tmp_path / "broken.service").write_text(broken)
    run = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "broken.service")],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode != 0 and "no-such-gpudoctor" in run.stdout + run.stderr


def test_the_service_command_writes_metrics_and_exit_1_counts_as_success(tmp_path, nouveau):
    unit = (PROM / "gpudoctor-textfile.service").read_text()
    assert "SuccessExitStatus=1" in unit and "Type=oneshot" in unit
    assert f"ConditionPathIsDirectory={TEXTFILE}" in unit
    argv = shlex.split(exec_start(unit).replace(SHIPPED_EXE, EXE).replace(TEXTFILE,
                                                                          str(tmp_path)))
    assert argv[1:] == ["--format", "prometheus", "-o", f"{tmp_path}/gpudoctor.prom"]
    run = subprocess.run([*argv, "--root", str(nouveau)], capture_output=True, text=True,
                         timeout=120, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1 and run.stderr == ""
    text = (tmp_path / "gpudoctor.prom").read_text()
    assert 'gpudoctor_check_status{area="Kernel",id="kernel.driver",status="fail"} 1.0' in text
    timer = (PROM / "gpudoctor-textfile.timer").read_text()
    assert "OnUnitActiveSec=5min" in timer and "WantedBy=timers.target" in timer


def test_the_cron_line_runs_and_treats_exit_1_as_fine(tmp_path, nouveau):
    [line] = [x for x in (PROM / "gpudoctor.cron").read_text().splitlines()
              if x.strip() and not x.startswith("#")]
    fields = line.split(None, 6)
    assert fields[:5] == ["*/5", "*", "*", "*", "*"] and fields[5] == "root"
    command = fields[6].replace(TEXTFILE, str(tmp_path))
    ok = command.replace(SHIPPED_EXE, f"{EXE} --root {nouveau}")
    run = subprocess.run(["sh", "-c", ok], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr  # a failing check is not a failed cron job
    assert "gpudoctor_ready 0.0" in (tmp_path / "gpudoctor.prom").read_text()
    broken = command.replace(SHIPPED_EXE, f"{EXE} --root {tmp_path}/no-root")
    run = subprocess.run(["sh", "-c", broken], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1  # gpudoctor could not run (exit 2): cron mails it


def test_alert_rules_use_only_metrics_gpudoctor_writes(nouveau):
    rules = yaml.safe_load((PROM / "gpudoctor-alerts.yml").read_text())
    [group] = rules["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {"GpudoctorCheckFailing", "GpudoctorGpusLost", "GpudoctorNotRunning"}
    written = metric_names(render(report_for(nouveau)).decode())
    for alert in alerts.values():
        used = set(re.findall(r"\bgpudoctor_\w+", alert["expr"]))
        assert used and used <= written, (alert["alert"], used - written)
        assert alert["for"] == "15m" and alert["labels"]["severity"]
        assert alert["annotations"]["summary"]
    assert alerts["GpudoctorCheckFailing"]["expr"] == 'gpudoctor_check_status{status="fail"} == 1'
    assert "offset 1d" in alerts["GpudoctorGpusLost"]["expr"]


def test_the_daemonset_is_valid_kubernetes():
    docs = list(yaml.safe_load_all(K8S.read_text()))
    assert [d["kind"] for d in docs] == ["Namespace", "ServiceAccount", "DaemonSet"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
    ds = docs[2]
    typo = {**ds, "spec": {**ds["spec"], "selektor": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, "1.37.0", strict=True)
    pod = ds["spec"]["template"]["spec"]
    [container] = pod["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for path in ("/host", "/host/proc", "/host/sys", "/host/dev"):
        assert mounts[path]["readOnly"] is True
    assert not mounts["/textfile"].get("readOnly")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False


def test_the_daemonset_command_on_a_node_mounted_as_the_pod_sees_it(tmp_path):
    """/ bind-mounted read-only at HOST in a private mount namespace, as the hostPath volumes
    give the pod; the container's own gpudoctor line run against it."""
    if not shutil.which("unshare"):
        raise AssertionError("util-linux unshare is needed for this test")
    ds = list(yaml.safe_load_all(K8S.read_text()))[2]
    script = ds["spec"]["template"]["spec"]["containers"][0]["args"][0]
    [line] = [x.strip() for x in script.splitlines() if x.strip().startswith("gpudoctor ")]
    host, textfile = tmp_path / "host", tmp_path / "textfile"
    host.mkdir()
    textfile.mkdir()
    line = line.replace("/host", str(host)).replace("/textfile", str(textfile))
    line = EXE + line[len("gpudoctor"):]
    inner = (f"mount --rbind / {host} && mount -o remount,bind,ro {host} && "
             f"{line}; code=$?; umount -l {host}; exit $code")
    run = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", inner],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stderr
    text = (textfile / "gpudoctor.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"gpudoctor_check_status", "gpudoctor_ready", "gpudoctor_info"} <= set(families)
    # What a pod cannot see: the Docker daemon and processes (docs/fleets.md).
    status = {(s.labels["id"], s.labels["status"]): s.value
              for s in families["gpudoctor_check_status"].samples}
    assert status[("docker.daemon", "skip")] == 1
    assert not any(p.name.startswith(".") for p in textfile.iterdir())


def test_promtool_accepts_the_alert_rules():
    run = subprocess.run(["promtool", "check", "rules", str(PROM / "gpudoctor-alerts.yml")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 3 rules found" in run.stdout + run.stderr


def _failing(instance: str) -> dict:
    return {"exp_labels": {"alertname": "GpudoctorCheckFailing", "severity": "warning",
                           "id": "kernel.driver", "area": "Kernel", "status": "fail",
                           "instance": instance, "job": "node"},
            "exp_annotations": {
                "summary": f"gpudoctor check kernel.driver fails on {instance}",
                "description": "The check kernel.driver (Kernel) has failed for 15 minutes: GPU "
                               "containers on this host do not work as they should. Run "
                               "`gpudoctor` there for the evidence and the fix."}}


def test_the_alerts_fire_when_they_should_and_only_then(tmp_path):
    """promtool's rule unit tests: a check failing for 15 minutes, a host that lost a GPU since
    yesterday, a host whose metrics stopped; and beside each, a healthy host that stays quiet."""
    status = 'gpudoctor_check_status{{id="kernel.driver",area="Kernel",status="fail",' \
             'instance="{}",job="node"}}'
    found = 'gpudoctor_gpus_found{{instance="{}",job="node"}}'
    stamp = 'gpudoctor_last_run_timestamp_seconds{{instance="{}",job="node"}}'
    tests = {"rule_files": [str(PROM / "gpudoctor-alerts.yml")], "evaluation_interval": "1m",
             "tests": [
                 {"interval": "1m",
                  "input_series": [
                      {"series": status.format("gpu-07"), "values": "1x40"},
                      {"series": status.format("gpu-08"), "values": "0x40"},
                      {"series": status.format("gpu-09"), "values": "1x10 0x30"}],
                  "alert_rule_test": [
                      {"eval_time": "10m", "alertname": "GpudoctorCheckFailing",
                       "exp_alerts": []},
                      {"eval_time": "20m", "alertname": "GpudoctorCheckFailing",
                       "exp_alerts": [_failing("gpu-07")]}]},
                 {"interval": "1m",
                  "input_series": [
                      {"series": found.format("gpu-07"), "values": "8x1440 7x60"},
                      {"series": found.format("gpu-08"), "values": "8x1500"}],
                  "alert_rule_test": [
                      {"eval_time": "1d5m", "alertname": "GpudoctorGpusLost", "exp_alerts": []},
                      {"eval_time": "1d30m", "alertname": "GpudoctorGpusLost",
                       "exp_alerts": [{
                           "exp_labels": {"alertname": "GpudoctorGpusLost",
                                          "severity": "critical", "instance": "gpu-07",
                                          "job": "node"},
                           "exp_annotations": {
                               "summary": "gpu-07 sees fewer GPUs than yesterday",
                               "description": "gpudoctor finds 7 GPU(s) now, fewer than at "
                                              "this time yesterday: a GPU fell off the bus, "
                                              "lost its driver, or the host was rebuilt "
                                              "without it."}}]}]},
                 {"interval": "1m",
                  "input_series": [
                      {"series": stamp.format("gpu-07"), "values": "0x200"},
                      {"series": stamp.format("gpu-08"), "values": "0+60x200"}],
                  "alert_rule_test": [
                      {"eval_time": "70m", "alertname": "GpudoctorNotRunning",
                       "exp_alerts": []},
                      {"eval_time": "90m", "alertname": "GpudoctorNotRunning",
                       "exp_alerts": [{
                           "exp_labels": {"alertname": "GpudoctorNotRunning",
                                          "severity": "warning", "instance": "gpu-07",
                                          "job": "node"},
                           "exp_annotations": {
                               "summary": "gpudoctor has not refreshed its metrics on gpu-07 "
                                          "for an hour",
                               "description": "The textfile gpudoctor.prom is older than an "
                                              "hour: the timer or cron job stopped, or "
                                              "gpudoctor cannot run (check `systemctl status "
                                              "gpudoctor-textfile.service`)."}}]}]},
             ]}
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    run = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr
