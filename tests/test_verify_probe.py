"""The probe script is plain POSIX sh: it must give the same answers under the shells of the
images people verify with: busybox ash (busybox, alpine), dash (Debian and Ubuntu's /bin/sh) and
bash. Run here on the host, against mknod'ed nodes, as root and as a real non-root process."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpudoctor.verify import PROBE, parse_probe
from tests.support.unprivileged import shared_folder
from tests.support.verify_support import make_node

SHELLS = {"busybox": ["/bin/busybox", "sh"], "dash": ["/bin/dash"], "bash": ["/bin/bash"]}


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder the non-root process may enter."""
    with shared_folder("gd-probe-", 0o755) as folder:
        yield folder


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_probe_answers_the_same_in_every_shell(shell: str, open_dir: Path) -> None:
    argv = SHELLS[shell]
    assert shutil.which(argv[0]), f"{argv[0]} is needed for this test"
    kfd = make_node(open_dir / "kfd", gid=4242)
    render = make_node(open_dir / "renderD128", gid=4243, minor=5)
    missing = open_dir / "renderD129"
    plain = open_dir / "not-a-device"
    plain.write_text("")
    paths = [str(kfd), str(render), str(missing), str(plain)]

    def probe(**user) -> str:
        done = subprocess.run([*argv, "-c", PROBE, "gpudoctor-probe", "-", *paths],
                              capture_output=True, text=True, timeout=30, check=False,
                              env={"PATH": "/usr/bin:/bin"}, **user)
        return done.stdout

    root = parse_probe("root", probe())
    assert root.complete and root.uid == 0
    assert root.devices[str(kfd)].state == "rw"
    assert (root.devices[str(kfd)].mode, root.devices[str(kfd)].gid) == (0o660, 4242)
    assert (root.devices[str(render)].major, root.devices[str(render)].minor) == (1, 5)
    assert root.devices[str(missing)].state == "missing"
    assert root.devices[str(plain)].state == "notchar"
    # nobody holding only 4242: the render node's group 4243 is missing
    nobody = parse_probe("65534:65534",
                         probe(user=65534, group=65534, extra_groups=[4242]))
    assert nobody.complete and nobody.uid == 65534 and sorted(nobody.gids) == [4242, 65534]
    assert nobody.devices[str(kfd)].state == "rw"
    denied = nobody.devices[str(render)]
    assert denied.state == "denied" and "Permission denied" in denied.error
    assert nobody.smi_state is None  # nvidia-smi runs only when NVIDIA was asked for
