"""Container-stack facts: daemon.json parsed as dockerd parses it (checked against the real
dockerd), dpkg records, CDI specs, and the small parsers the checks stand on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gpudoctor.facts.cdi import parse_spec
from gpudoctor.facts.docker import (
    flag_conflicts,
    listen_sockets,
    parse_daemon_json,
    parse_flags,
    version_tuple,
)
from gpudoctor.facts.toolkit import last_dpkg_event, parse_dpkg_status
from gpudoctor.host.base import ProcessInfo
from tests.support import container_roots as cr
from tests.support.dockerd import Dockerd, start_dockerd

# (name, daemon.json text, our state, dockerd's startup error or None when it starts)
DAEMON_JSON_CASES = [
    ("valid", '{\n  "debug": true\n}\n', "ok", None),
    ("trailing-comma", '{\n  "labels": ["a=b"],\n  "debug": true,\n}\n', "syntax",
     "invalid character '}' looking for beginning of object key string"),
    ("comment", '{\n  // GPUs\n  "debug": true\n}\n', "comments",
     "invalid character '/' looking for beginning of object key string"),
    ("empty", "", "empty", ": EOF"),
    ("whitespace", "  \n\n", "empty", ": EOF"),
    ("array", "[]\n", "not-object", "cannot unmarshal array"),
    ("duplicate-key", '{"debug": true, "debug": false}', "ok", None),
    ("trailing-text", '{"debug": true}\nxx\n', "ok", None),
]


@pytest.mark.docker
@pytest.mark.parametrize("name,text,state,refusal", DAEMON_JSON_CASES,
                         ids=[c[0] for c in DAEMON_JSON_CASES])
def test_daemon_json_verdict_matches_the_real_dockerd(tmp_path: Path, name: str, text: str,
                                                      state: str, refusal: str | None) -> None:
    cfg = parse_daemon_json("/etc/docker/daemon.json", text)
    assert cfg.state == state
    if refusal is None:
        daemon: Dockerd = start_dockerd(tmp_path / "d", config=text)
        try:
            info = daemon.info()
        finally:
            daemon.stop()
        assert not cfg.broken
        if name == "duplicate-key":  # the last value wins, as gpudoctor says
            assert info["Debug"] is False
            assert cfg.notes == ["`debug` is set more than once; dockerd uses the last one"]
        if name == "trailing-text":
            assert cfg.notes and "line 2, column 1" in cfg.notes[0]
        return
    with pytest.raises(RuntimeError) as failed:
        start_dockerd(tmp_path / "d", config=text)
    assert "unable to configure the Docker daemon with file" in str(failed.value)
    assert refusal in str(failed.value)
    assert cfg.broken or cfg.state == "empty"


@pytest.mark.docker
def test_unknown_key_typo_is_refused_by_dockerd_and_named(tmp_path: Path) -> None:
    text = '{"default_runtime": "runc"}'
    cfg = parse_daemon_json("/etc/docker/daemon.json", text)
    assert cfg.typos == {"default_runtime": "default-runtime"}
    assert cfg.broken
    with pytest.raises(RuntimeError, match="don't match any configuration option: "
                                           "default_runtime"):
        start_dockerd(tmp_path / "d", config=text)


def test_syntax_errors_carry_line_column_and_cause() -> None:
    cfg = parse_daemon_json("/x.json", cr.TRAILING_COMMA_JSON)
    assert (cfg.state, cfg.line, cfg.column) == ("syntax", 8, 1)
    assert cfg.cause == "a trailing comma at line 7, column 6"
    assert cfg.describe_error().startswith("/x.json: line 8, column 1: ")
    comment = parse_daemon_json("/x.json", '{\n  "debug": true # on\n}')
    assert comment.state == "comments" and comment.line == 2
    assert parse_daemon_json("/x.json", "\ufeff{}").state == "ok"
    assert parse_daemon_json("/x.json", '{"a": NaN}').state == "syntax"
    assert parse_daemon_json("/x.json", None).state == "missing"


def test_flags_and_their_conflicts_with_the_file() -> None:
    flags = parse_flags(("/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/c.sock",
                         "--add-runtime", "nvidia=/usr/bin/nvidia-container-runtime",
                         "--debug", "--data-root=/srv/docker"))
    assert flags["-H"] == ["fd://"]
    assert flags["--add-runtime"] == ["nvidia=/usr/bin/nvidia-container-runtime"]
    assert flags["--debug"] == ["true"]
    data = {"runtimes": {}, "debug": True, "data-root": "/x", "log-level": "warn"}
    assert flag_conflicts(flags, data) == ["runtimes", "debug", "data-root"]
    assert flag_conflicts(flags, None) == []


def test_which_socket_a_dockerd_serves() -> None:
    def proc(cmdline: tuple[str, ...], uid: int = 0, env: dict[str, str] | None = None):
        return ProcessInfo(pid=1, ppid=0, uid=uid, name="dockerd", exe="/usr/bin/dockerd",
                           cmdline=cmdline, env_path=None, create_time=None, env=env or {})

    assert "/var/run/docker.sock" in listen_sockets(proc(("dockerd", "-H", "fd://")))
    assert listen_sockets(proc(("dockerd", "--host=unix:///tmp/d.sock"))) == ["/tmp/d.sock"]
    assert listen_sockets(proc(("dockerd",), uid=1000)) == ["/run/user/1000/docker.sock"]
    assert listen_sockets(proc(("dockerd",), uid=1000, env={"XDG_RUNTIME_DIR": "/r"})) == \
        ["/r/docker.sock"]


def test_version_tuples() -> None:
    assert version_tuple("20.10.24+dfsg1") == (20, 10, 24)
    assert version_tuple("28.2") == (28, 2, 0)
    assert version_tuple("v29.2.0-rc.1") == (29, 2, 0)
    assert version_tuple("dev") is None


def test_dpkg_status_and_log(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")
    r.toolkit({"libnvidia-container1": "1.17.7-1"}, installed_at=cr.DOCKERD_START,
              status={"nvidia-container-toolkit": "install ok half-configured"})
    root = r.finish()
    packages = parse_dpkg_status((root / "var/lib/dpkg/status").read_text())
    assert set(packages) == {"libnvidia-container1", "libnvidia-container-tools",
                             "nvidia-container-toolkit-base", "nvidia-container-toolkit"}
    assert packages["libnvidia-container1"].version == "1.17.7-1"
    assert packages["nvidia-container-toolkit"].half_installed
    assert not packages["nvidia-container-toolkit"].installed
    event = last_dpkg_event((root / "var/log/dpkg.log").read_text())
    assert event is not None and event.first_install and event.new == cr.TOOLKIT_VERSION


def test_cdi_yaml_is_read_with_pyyaml() -> None:
    text = cr.nvidia_cdi_yaml(cr.DRIVER, 4)
    doc = yaml.safe_load(text)
    spec, refs = parse_spec("/etc/cdi/nvidia.yaml", text)
    assert spec.kind == doc["kind"] == "nvidia.com/gpu"
    assert spec.devices == [d["name"] for d in doc["devices"]] == ["0", "1", "2", "3", "all"]
    assert spec.error is None and refs


def test_broken_cdi_specs_say_why() -> None:
    bad_yaml, _ = parse_spec("/etc/cdi/x.yaml", "cdiVersion: 0.5.0\nkind: [unclosed\n")
    assert bad_yaml.error and bad_yaml.error.startswith("not valid YAML at line")
    bad_json, _ = parse_spec("/etc/cdi/x.json", '{"kind": "nvidia.com/gpu",}')
    assert bad_json.error and bad_json.error.startswith("not valid JSON")
    no_kind, _ = parse_spec("/etc/cdi/x.yaml", "cdiVersion: 0.5.0\ndevices: []\n")
    assert no_kind.error and "vendor/class" in no_kind.error
