"""Version strings: the leading numbers as a tuple, and dpkg's own ordering.

Every "is this at least 1.18" question in facts and checks goes through version_tuple; the
install fix's "which bundle version is newer" goes through debian_version, python-debian's
implementation of dpkg's ordering (epochs, `~` before anything, letters before digits), which
a natural sort only approximates. python-debian is imported lazily: only fixes compare.
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from debian.debian_support import Version

_LEADING = re.compile(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


def version_tuple(version: str | None) -> tuple[int, int, int] | None:
    """"20.10.24+dfsg1" -> (20, 10, 24), "v1.17" -> (1, 17, 0); None without a version."""
    match = _LEADING.match(str(version)) if version else None
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def debian_version(version: str) -> Version:
    """A version object that compares exactly as `dpkg --compare-versions` does."""
    from debian.debian_support import Version

    return Version(version)
