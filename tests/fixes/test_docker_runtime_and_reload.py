"""`gpudoctor fix` on the real test dockerd: declare the nvidia runtime, reload, and prove it.

Each test starts a private dockerd with the configuration it needs; gpudoctor finds it the way
it finds any daemon (DOCKER_HOST, then the process's --config-file). The stand-in nvidia-ctk
(tests/support/standins) answers `runtime configure --dry-run` as the real one does, and the
stand-in nvidia-container-runtime execs runc, so `docker run --runtime=nvidia` really runs.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gpudoctor import fixer
from gpudoctor.facts import Options
from gpudoctor.host.live import LiveHost
from gpudoctor.report import Doctor
from tests.support.cli import REPO, run_gpudoctor, validate_report
from tests.support.dockerd import ensure_busybox_image
from tests.support.standins import install_standins, standin_dir

pytestmark = pytest.mark.docker

RUNTIME_FIXES = ["docker.configure_nvidia_runtime", "docker.reload"]
ENTRY = {"args": [], "path": "nvidia-container-runtime"}



@pytest.fixture
def toolkit_bin(tmp_path: Path) -> Path:
    """A folder with the stand-in nvidia-ctk and nvidia-container-runtime."""
    folder = tmp_path / "toolkit-bin"
    install_standins(folder, ["nvidia-container-runtime"])
    target = folder / "nvidia-ctk"
    target.write_bytes((standin_dir() / "nvidia-ctk").read_bytes())
    target.chmod(0o755)
    return folder


def env_for(d, path_dirs: list[Path] | None = None, **extra: str) -> dict[str, str]:
    path = ":".join([*(str(p) for p in path_dirs or []), os.environ["PATH"]])
    return {"DOCKER_HOST": d.host, "PATH": path, **extra}


def fix(d, toolkit_bin: Path | None, *args: str, env: dict[str, str] | None = None,
        input: str | None = None):
    full = env_for(d, [toolkit_bin] if toolkit_bin else [])
    full.update(env or {})
    return run_gpudoctor("fix", *args, env=full, input=input, timeout=180)


def backups_of(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.gpudoctor-*.bak"))


def temps_of(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.gpudoctor-*.tmp"))


# ----- the happy path -------------------------------------------------------------------------
def test_configure_then_reload_makes_runtime_nvidia_run_a_container(dockerd_factory, toolkit_bin,
                                                                      tmp_path):
    runtime_log = tmp_path / "runtime.log"
    original = '{\n  "debug": false,\n  "features": {"buildkit": true},\n  "log-level": "info"\n}\n'
    d = dockerd_factory(config=original, extra_path=[toolkit_bin],
                        env={"GPUDOCTOR_RUNTIME_LOG": str(runtime_log)})
    image = ensure_busybox_image(d)
    d.config_file.chmod(0o640)
    before = d.docker("run", "--rm", "--runtime=nvidia", image, "true", check=False)
    assert before.returncode != 0
    assert "nvidia" in (before.stderr.lower())

    run = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    # The plan: the command nvidia-ctk was asked, the diff, the interruption flag, the reload.
    assert f"--config={d.config_file} --dry-run" in out
    assert '+  "runtimes": {' in out and '+      "path": "nvidia-container-runtime"' in out
    assert '-  "log-level": "info"' in out and '+  "log-level": "info",' in out
    assert "interrupts running containers: no" in out
    assert f"kill -HUP {d.pid}" in out
    assert "verified: the daemon answers" in out

    text = d.config_file.read_text()
    assert text == ('{\n  "debug": false,\n  "features": {"buildkit": true},\n'
                    '  "log-level": "info",\n  "runtimes": {\n    "nvidia": {\n'
                    '      "args": [],\n      "path": "nvidia-container-runtime"\n    }\n  }\n}\n')
    assert stat.S_IMODE(d.config_file.stat().st_mode) == 0o640
    [backup] = backups_of(d.config_file)
    assert backup.read_text() == original
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640
    assert not temps_of(d.config_file)

    assert d.info()["Runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    ran = d.docker("run", "--rm", "--runtime=nvidia", image, "echo", "inside")
    assert ran.stdout.strip() == "inside"
    assert "nvidia-container-runtime" in runtime_log.read_text()

    # A second run changes nothing and says so.
    stamp = d.config_file.stat().st_mtime_ns
    again = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("nothing to do:") == 2
    assert "already declares the nvidia runtime" in again.stdout
    assert "Nothing to apply" in again.stdout
    assert d.config_file.read_text() == text
    assert d.config_file.stat().st_mtime_ns == stamp
    assert len(backups_of(d.config_file)) == 1


def test_the_persons_layout_is_kept(dockerd_factory, toolkit_bin):
    """Tabs stay tabs, a one-line file stays one line, other runtimes and keys keep their place."""
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    cases = {
        '{\n\t"debug": false\n}\n':
            '{\n\t"debug": false,\n\t"runtimes": {\n\t\t"nvidia": {\n\t\t\t"args": [],\n'
            '\t\t\t"path": "nvidia-container-runtime"\n\t\t}\n\t}\n}\n',
        '{"debug": false}':
            '{"debug": false, "runtimes": {"nvidia": {"args": [], "path": '
            '"nvidia-container-runtime"}}}',
        '{\n    "runtimes": {\n        "crun": {\n            "path": "/usr/bin/crun"\n'
        '        }\n    },\n    "debug": false\n}\n':
            '{\n    "runtimes": {\n        "crun": {\n            "path": "/usr/bin/crun"\n'
            '        },\n        "nvidia": {\n            "args": [],\n            "path": '
            '"nvidia-container-runtime"\n        }\n    },\n    "debug": false\n}\n',
        "": '{\n    "runtimes": {\n        "nvidia": {\n            "args": [],\n'
            '            "path": "nvidia-container-runtime"\n        }\n    }\n}\n',
    }
    for original, expected in cases.items():
        d.config_file.write_text(original)
        run = fix(d, toolkit_bin, "docker.configure_nvidia_runtime", "--yes")
        assert run.returncode == 0, (original, run.stdout, run.stderr)
        assert d.config_file.read_text() == expected, original
        for backup in backups_of(d.config_file):
            backup.unlink()


def test_enable_cdi_keeps_the_other_feature_flags(dockerd_factory, toolkit_bin):
    """nvidia-ctk --cdi.enabled drops other `features` keys; gpudoctor's merge keeps them."""
    d = dockerd_factory(config={"features": {"containerd-snapshotter": True}},
                        extra_path=[toolkit_bin])
    ctk = subprocess.run([str(toolkit_bin / "nvidia-ctk"), "runtime", "configure",
                          "--runtime=docker", f"--config={d.config_file}", "--dry-run",
                          "--cdi.enabled"], capture_output=True, text=True, timeout=30)
    assert "containerd-snapshotter" not in ctk.stdout  # the upstream bug, reproduced
    host = LiveHost(env=dict(os.environ, **env_for(d, [toolkit_bin])))
    plans = fixer.plan_fixes(Doctor(host, Options()), RUNTIME_FIXES, {"enable_cdi": True})
    configure, reload = plans
    new = json.loads(configure.steps[-1].new_content)
    assert new["features"] == {"containerd-snapshotter": True, "cdi": True}
    assert new["runtimes"]["nvidia"] == ENTRY
    # features are read only at start: a restart, which cannot be done without an init system.
    assert "restart is needed" in " ".join(reload.notes)
    assert "cannot be restarted safely" in reload.blocked
    assert f"kill -TERM {d.pid}" in reload.blocked


