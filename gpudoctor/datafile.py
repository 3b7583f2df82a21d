"""Reading the data tables gpudoctor ships inside its packages (ROCm support, CUDA, advisories).

importlib.resources would do it, but importing it pulls in tempfile, shutil (with bz2 and
lzma), random and zipfile, about 5 ms of every `gpudoctor --json` on the hosts that read a
table. The package's own loader reads the file just as well, from a folder or a zip archive.
"""

from __future__ import annotations

import importlib
import os


def read_text(package: str, name: str) -> str:
    """The text of `name`, a data file next to the modules of `package` (UTF-8)."""
    spec = importlib.import_module(package).__spec__
    if spec is None or spec.origin is None or spec.loader is None:
        raise FileNotFoundError(f"{package} is not a package with a folder: no {name} in it")
    path = os.path.join(os.path.dirname(spec.origin), name)
    get_data = getattr(spec.loader, "get_data", None)
    if get_data is None:
        raise FileNotFoundError(f"{package}'s loader cannot read {name}")
    return get_data(path).decode("utf-8")
