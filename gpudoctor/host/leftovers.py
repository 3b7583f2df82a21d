"""gpudoctor's private temporary folders, and removing those a killed run left behind.

An unpacked `--root ARCHIVE` (up to 512 MiB) or a planning scratch folder is removed when
gpudoctor ends, even on SIGTERM or SIGHUP (cli turns those into a clean exit). SIGKILL or a
power cut leaves them, so each folder's name carries the PID of the run that made it
(`gpudoctor-root-1234-XXXXXX`) and the next run removes those whose run is gone: only
folders, never links, and only this user's own.
"""

from __future__ import annotations

import os
import re
import shutil
import stat as stat_mod
import tempfile
from collections.abc import Callable

from gpudoctor.host.termination import hold


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID runs (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def sweep(prefix: str, folder: str | None = None) -> list[str]:
    """Remove `PREFIX<pid>-*` folders of this user whose process is no longer running."""
    base = folder or tempfile.gettempdir()
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[^/]+$")
    removed: list[str] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if not match or pid_alive(int(match.group(1))):
            continue
        path = os.path.join(base, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat_mod.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            removed.append(path)
    return removed


def private_temp_dir(prefix: str, remember: Callable[[str], object]) -> str:
    """A new 0700 folder `PREFIX<pid>-XXXXXX` in the temporary area, after sweeping leftovers.

    `remember(folder)` registers it for removal. A termination signal waits while the folder is
    made and remembered (host/termination.py): in between, it would unwind with the folder made
    but known to nobody, and leave it behind until the next run's sweep.
    """
    sweep(prefix)
    with hold():
        folder = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
        remember(folder)
    return folder