# ----- refusing and rolling back --------------------------------------------------------------
def test_malformed_daemon_json_is_refused_and_left_byte_identical(dockerd_factory, toolkit_bin):
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    broken = b'{\n  "debug": true,\n}\n'
    d.config_file.write_bytes(broken)
    run = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "line 3, column 1" in run.stdout
    assert "never overwrites a file it cannot parse" in run.stdout
    assert d.config_file.read_bytes() == broken
    assert not backups_of(d.config_file) and not temps_of(d.config_file)
    assert "Got signal to reload" not in d.log_text()
    assert d.is_healthy()


def test_a_configuration_the_daemon_rejects_is_rolled_back(dockerd_factory, toolkit_bin):
    """The person's file already has a key dockerd rejects (edited after the last start): the
    reload fails silently, gpudoctor sees it, restores the file, reloads again, and quotes
    dockerd's own error."""
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    original = b'{\n    "debug": false,\n    "bogus-option": true\n}\n'
    d.config_file.write_bytes(original)
    run = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes")
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "the following directives don't match any configuration option: bogus-option" in out
    assert "Restored" in out and "the daemon is healthy" in out
    assert "Result: rolled back docker.configure_nvidia_runtime." in out
    assert d.config_file.read_bytes() == original
    [backup] = backups_of(d.config_file)
    assert backup.read_bytes() == original
    assert d.is_healthy()
    assert "nvidia" not in d.info()["Runtimes"]
    assert d.log_text().count("Got signal to reload configuration") == 2


