"""Rootless Docker's own daemon.json belongs to the person: the remedy configures it without
sudo and by absolute path (the shell does not expand `~` after `--config=`), and the fix that
creates it leaves it owned by the person, not by root."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gpudoctor.facts import Facts, Options
from gpudoctor.fixes.docker_configure_nvidia_runtime import ConfigureNvidiaRuntime, _owner_of_folder
from gpudoctor.host.live import LiveHost
from gpudoctor.plugin import FixContext, Plan, Step
from tests.support import container_roots
from tests.support.cli import check_of, report_for


def test_rootless_remedy_has_no_sudo_and_an_absolute_path(tmp_path: Path):
    root = container_roots.rootless_docker(tmp_path / "root")
    (root / "home/alice/.config/docker/daemon.json").write_text("{}\n")
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    doc["docker"]["info"]["Runtimes"].pop("nvidia", None)
    host_json.write_text(json.dumps(doc))
    runtime = check_of(report_for(root), "docker.nvidia_runtime")
    configure = ("nvidia-ctk runtime configure --runtime=docker "
                 "--config=/home/alice/.config/docker/daemon.json")
    assert configure in runtime["commands"]
    assert "systemctl --user restart docker" in runtime["commands"]
    assert f"`{configure}`" in runtime["remedy"]
    assert "sudo nvidia-ctk runtime configure" not in runtime["remedy"]
    assert "~" not in " ".join(runtime["commands"])
    # The toolkit's config.toml is host-wide (/etc): that one does need sudo.
    assert any(c.startswith("sudo nvidia-ctk config --config-file=/etc/nvidia-container-runtime/")
               for c in runtime["commands"])


def test_a_created_per_user_daemon_json_is_owned_by_the_person(tmp_path: Path):
    home = tmp_path / "home" / "alice"
    (home / ".config" / "docker").mkdir(parents=True)
    for folder in (home, home / ".config", home / ".config" / "docker"):
        os.chown(folder, 1000, 1000)
    path = home / ".config" / "docker" / "daemon.json"
    facts = Facts(LiveHost(), Options())
    assert _owner_of_folder(facts, str(path)) == (1000, 1000)
    content = b'{\n  "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}\n}\n'
    plan = Plan("docker.configure_nvidia_runtime", "declare",
                steps=[Step(kind="write", description="create", path=str(path), diff="",
                            new_content=content)],
                data={"path": str(path), "old_sha": None, "owner": [1000, 1000]})
    log: list[str] = []
    ConfigureNvidiaRuntime().apply(plan, facts, FixContext(), log.append)
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert path.read_bytes() == content
    assert any("created" in line for line in log)


def test_folders_created_for_a_per_user_file_belong_to_the_person(tmp_path: Path):
    """~/.config/docker did not exist: root creates it for alice, so it must be alice's."""
    from gpudoctor.host.safefile import atomic_write

    home = tmp_path / "home" / "alice"
    home.mkdir(parents=True)
    os.chown(home, 1000, 1000)
    path = home / ".config" / "docker" / "daemon.json"
    atomic_write(str(path), b"{}\n", uid=1000, gid=1000)
    for folder in (home / ".config", home / ".config" / "docker"):
        st = folder.stat()
        assert (st.st_uid, st.st_gid) == (1000, 1000), folder
    assert (path.stat().st_uid, path.stat().st_gid) == (1000, 1000)
    etc = tmp_path / "etc" / "docker" / "daemon.json"  # a root-owned tree stays root's
    atomic_write(str(etc), b"{}\n")
    assert etc.parent.stat().st_uid == 0
