"""Finding credentials in what a snapshot captures, whatever the file's format.

Secrets hide under many key names: `splunk-token` in daemon.json's log-opts, `Authorization`
in ~/.docker/config.json's HttpHeaders, `db_password`, `client-secret`, AWS_SECRET_ACCESS_KEY
in an environment. So a key is a secret's when one of the key WORDS appears ANYWHERE in its
name (after `-`, `_`, `.` or in the middle of camelCase alike), and that holds for JSON
(`"key": "v"`), TOML (`key = "v"`), YAML (`key: v`), env files and command lines (`KEY=v`).
Only scalar values are replaced: `"authorization-plugins": [...]` keeps its list, and an
object under `auths` is walked into, so the `auth` inside it is what gets replaced.

A snapshot keeps nothing of ~/.docker/config.json but the one field gpudoctor reads from it
(`currentContext`): registry logins, credential helpers and HTTP headers never leave the host.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

REDACTED = "REDACTED"

#: Words that make a key name a secret's, wherever they appear in it. `key` alone is not one
#: (`tlskey`, `key_file` name files): only the kinds of key that are themselves secrets.
SECRET_WORDS = (
    r"token|secret|passw(?:or)?d|passphrase|auth|credential|cookie|session"
    r"|api[_.-]?key|access[_.-]?key|private[_.-]?key|signing[_.-]?key|encryption[_.-]?key"
    r"|master[_.-]?key|account[_.-]?key|client[_.-]?secret"
)
_KEY_RE = re.compile(rf"(?i)(?:{SECRET_WORDS})")

#: `KEY: value`, `"KEY": "value"`, `KEY = 'value'`, `KEY=value`: group 1 is everything up to the
#: value, group 3 the value (a quoted string, or the rest of the line up to `,`, `}` or `]`).
_FIELD_RE = re.compile(
    rf"""(?imx)
    ( (?<![\w.-]) (["']?) [\w.-]*? (?:{SECRET_WORDS}) [\w.-]* \2
      [ \t]* (?: = | :(?=[ \t"']) ) [ \t]* )   # `:` only before a space or a quote, so that
                                               # `libsecret-1-0:amd64` is no key and value
    ( "(?:[^"\\\r\n]|\\.)*"        # a double-quoted value (JSON, TOML, YAML)
    | '[^'\r\n]*'                  # a single-quoted one
    | (?![{{\[\s"'])[^\r\n,}}\]]+  # a bare one: to the end of the line (env, YAML, a header)
    )""")

_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?-----END \1-----", re.DOTALL)


def is_secret_key(name: str) -> bool:
    """True when a key name says its value is a credential (see SECRET_WORDS)."""
    return bool(_KEY_RE.search(name))


def _replace_value(value: str) -> str | None:
    """The redacted form of one matched value, or None when there is nothing to hide."""
    bare = value.strip()
    quote = bare[:1] if bare[:1] in ("'", '"') else ""
    inner = bare[1:-1] if quote else bare
    if not inner.strip() or inner == REDACTED:
        return None
    if inner.lower() in ("null", "none", "true", "false", "~"):
        return None  # not a secret, and changing it would change what the file means
    trailing = value[len(value.rstrip()):]
    return f"{quote}{REDACTED}{quote}{trailing}"


def redact_fields(text: str, hit: Callable[[], object]) -> str:
    """Replace every secret-looking key's value in a text; `hit()` is called per replacement."""

    def field(match: re.Match[str]) -> str:
        new = _replace_value(match.group(3))
        if new is None:
            return match.group(0)
        hit()
        return match.group(1) + new

    def pem(match: re.Match[str]) -> str:
        hit()
        return f"-----BEGIN {match.group(1)}-----\n{REDACTED}\n-----END {match.group(1)}-----"

    if "-----BEGIN" in text:
        text = _PEM_RE.sub(pem, text)
    return _FIELD_RE.sub(field, text)


def redact_json_value(key: str, value: Any) -> tuple[bool, Any]:
    """(True, REDACTED) when `value` under `key` is a credential to hide, else (False, value)."""
    if not is_secret_key(key) or isinstance(value, bool) or value is None:
        return False, value
    if isinstance(value, (int, float)):
        return True, REDACTED
    if isinstance(value, str) and value.strip() and value != REDACTED:
        return True, REDACTED
    return False, value


# ----- ~/.docker/config.json ----------------------------------------------------------------------
#: The fields of the docker CLI's config.json that gpudoctor reads (facts/docker.py).
CLIENT_CONFIG_FIELDS = ("currentContext",)


def is_docker_client_config(path: str, docker_config: str | None = None) -> bool:
    """The docker CLI's config.json: in a `.docker` folder, or in $DOCKER_CONFIG."""
    folder, name = posixpath.split(path)
    if name != "config.json":
        return False
    if docker_config and posixpath.normpath(docker_config) == posixpath.normpath(folder):
        return True
    return posixpath.basename(folder) == ".docker"


def reduce_docker_client_config(data: bytes) -> bytes:
    """Only the fields gpudoctor reads; `{}` for a file that is not a JSON object."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    kept: dict[str, Any] = {}
    if isinstance(doc, dict):
        kept = {k: doc[k] for k in CLIENT_CONFIG_FIELDS
                if k in doc and isinstance(doc[k], str)}
    return (json.dumps(kept, indent=1) + "\n").encode("utf-8")
