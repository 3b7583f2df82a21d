"""docker.nvidia_runtime in process on host roots: declared in the file the daemon really
reads, and loaded by the running daemon; each way that goes wrong gives its finding id, the
fixes and the pasteable commands, and the healthy roots beside them give none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import container_roots as cr
from tests.support.check_run import result_of, verdict

ID = "docker.nvidia_runtime"
CONFIGURE = "sudo nvidia-ctk runtime configure --runtime=docker --config=/etc/docker/daemon.json"
FIXES = ["docker.configure_nvidia_runtime", "docker.reload"]


def system(root: Path, daemon_json: str | None, loaded: dict[str, Any] | None = None,
           extra_args: tuple[str, ...] = (), down: bool = False) -> Path:
    """A system dockerd reading /etc/docker/daemon.json; `loaded`: the runtimes /info adds."""
    r = cr.ContainerRoot(root)
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    if daemon_json is not None:
        r.b.write("/etc/docker/daemon.json", daemon_json)
    r.system_dockerd(extra_args=extra_args)
    if down:
        r.down()
    else:
        info = cr.docker_info()
        info["Runtimes"].update(loaded or {})
        r.answers(info)
    return r.finish()


def drop_loaded_nvidia(root: Path) -> None:
    """The daemon of a finished root no longer has the nvidia runtime loaded."""
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    doc["docker"]["info"]["Runtimes"].pop("nvidia", None)
    host_json.write_text(json.dumps(doc))


# ----- healthy -------------------------------------------------------------------------------
def test_declared_and_loaded_passes(tmp_path: Path) -> None:
    result = result_of(cr.nvidia_all_good(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == ("the nvidia runtime is declared in /etc/docker/daemon.json and "
                              "loaded")


def test_loaded_while_the_hook_is_unseen_passes(tmp_path: Path) -> None:
    assert verdict(result_of(cr.runtime_without_hook(tmp_path / "root"), ID)) == ("pass", [])


def test_declared_only_on_dockerd_command_line_and_loaded_passes(tmp_path: Path) -> None:
    root = system(tmp_path / "root", "{}\n", {"nvidia": {"path": "nvidia-container-runtime"}},
                  extra_args=("--add-runtime=nvidia=nvidia-container-runtime",))
    assert verdict(result_of(root, ID)) == ("pass", [])


# ----- declared, not loaded --------------------------------------------------------------------
def test_declared_but_not_loaded_offers_the_reload(tmp_path: Path) -> None:
    result = result_of(system(tmp_path / "root", cr.NVIDIA_CTK_DAEMON_JSON), ID)
    assert verdict(result) == ("fail", ["docker.nvidia_runtime.not_loaded"])
    assert result.fixes == ["docker.reload"]
    assert result.commands == ["sudo systemctl reload docker",
                               "docker info --format '{{json .Runtimes}}'"]
    assert "`sudo kill -HUP 1423`" in result.remedy


def test_declared_by_flag_but_not_loaded_names_the_flag(tmp_path: Path) -> None:
    root = system(tmp_path / "root", "{}\n",
                  extra_args=("--add-runtime=nvidia=nvidia-container-runtime",))
    result = result_of(root, ID)
    assert verdict(result) == ("fail", ["docker.nvidia_runtime.not_loaded"])
    assert result.summary.startswith("the nvidia runtime is declared in `--add-runtime` on "
                                     "dockerd's command line but")


def test_the_snap_declared_but_not_loaded_restarts_the_snap(tmp_path: Path) -> None:
    root = cr.snap_docker_etc_edited(tmp_path / "root")
    (root / "var/snap/docker/3265/config/daemon.json").write_text(cr.NVIDIA_CTK_DAEMON_JSON)
    result = result_of(root, ID)
    assert verdict(result) == ("fail", ["docker.nvidia_runtime.not_loaded"])
    assert result.commands == ["sudo snap restart docker"]


# ----- not declared where the daemon reads -----------------------------------------------------
def test_snap_docker_reads_its_own_file_not_the_edited_etc_one(tmp_path: Path) -> None:
    result = result_of(cr.snap_docker_etc_edited(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["docker.nvidia_runtime.declared_elsewhere"])
    assert result.fixes == FIXES
    assert result.summary == ("the nvidia runtime is declared in /etc/docker/daemon.json, which "
                              "this daemon does not read")
    assert "reads /var/snap/docker/3265/config/daemon.json" in result.details
    assert result.commands == [
        "sudo nvidia-ctk runtime configure --runtime=docker "
        "--config=/var/snap/docker/3265/config/daemon.json", "sudo snap restart docker"]


@pytest.mark.parametrize(("build", "status", "works"), [
    (cr.toolkit_missing, "fail", "does not work either"),
    (cr.toolkit_installed_after_daemon, "fail", "does not work either"),
    (cr.toolkit_versions_mismatched, "warn", "Here `--gpus` works"),
    (cr.cdi_only, "warn", "Here CDI gives the GPUs"),
], ids=["nothing-works", "installed-after-dockerd", "gpus-works", "cdi-works"])
def test_not_declared_weighs_what_else_works(tmp_path: Path, build, status: str,
                                             works: str) -> None:
    result = result_of(build(tmp_path / "root"), ID)
    assert verdict(result) == (status, ["docker.nvidia_runtime.not_declared"])
    assert result.fixes == FIXES
    assert result.commands == [CONFIGURE, "sudo systemctl reload docker"]
    assert works in result.details


def test_a_file_that_cannot_be_parsed_is_said_first(tmp_path: Path) -> None:
    result = result_of(system(tmp_path / "root", cr.TRAILING_COMMA_JSON), ID)
    assert verdict(result) == ("fail", ["docker.nvidia_runtime.config_unreadable"])
    assert result.fixes == []  # no fix rewrites a file it cannot parse


# ----- loaded --------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "why"), [
    ("/opt/nvidia/nvidia-container-runtime", "that file does not exist"),
    ("nvidia-container-runtime-x", "that program is not on dockerd's PATH"),
], ids=["absolute", "on-path"])
def test_a_loaded_runtime_whose_program_is_missing(tmp_path: Path, path: str, why: str) -> None:
    root = system(tmp_path / "root", cr.NVIDIA_CTK_DAEMON_JSON, {"nvidia": {"path": path}})
    result = result_of(root, ID)
    assert verdict(result) == ("fail", ["docker.nvidia_runtime.program_missing"])
    assert result.fixes == ["nvidia.install_toolkit"]
    assert why in result.details


def test_loaded_but_no_longer_declared_warns_before_the_next_reload(tmp_path: Path) -> None:
    root = system(tmp_path / "root", "{}\n", {"nvidia": {"path": "nvidia-container-runtime"}})
    result = result_of(root, ID)
    assert verdict(result) == ("warn", ["docker.nvidia_runtime.no_longer_declared"])
    assert result.fixes == ["docker.configure_nvidia_runtime"]
    assert result.commands == [CONFIGURE]


def test_default_runtime_nvidia_without_the_runtime(tmp_path: Path) -> None:
    result = result_of(system(tmp_path / "root", '{"default-runtime": "nvidia"}\n'), ID)
    assert verdict(result) == ("fail", ["docker.nvidia_runtime.default_missing",
                                        "docker.nvidia_runtime.not_declared"])
    assert result.fixes == FIXES


# ----- rootless ------------------------------------------------------------------------------
def test_rootless_docker_needs_no_cgroups(tmp_path: Path) -> None:
    result = result_of(cr.rootless_docker(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["docker.nvidia_runtime.rootless_needs_no_cgroups"])
    assert result.fixes == ["nvidia.rootless_no_cgroups"]
    assert "/etc/nvidia-container-runtime/config.toml" in result.details
    assert "bpf_prog_query" in result.details
    assert result.commands == [
        "sudo nvidia-ctk config --config-file=/etc/nvidia-container-runtime/config.toml --set "
        "nvidia-container-cli.no-cgroups --in-place", "systemctl --user restart docker"]


def test_rootless_docker_with_no_cgroups_passes(tmp_path: Path) -> None:
    result = result_of(cr.rootless_docker(tmp_path / "root", no_cgroups=True), ID)
    assert verdict(result) == ("pass", [])
    assert "/home/alice/.config/docker/daemon.json" in result.summary


def test_rootless_remedy_has_no_sudo_and_an_absolute_path(tmp_path: Path) -> None:
    root = cr.rootless_docker(tmp_path / "root")
    (root / "home/alice/.config/docker/daemon.json").write_text("{}\n")
    drop_loaded_nvidia(root)
    result = result_of(root, ID)
    configure = ("nvidia-ctk runtime configure --runtime=docker "
                 "--config=/home/alice/.config/docker/daemon.json")
    assert configure in result.commands
    assert "systemctl --user restart docker" in result.commands
    assert f"`{configure}`" in result.remedy
    assert "sudo nvidia-ctk runtime configure" not in result.remedy
    assert "~" not in " ".join(result.commands)
    # The toolkit's config.toml is host-wide (/etc): that one does need sudo.
    assert any(c.startswith("sudo nvidia-ctk config --config-file=/etc/nvidia-container-runtime/")
               for c in result.commands)


# ----- when it cannot be told ----------------------------------------------------------------
@pytest.mark.parametrize(("daemon_json", "state"), [
    (cr.NVIDIA_CTK_DAEMON_JSON, "declares it"),
    ("{}\n", "does not declare it"),
    (cr.TRAILING_COMMA_JSON, "cannot be parsed (see docker.daemon)"),
], ids=["declared", "not-declared", "broken"])
def test_a_daemon_that_does_not_answer_skips_and_says_what_the_file_holds(
        tmp_path: Path, daemon_json: str, state: str) -> None:
    result = result_of(system(tmp_path / "root", daemon_json, down=True), ID)
    assert verdict(result) == ("skip", [])
    assert result.summary == ("whether the nvidia runtime is loaded is unknown: the daemon does "
                              f"not answer (see docker.daemon); /etc/docker/daemon.json {state}")


def test_root_without_docker_capture_skips(tmp_path: Path) -> None:
    result = result_of(cr.not_captured(tmp_path / "root"), ID)
    assert verdict(result) == ("skip", [])
    assert "/etc/docker/daemon.json declares it" in result.summary


def test_desktop_and_remote_daemons_are_not_configured_from_here(tmp_path: Path) -> None:
    desktop = result_of(cr.docker_desktop(tmp_path / "desktop"), ID)
    assert desktop.status.value == "skip" and "VM" in desktop.summary
    r = cr.ContainerRoot(tmp_path / "remote")
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    r.answers()
    r.b.set_host_json(env={"DOCKER_HOST": "tcp://10.0.0.5:2375", "HOME": "/home/alice"})
    remote = result_of(r.finish(), ID)
    assert remote.status.value == "skip"
    assert "tcp://10.0.0.5:2375 runs on another machine" in remote.summary
