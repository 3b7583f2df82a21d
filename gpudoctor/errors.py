"""Error types that map to the exit codes of report.md.

UserError is anything the person typed or pointed at that cannot be used (exit 2);
everything else that escapes is gpudoctor itself breaking (exit 3).
"""

from __future__ import annotations


class GpudoctorError(Exception):
    """Base class for errors gpudoctor reports in one line."""

    exit_code = 3


class UserError(GpudoctorError):
    """The command line was wrong or a root/snapshot could not be read (exit 2)."""

    exit_code = 2


class HostError(GpudoctorError):
    """A host path or fact could not be read; checks turn this into skip/error results."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DockerUnavailable(GpudoctorError):
    """The Docker Engine API could not be asked (no daemon, no permission, timeout)."""