def test_without_nvidia_ctk_the_plan_names_the_install_fix(dockerd_factory, tmp_path):
    d = dockerd_factory(config={})
    run = fix(d, None, *RUNTIME_FIXES, "--yes")
    assert run.returncode == 1
    assert "nvidia-ctk is not installed" in run.stdout
    assert ("gpudoctor fix nvidia.install_toolkit docker.configure_nvidia_runtime docker.reload"
            in run.stdout)
    assert d.config_file.read_text() == "{}\n"


def test_hook_added_after_start_needs_a_restart_that_is_not_done_blindly(dockerd_factory,
                                                                          tmp_path):
    """The field guide's case: toolkit installed after dockerd started, so --gpus has no driver.
    A restart is needed; this daemon runs under no init system, so the plan says how instead."""
    hook_dir = tmp_path / "hook-bin"
    hook_dir.mkdir()
    d = dockerd_factory(config={}, extra_path=[hook_dir])
    image = ensure_busybox_image(d)
    time.sleep(1.2)
    install_standins(hook_dir, ["nvidia-container-runtime-hook"])
    gpus = d.docker("run", "--rm", "--gpus", "all", image, "true", check=False)
    assert 'could not select device driver "" with capabilities: [[gpu]]' in gpus.stderr
    run = run_gpudoctor("fix", "docker.reload", "--dry-run", env=env_for(d), timeout=120)
    out = " ".join(run.stdout.split())
    assert "a restart is needed" in out
    assert "nvidia-container-runtime-hook appeared at" in out
    assert "cannot be restarted safely" in out
    assert f"kill -TERM {d.pid}" in out and "--config-file=" in out


# ----- interruptions, locking, permissions ------------------------------------------------------
def _spawn_fix(d, toolkit_bin: Path, extra_env: dict[str, str],
               stdout: object = subprocess.PIPE) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("GPUDOCTOR_DEBUG", None)
    env.update(env_for(d, [toolkit_bin]), NO_COLOR="1", **extra_env)
    return subprocess.Popen([sys.executable, "-m", "gpudoctor", "fix", *RUNTIME_FIXES, "--yes"],
                            env=env, cwd=REPO, stdout=stdout, stderr=subprocess.PIPE, text=True)


