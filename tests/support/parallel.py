"""Running the suite on several pytest-xdist workers without tests seeing each other.

Most tests are hermetic (their own host root, private daemons, temporary folders) and run side by
side. A few change state every process on this machine can see: /dev/kfd and /dev/dri made with
mknod, /usr/share/misc/pci.ids, /etc/cdi, a udev rule, a test user and groups. Those carry
`@pytest.mark.machine`: such a test runs with no other test beside it, because a live
`gpudoctor` run in another worker would otherwise see its node, file or group come and go. So
does a benchmark that judges a ratio of timings (the other workers' load would skew it).

That is a readers-writer lock shared by the workers (two flock(2) files under the session's
temporary root): every test holds the lock shared, a `machine` test holds it exclusive. A waiting
`machine` test first takes the turnstile, so new tests queue behind it instead of starving it.
Serially (`-n 0`, `-p no:xdist`) there is nothing to wait for and no lock is taken.

`shared_once` builds an expensive session fixture once for all workers (a file lock and a cache
folder under the same root) instead of once per worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

MARK = "machine"


def _worker() -> str | None:
    return os.environ.get("PYTEST_XDIST_WORKER")


def session_root(factory: pytest.TempPathFactory) -> Path:
    """The folder all workers of this session share (the controller's basetemp under xdist)."""
    base = factory.getbasetemp()
    return base.parent if _worker() else base


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases its lock


class MachineLock:
    """A writer-preferring readers-writer lock across worker processes."""

    def __init__(self, folder: Path) -> None:
        self.main = folder / "machine.lock"
        self.turnstile = folder / "machine.turnstile"

    @contextlib.contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        if exclusive:
            with _flock(self.turnstile, fcntl.LOCK_EX), _flock(self.main, fcntl.LOCK_EX):
                yield
            return
        with contextlib.ExitStack() as stack:
            with _flock(self.turnstile, fcntl.LOCK_EX):
                stack.enter_context(_flock(self.main, fcntl.LOCK_SH))
            yield


#: The modules that take longest, measured with `--durations=0` (slowest first). With
#: `--dist loadfile` a module runs on one worker (its module fixtures are built once), so these
#: start first and no worker is left alone with a long one at the end. A module missing here
#: only runs in collection order; the list is a schedule, never a condition for passing.
SLOW_FIRST: tuple[str, ...] = (
    "tests/test_engines_live.py",
    "tests/test_reliability_hangs.py",
    "tests/fixes/test_docker_runtime_and_reload.py",
    "tests/test_ansible_fleet.py",
    "tests/test_verify_docker.py",
    "tests/test_container_live.py",
    "tests/test_tui_app.py",
    "tests/test_nvidia_layer_docker.py",
    "tests/test_tui_fix.py",
    "tests/test_dockerd_support.py",
    "tests/test_snapshot_live.py",
    "tests/test_reliability_files.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each xdist worker the distribution mode (a worker's own `--dist` reads "no")."""
    node.workerinput["gpudoctor_dist"] = node.config.getoption("dist")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadfile`, the slowest modules first: the controller hands out modules in
    the order the workers collected them (with --no-loadscope-reorder)."""
    if getattr(config, "workerinput", {}).get("gpudoctor_dist") != "loadfile":
        return
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """With `-p no:xdist` the configured `-n`/`--dist` are accepted and mean: run serially."""
    if pluginmanager.has_plugin("xdist"):
        return
    group = parser.getgroup("xdist (not loaded: the suite runs serially)")
    group._addoption("-n", "--numprocesses", dest="numprocesses", default=0)  # as xdist does
    group.addoption("--dist", dest="dist", default="no")
    group.addoption("--no-loadscope-reorder", dest="loadscopereorder", action="store_false")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARK}: changes state every test on this machine can see (device nodes in /dev, "
        "/usr/share/misc/pci.ids, /etc/cdi, /etc/udev, users and groups) or times itself "
        "against the machine: runs with no other test beside it when xdist runs the suite on "
        "several workers")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Setup, call and teardown of each test under the machine lock (under xdist only)."""
    if not _worker():
        yield
        return
    factory: pytest.TempPathFactory = item.config._tmp_path_factory  # type: ignore[attr-defined]
    lock = MachineLock(session_root(factory))
    with lock.hold(exclusive=item.get_closest_marker(MARK) is not None):
        yield


def shared_once(factory: pytest.TempPathFactory, name: str,
                build: Callable[[Path], Any]) -> Any:
    """`build(folder)`'s JSON-able result, computed by the first worker that asks and read back
    by the others; `folder` (kept for the session) is where build may leave files."""
    root = session_root(factory)
    folder = root / f"shared-{name}"
    done = root / f"shared-{name}.json"
    with _flock(root / f"shared-{name}.lock", fcntl.LOCK_EX):
        if done.exists():
            return json.loads(done.read_text())
        folder.mkdir(exist_ok=True)
        value = build(folder)
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(done)
        return value


def remove_at_session_end(factory: pytest.TempPathFactory, path: Path) -> None:
    """Remove `path` (outside the session's temporary root) when the whole session ends."""
    with _flock(session_root(factory) / "remove-at-end.lock", fcntl.LOCK_EX), \
            open(session_root(factory) / "remove-at-end.txt", "a") as listing:
        listing.write(f"{path}\n")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or a serial run) removes what the workers listed, after all of them."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if _worker() or factory is None:
        return
    listing = session_root(factory) / "remove-at-end.txt"
    if listing.exists():
        for line in listing.read_text().splitlines():
            shutil.rmtree(line, ignore_errors=True)
        listing.unlink()
