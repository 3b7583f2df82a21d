"""Locate and install the NVIDIA stand-in executables used by the docker tests.

The stand-ins imitate documented behaviour of NVIDIA's tools (see the comment at the
top of each file) so tests can exercise dockerd's real GPU code paths without a GPU.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

STANDINS = ("nvidia-container-runtime-hook", "nvidia-smi", "nvidia-container-runtime")


def standin_dir() -> Path:
    """The folder holding the stand-in executables shipped with the tests."""
    return Path(__file__).resolve().parent / "standins"


def install_standins(dest: Path, names: Sequence[str]) -> None:
    """Copy chosen stand-ins into dest and make them executable.

    Tests build a PATH dir per daemon this way, so whether dockerd sees the hook at
    startup is decided per test. The hook needs nvidia-smi next to it to inject, so
    it is copied along when the hook is chosen.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted = list(names)
    if "nvidia-container-runtime-hook" in wanted and "nvidia-smi" not in wanted:
        wanted.append("nvidia-smi")
    src_dir = standin_dir()
    for name in wanted:
        src = src_dir / name
        if not src.is_file():
            raise FileNotFoundError(f"no stand-in named {name!r} in {src_dir}")
        target = dest / name
        tmp = dest / f".{name}.tmp"
        shutil.copyfile(src, tmp)
        tmp.chmod(0o755)
        tmp.replace(target)
