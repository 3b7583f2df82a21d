"""The stand-in nvidia-ctk behaves as nvidia-container-stack.md §1 documents the real one, since
the fixes are tested against it: output format, newline rules, logging, errors."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

from tests.support.standins import standin_dir

CTK = str(standin_dir() / "nvidia-ctk")
ENTRY_TEXT = ('{\n    "runtimes": {\n        "nvidia": {\n            "args": [],\n'
              '            "path": "nvidia-container-runtime"\n        }\n    }\n}')


def ctk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CTK, *args], capture_output=True, text=True, timeout=30)


def test_version():
    out = ctk("--version").stdout.splitlines()
    assert out[0] == "NVIDIA Container Toolkit CLI version 1.17.8"
    assert out[1].startswith("commit: ")


def test_missing_file_dry_run_and_write(tmp_path):
    target = tmp_path / "etc" / "docker" / "daemon.json"
    dry = ctk("runtime", "configure", "--runtime=docker", f"--config={target}", "--dry-run")
    assert dry.returncode == 0 and dry.stdout == ENTRY_TEXT + "\n"
    assert 'level=info msg="Config file does not exist; using empty config"' in dry.stderr
    assert not target.exists()
    wrote = ctk("runtime", "configure", "--runtime=docker", f"--config={target}")
    assert wrote.returncode == 0
    assert target.read_text() == ENTRY_TEXT  # no trailing newline when it writes
    assert f'msg="Wrote updated config to {target}"' in wrote.stderr
    assert 'msg="It is recommended that docker daemon be restarted."' in wrote.stderr


def test_sorted_keys_go_escaping_and_the_features_bug(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{"z": 1, "labels": ["a<b&c>"], "features": {"containerd-snapshotter": true},'
                    ' "runtimes": {"nvidia": {"path": "/old", "runtimeArgs": ["-x"]}}}')
    out = ctk("runtime", "configure", "--runtime", "docker", "--config", str(path), "--dry-run",
              "--set-as-default", "--cdi.enabled").stdout
    doc = json.loads(out)
    assert list(doc) == sorted(doc)
    assert '"a\\u003cb\\u0026c\\u003e"' in out
    assert doc["features"] == {"cdi": True}  # other feature flags dropped, as upstream
    assert doc["default-runtime"] == "nvidia"
    assert doc["runtimes"]["nvidia"] == {"args": [], "path": "nvidia-container-runtime"}
    assert '"z": 1' in out and out.startswith("{\n    ")


def test_errors_the_real_tool_gives(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    run = ctk("runtime", "configure", "--runtime=docker", f"--config={empty}")
    assert run.returncode == 1
    assert 'level=error msg="unable to load config for runtime docker: EOF"' in run.stderr
    comma = tmp_path / "comma.json"
    comma.write_text('{"debug": true,}')
    run = ctk("runtime", "configure", "--runtime=docker", f"--config={comma}")
    assert run.returncode == 1
    assert ("unable to load config for runtime docker: invalid character '}' looking for "
            "beginning of object key string") in run.stderr
    assert comma.read_text() == '{"debug": true,}'
    odd = tmp_path / "odd.json"
    odd.write_text('{"runtimes": "nvidia"}')
    run = ctk("runtime", "configure", "--runtime=docker", f"--config={odd}")
    assert run.returncode == 2
    assert run.stderr.splitlines()[-4].startswith(
        "panic: interface conversion: interface {} is string")
    assert ctk("runtime", "configure", "--bogus").returncode == 1


def test_config_set_in_place(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[nvidia-container-cli]\nload-kmods = true\n')
    run = ctk("config", f"--config-file={config}", "--set", "nvidia-container-cli.no-cgroups",
              "--in-place")
    assert run.returncode == 0
    assert "no-cgroups = true" in config.read_text()
    bad = ctk("config", f"--config-file={config}", "--set", "nvidia-container-cli.path")
    assert bad.returncode == 1 and "expected key=value" in bad.stderr
    unknown = ctk("config", f"--config-file={config}", "--set", "nope=1")
    assert unknown.returncode == 1 and 'undefined field: \\"nope\\"' in unknown.stderr


def test_on_a_terminal_it_logs_like_logrus_does(tmp_path):
    main, secondary = pty.openpty()
    proc = subprocess.Popen([CTK, "runtime", "configure", f"--config={tmp_path / 'x.json'}",
                             "--dry-run"], stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    proc.wait(timeout=30)
    text = b""
    try:
        while True:
            chunk = os.read(main, 4096)
            if not chunk:
                break
            text += chunk
    except OSError:
        pass
    os.close(main)
    assert b"INFO\x1b[0m[0000] Config file does not exist; using empty config" in text
    assert not Path(tmp_path / "x.json").exists()
