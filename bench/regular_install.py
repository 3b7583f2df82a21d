"""A regular (non-editable) install of this checkout, as users have gpudoctor, for benchmarks.

The development venv installs gpudoctor editable: every interpreter start there imports the
editable-install finder from a .pth file (about 18 ms on the development VM), even for a bare
`python -c pass`. Comparing gpudoctor with that baseline flatters gpudoctor, and neither number
is what a user sees. This builds, in a folder of the caller's, a fresh venv holding gpudoctor
installed with pip from a built wheel (no .pth hook) and links to the dependencies installed
here (no network needed); both the baseline and gpudoctor are then timed with its python.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Installed here for development or tests only: a user's install has none of them.
NOT_RUNTIME = ("__editable__", "gpudoctor", "_pytest", "pytest", "pip", "setuptools", "ruff",
               "_distutils_hack")


def _site(python: str) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60)
    return Path(out.stdout.strip())


def _link_dependencies(target: Path) -> None:
    """The dependencies, as links to this environment's copies: a regular install's imports
    find them the same way, and linking takes a moment where copying 200 MB took seconds."""
    source = Path(sysconfig.get_paths()["purelib"])
    for entry in sorted(source.iterdir()):
        name = entry.name
        if name.startswith(NOT_RUNTIME) or name.endswith(".pth") or name == "__pycache__":
            continue
        link = target / name
        if not link.exists():
            link.symlink_to(entry, target_is_directory=entry.is_dir())


def is_editable(python: str) -> bool:
    """True when `python` imports gpudoctor through an editable-install hook."""
    site = _site(python)
    return any(p.name.startswith("__editable__") for p in site.glob("*.pth"))


def build(folder: Path) -> str:
    """Make folder/venv with gpudoctor installed regularly; return its python."""
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120, capture_output=True)
    python = str(venv / "bin" / "python")
    site = _site(python)
    _link_dependencies(site)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), "--upgrade", str(REPO)],
                   check=True, timeout=300, capture_output=True)
    if is_editable(python):  # never expected: pip --target installs a wheel
        raise RuntimeError(f"{venv} imports gpudoctor through an editable hook")
    return python
