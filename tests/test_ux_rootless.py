"""Rootless Docker's own daemon.json belongs to the person: the fix that creates it leaves it
owned by the person, not by root. (The remedy that configures it without sudo and by absolute
path is tested in tests/checks/test_docker_nvidia_runtime.py.)"""

from __future__ import annotations

import os
from pathlib import Path

from gpudoctor.facts import Facts, Options
from gpudoctor.fixes.docker_configure_nvidia_runtime import ConfigureNvidiaRuntime, _owner_of_folder
from gpudoctor.host.live import LiveHost
from gpudoctor.plugin import FixContext, Plan, Step


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
