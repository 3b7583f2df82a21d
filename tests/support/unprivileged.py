"""Running gpudoctor as an unprivileged user (`nobody`) wherever the checkout lives.

A checkout in a private folder (`mktemp -d` makes 0700 folders) and a Python under /root cannot
be reached by `nobody`, so tests that run gpudoctor as another user get their own copy: gpudoctor
really installed with pip (not editable) into a world-readable folder, beside a copy of its
installed dependencies, run by an interpreter every user may execute.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.parallel import remove_at_session_end, shared_once

REPO = Path(__file__).resolve().parents[2]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def world_usable(path: str) -> bool:
    """True when any user may reach and run `path` (every folder above it searchable)."""
    real = os.path.realpath(path)
    if not os.path.exists(real) or not os.stat(real).st_mode & 0o001:
        return False
    folder = os.path.dirname(real)
    while True:
        if not os.stat(folder).st_mode & 0o001:
            return False
        if folder == "/":
            return True
        folder = os.path.dirname(folder)


def interpreter() -> str:
    """This Python if every user may run it, else the system's python3 of the same version."""
    own = os.path.realpath(sys.executable)
    if world_usable(own):
        return own
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if world_usable(candidate):
            return candidate
    raise RuntimeError(f"no {version} that an unprivileged user may run: the tests that run "
                       "gpudoctor as `nobody` need one (Debian package python3)")


@contextlib.contextmanager
def shared_folder(prefix: str, mode: int) -> Iterator[Path]:
    """A temporary folder another user may enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(mode)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Unprivileged:
    python: str
    site: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "NO_COLOR": "1", "PYTHONPATH": str(self.site), "PYTHONNOUSERSITE": "1",
               "PYTHONDONTWRITEBYTECODE": "1"}
        env.update(extra)
        return env

    def argv(self, *args: str | os.PathLike) -> list[str]:
        """`nobody` running `python -m gpudoctor ARGS`."""
        return [*NOBODY, self.python, "-m", "gpudoctor", *map(str, args)]

    def python_argv(self, *args: str) -> list[str]:
        """`nobody` running this Python with arbitrary arguments (e.g. -c CODE)."""
        return [*NOBODY, self.python, *args]


def _copy_dependencies(target: Path) -> None:
    """The installed dependencies of this environment, without gpudoctor's editable hooks."""
    source = Path(sysconfig.get_paths()["purelib"])

    def ignore(folder: str, names: list[str]) -> set[str]:
        if Path(folder) != source:
            return {n for n in names if n == "__pycache__"}
        return {n for n in names if n.startswith(("__editable__", "gpudoctor", "_pytest",
                                                  "pytest", "pip", "setuptools", "ruff"))
                or n.endswith(".pth") or n == "__pycache__"}

    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)


def _install(base: Path) -> None:
    """gpudoctor and a copy of its dependencies in base/site, readable by every user."""
    site = base / "site"
    _copy_dependencies(site)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-compile", "--target", str(site),
                    "--upgrade", str(REPO)], check=True, timeout=300,
                   capture_output=True)
    for folder, _dirs, files in os.walk(base):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | 0o444)


@pytest.fixture(scope="session")
def unprivileged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Unprivileged]:
    """Installed once per session (xdist workers share it; removed when the session ends)."""
    def build(_folder: Path) -> str:
        base = Path(tempfile.mkdtemp(prefix="gpudoctor-nobody-", dir="/tmp"))
        remove_at_session_end(tmp_path_factory, base)
        _install(base)
        return str(base)

    base = Path(shared_once(tmp_path_factory, "unprivileged", build))
    yield Unprivileged(python=interpreter(), site=base / "site")