def _wait_for_text(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def _wait_paused(proc: subprocess.Popen, marker: Path, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError("the run neither paused nor finished")


def test_killed_at_every_step_leaves_each_file_old_or_new(dockerd_factory, toolkit_bin,
                                                          tmp_path):
    original = b'{\n    "debug": false\n}\n'
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    d.config_file.write_bytes(original)
    trace = tmp_path / "checkpoints"
    proc = _spawn_fix(d, toolkit_bin, {"GPUDOCTOR_TEST_CHECKPOINTS": str(trace)})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    new = d.config_file.read_bytes()
    assert json.loads(new)["runtimes"]["nvidia"] == ENTRY
    steps = trace.read_text().splitlines()
    names = [s.split(" ", 1)[1] for s in steps]
    assert names[:2] == ["planned", "locked"]
    assert any(n.startswith("partly-written") and n.endswith("daemon.json") for n in names)
    assert "before-signal" in names

    for number in range(1, len(steps) + 1):
        d.config_file.write_bytes(original)
        for backup in backups_of(d.config_file):
            backup.unlink()
        marker = tmp_path / f"paused-{number}"
        proc = _spawn_fix(d, toolkit_bin, {"GPUDOCTOR_TEST_PAUSE_AT": str(number),
                                           "GPUDOCTOR_TEST_PAUSE_FILE": str(marker)})
        assert _wait_paused(proc, marker), f"step {number} never reached"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        now = d.config_file.read_bytes()
        assert now in (original, new), (number, steps[number - 1], now)
        if now == new:
            assert [b.read_bytes() for b in backups_of(d.config_file)] == [original]
        for backup in backups_of(d.config_file):
            assert backup.read_bytes() == original, steps[number - 1]
    # A later run finishes the job and clears the temporary files killed runs left behind.
    d.config_file.write_bytes(original)
    run = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    assert d.config_file.read_bytes() == new
    assert not temps_of(d.config_file)
    assert d.is_healthy() and "nvidia" in d.info()["Runtimes"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_while_writing_leaves_the_old_file_and_no_temporary(
        dockerd_factory, toolkit_bin, tmp_path, signum):
    original = b'{\n    "debug": false\n}\n'
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    d.config_file.write_bytes(original)
    marker = tmp_path / "paused"
    proc = _spawn_fix(d, toolkit_bin, {
        "GPUDOCTOR_TEST_PAUSE_AT": f"partly-written {d.config_file}",
        "GPUDOCTOR_TEST_PAUSE_FILE": str(marker)})
    assert _wait_paused(proc, marker)
    assert temps_of(d.config_file), "the half-written temporary file should exist now"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in err
    assert d.config_file.read_bytes() == original
    assert not temps_of(d.config_file)
    assert "Got signal to reload" not in d.log_text()


def test_two_concurrent_runs_do_not_interleave(dockerd_factory, toolkit_bin, tmp_path):
    original = b'{\n    "debug": false\n}\n'
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    d.config_file.write_bytes(original)
    marker = tmp_path / "first-paused"
    first = _spawn_fix(d, toolkit_bin, {"GPUDOCTOR_TEST_PAUSE_AT": "locked",
                                        "GPUDOCTOR_TEST_PAUSE_FILE": str(marker)})
    assert _wait_paused(first, marker)
    holder = marker.read_text().split()[-1]

    second = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes")
    assert second.returncode == 1
    assert "another gpudoctor fix is running" in second.stderr
    assert f"pid {holder}" in second.stderr
    assert d.config_file.read_bytes() == original

    # A third run waits while the first finishes, then plans again and finds nothing to do.
    third_out = tmp_path / "third.out"
    with open(third_out, "w") as sink:
        third = _spawn_fix(d, toolkit_bin, {}, stdout=sink)
        _wait_for_text(third_out, "waiting up to")
        marker.unlink()
        out1, err1 = first.communicate(timeout=120)
        _, err3 = third.communicate(timeout=120)
    out3 = third_out.read_text()
    assert first.returncode == 0, out1 + err1
    assert third.returncode == 0, out3 + err3
    assert "docker.configure_nvidia_runtime: nothing to do" in out3
    assert "docker.reload: nothing to do" in out3
    assert json.loads(d.config_file.read_bytes())["runtimes"]["nvidia"] == ENTRY
    assert len(backups_of(d.config_file)) == 1
    assert d.log_text().count("Got signal to reload configuration") == 1


def test_a_plan_outdated_before_the_lock_is_made_again(dockerd_factory, toolkit_bin, tmp_path):
    """Run A plans, then another run changes the file before A takes the lock: A notices the
    file it planned from changed, plans again, and applies nothing that was not shown."""
    original = b'{\n    "debug": false\n}\n'
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    d.config_file.write_bytes(original)
    marker = tmp_path / "planned"
    late = _spawn_fix(d, toolkit_bin, {"GPUDOCTOR_TEST_PAUSE_AT": "planned",
                                       "GPUDOCTOR_TEST_PAUSE_FILE": str(marker)})
    assert _wait_paused(late, marker)
    done = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    written = d.config_file.read_bytes()
    marker.unlink()
    out, err = late.communicate(timeout=120)
    assert late.returncode == 0, out + err
    assert "changed since the plan was made; planning it again" in out
    assert "nothing to do now: /" in out
    assert "nothing to do now: the daemon already shows the runtimes" in out
    assert "Result: nothing to do for docker.configure_nvidia_runtime, docker.reload." in out
    assert d.config_file.read_bytes() == written
    assert len(backups_of(d.config_file)) == 1
    assert d.log_text().count("Got signal to reload configuration") == 1


def test_a_non_root_run_says_to_use_sudo_and_changes_nothing(dockerd_factory, toolkit_bin,
                                                             unprivileged):
    base = Path(tempfile.mkdtemp(prefix="gd-nonroot-"))
    base.chmod(0o755)
    toolkit = base / "bin"
    install_standins(toolkit, ["nvidia-container-runtime"])
    (toolkit / "nvidia-ctk").write_bytes((toolkit_bin / "nvidia-ctk").read_bytes())
    (toolkit / "nvidia-ctk").chmod(0o755)
    d = dockerd_factory(base=base / "d", config={"debug": False}, extra_path=[toolkit])
    base.joinpath("d").chmod(0o755)
    d.config_file.chmod(0o644)
    before = d.config_file.read_bytes()
    env = {k: v for k, v in os.environ.items() if k != "GPUDOCTOR_DEBUG"}
    env.update(env_for(d, [toolkit]), NO_COLOR="1", HOME="/tmp")
    env.update(unprivileged.env())
    proc = subprocess.run(unprivileged.argv("fix", *RUNTIME_FIXES, "--yes"),
                          env=env, cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "need root" in proc.stderr
    assert ("sudo --preserve-env=DOCKER_HOST gpudoctor fix docker.configure_nvidia_runtime "
            "docker.reload" in proc.stderr)
    assert "Nothing was changed" in proc.stderr
    assert d.config_file.read_bytes() == before
    assert not backups_of(d.config_file)
    assert "Got signal to reload" not in d.log_text()


# ----- asking, dry runs, JSON ---------------------------------------------------------------------
def test_without_a_terminal_or_yes_it_refuses_and_dry_run_only_shows(dockerd_factory,
                                                                      toolkit_bin):
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    run = fix(d, toolkit_bin, *RUNTIME_FIXES, input="y\n")
    assert run.returncode == 2
    assert "pass --yes" in run.stderr and "Nothing was changed" in run.stderr
    dry = fix(d, toolkit_bin, *RUNTIME_FIXES, "--dry-run")
    assert "Dry run: nothing was changed." in dry.stdout
    assert '+    "runtimes": {' in dry.stdout
    assert d.config_file.read_text() == "{}\n"
    assert not backups_of(d.config_file)


def _answer_on_terminal(d, toolkit_bin: Path, answer: bytes) -> tuple[int, str]:
    env = dict(os.environ)
    env.update(env_for(d, [toolkit_bin]), NO_COLOR="1")
    env.pop("GPUDOCTOR_DEBUG", None)
    main, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gpudoctor", "fix", *RUNTIME_FIXES],
                            env=env, cwd=REPO, stdin=secondary, stdout=secondary,
                            stderr=secondary, close_fds=True)
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 90
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        try:
            seen += os.read(main, 65536)
        except OSError:
            break
    assert b"[y/N]" in seen, seen.decode(errors="replace")
    os.write(main, answer)
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    code = proc.wait(timeout=60)
    os.close(main)
    return code, seen.decode(errors="replace")


def test_the_question_on_a_terminal(dockerd_factory, toolkit_bin):
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    code, text = _answer_on_terminal(d, toolkit_bin, b"n\n")
    assert code == 1 and "Nothing was changed." in text
    assert "Apply 2 fixes? [y/N]" in text
    assert d.config_file.read_text() == "{}\n"
    code, text = _answer_on_terminal(d, toolkit_bin, b"y\n")
    assert code == 0, text
    assert "nvidia" in d.info()["Runtimes"]


def test_json_output_for_automation(dockerd_factory, toolkit_bin):
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    run = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes", "--json")
    assert run.returncode == 0, run.stderr
    doc = run.json
    assert doc["schema"] == "gpudoctor.fix/1"
    assert doc["applied"] == RUNTIME_FIXES and doc["failed"] is None
    assert [p["id"] for p in doc["plans"]] == RUNTIME_FIXES
    assert doc["plans"][0]["steps"][-1]["diff"].startswith(f"--- {d.config_file}")
    validate_report(doc["report"])
    again = fix(d, toolkit_bin, *RUNTIME_FIXES, "--yes", "--json").json
    assert again["applied"] == [] and again["unchanged"] == RUNTIME_FIXES


def test_reload_alone_loads_a_runtime_declared_by_hand(dockerd_factory, toolkit_bin):
    """The classic: someone ran nvidia-ctk (or edited the file) and never reloaded."""
    d = dockerd_factory(config={}, extra_path=[toolkit_bin])
    d.config_file.write_text(json.dumps({"runtimes": {"nvidia": ENTRY}}, indent=4))
    run = fix(d, toolkit_bin, "docker.reload", "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    flat = " ".join(run.stdout.split())
    assert "declares it, but runtime nvidia is not loaded in the running daemon" in flat
    assert "a reload is enough and keeps running containers up" in flat
    assert "nvidia" in d.info()["Runtimes"]
    again = fix(d, toolkit_bin, "docker.reload", "--yes")
    assert "nothing to do: the running daemon has loaded every runtime" in again.stdout
