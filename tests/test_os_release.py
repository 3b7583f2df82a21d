"""os-release read as os-release(5) says: shell quoting, escapes, comments, broken lines."""

from __future__ import annotations

from gpudoctor.facts.system import parse_os_release


def test_quoting_and_escapes_as_a_shell_reads_them() -> None:
    text = ('NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 22.04.5 LTS"\nID=ubuntu\n'
            "ID_LIKE='rhel fedora'\nVARIANT=\"Server \\\"edge\\\"\"\n# COMMENT=1\n\n")
    assert parse_os_release(text) == {
        "NAME": "Ubuntu", "PRETTY_NAME": "Ubuntu 22.04.5 LTS", "ID": "ubuntu",
        "ID_LIKE": "rhel fedora", "VARIANT": 'Server "edge"'}


def test_a_broken_line_is_kept_as_written_and_others_still_read() -> None:
    assert parse_os_release('NAME="Debian\nID=debian\nnot a line\n') == {
        "NAME": "Debian", "ID": "debian"}
