"""The shell commands quoted in a remedy's prose, for `Result.commands` (report 1.1).

A remedy built from another module's sentence (a socket problem, a daemon's own hint) quotes
its commands in backticks; this picks out the spans that are commands a person runs, so the
views can print them whole on their own lines. Prose fragments in backticks (a JSON key, an
error message) are left out: a command starts with a program a shell runs.
"""

from __future__ import annotations

#: First words of the commands gpudoctor's remedies quote.
PROGRAMS = frozenset({
    "sudo", "docker", "systemctl", "journalctl", "nvidia-ctk", "nvidia-modprobe", "modprobe",
    "printf", "curl", "apt-get", "dnf", "zypper", "dpkg", "lspci", "dmesg", "ls", "udevadm",
    "usermod", "gpasswd", "newgrp", "python3", "dockerd", "snap", "update-initramfs", "reboot",
    "mokutil", "kill", "ln", "rm", "podman", "rocminfo", "nvidia-smi", "groups", "id",
})


def quoted_commands(text: str) -> tuple[str, ...]:
    """Each `backtick-quoted` span of `text` that is a command, in order, once each."""
    found: list[str] = []
    parts = text.split("`")
    for span in parts[1::2] if len(parts) > 2 else []:
        span = span.strip()
        first = span.split(" ", 1)[0] if span else ""
        if first in PROGRAMS and span not in found:
            found.append(span)
    return tuple(found)
