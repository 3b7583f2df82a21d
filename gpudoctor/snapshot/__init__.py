"""`gpudoctor snapshot`: capture what a diagnosis reads as a host-root archive (host-root.md).

Whoever helps with a GPU container problem needs the facts of the host, not a screenshot. The
diagnosis runs once against a `RecordingHost`, which passes every question on to the real host
(the live machine, or a root being re-captured) and writes down what was asked: files read,
folders listed, paths stat'ed or resolved, commands run, Docker Engine API paths, environment
variables. The archive then holds exactly that, so `gpudoctor --root ARCHIVE` elsewhere gives
the same diagnosis:

- files the checks read, with their content (sysfs and procfs attributes as plain files);
  files only stat'ed or seen in a listing are empty placeholders with the real mode and mtime
  (a 100 MB dockerd binary adds nothing when only its existence and age matter);
- every symbolic link on the way to every path, kept as a link (targets made relative, which
  under chroot semantics is the same link), so a root resolves paths as the host did;
- listed folders with all their entries; device nodes as empty files plus `device_nodes`;
- `.gpudoctor/host.json` with the user, processes, the daemon's answers, command output, and
  what could not be captured (`unreadable`, `omitted`), nothing over 4 MiB.

Redaction (on unless `--no-redact`) replaces the machine's hostnames, serial numbers, GPU UUIDs,
credentials in URLs and environment values before anything is written, and lists what kind of
value it replaced where (never the value) in host.json `redacted`. Identifiers are replaced
consistently (the same UUID gets the same stand-in everywhere, a `unique_id` keeps its number
format) so that checks matching them across files still reach the same verdict.
"""

from __future__ import annotations

from gpudoctor.host.recording import RecordingHost
from gpudoctor.snapshot.capture import (
    Snapshot,
    build_host_json,
    default_output,
    diagnose,
    take_snapshot,
    write_archive,
)
from gpudoctor.snapshot.limits import (
    HOST_JSON,
    KEPT_ENV,
    MAX_FILE,
    MAX_LINKS,
    MAX_LISTING,
    MAX_MEMBERS,
    MAX_TOTAL,
)
from gpudoctor.snapshot.redact import (
    DMI_SERIALS,
    GENERIC_HOSTNAMES,
    HOSTNAME_EXEMPT,
    MIN_UNIQUE_ID,
    NOT_SERIALS,
    REDACTED,
    REDACTED_HOSTNAME,
    SERIAL_FILES,
    STAND_IN_UUID,
    Redactor,
)
from gpudoctor.snapshot.tree import Member, Tree, relative_target

__all__ = [
    "DMI_SERIALS",
    "GENERIC_HOSTNAMES",
    "HOSTNAME_EXEMPT",
    "HOST_JSON",
    "KEPT_ENV",
    "MAX_FILE",
    "MAX_LINKS",
    "MAX_LISTING",
    "MAX_MEMBERS",
    "MAX_TOTAL",
    "MIN_UNIQUE_ID",
    "NOT_SERIALS",
    "REDACTED",
    "REDACTED_HOSTNAME",
    "SERIAL_FILES",
    "STAND_IN_UUID",
    "Member",
    "RecordingHost",
    "Redactor",
    "Snapshot",
    "Tree",
    "build_host_json",
    "default_output",
    "diagnose",
    "relative_target",
    "take_snapshot",
    "write_archive",
]
