"""daemon.json: parsed with line and column on error, unknown keys and near-misses named."""

from __future__ import annotations

import json

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.facts.docker.names import KNOWN_KEYS, ConfigState
from gpudoctor.host.base import Host
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any


@record
class DaemonConfig:
    """A daemon.json as dockerd would parse it.

    state: "ok", "missing", "empty", "comments", "syntax", "not-object" or "unreadable".
    `data` is the parsed object when state is "ok". `notes` are things dockerd accepts or
    ignores but a person should know (duplicate keys, text after the object, likely typos).
    """

    path: str
    exists: bool = False
    text: str | None = None
    data: dict[str, Any] | None = None
    state: ConfigState = ConfigState.MISSING
    error: str | None = None
    line: int | None = None
    column: int | None = None
    duplicate_keys: list[str] = field(default_factory=list)
    #: what most likely caused a syntax error, e.g. "a trailing comma at line 7, column 6"
    cause: str | None = None
    #: unknown top-level key -> the known key it probably means
    typos: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    mtime: float | None = None
    #: the file's exact bytes (None when missing): fixes compare and keep these, since `text`
    #: shows bytes that are not UTF-8 as U+FFFD
    raw: bytes | None = None

    @property
    def exact_text(self) -> str | None:
        """The bytes as text that encodes back to exactly them (`surrogateescape`)."""
        return self.raw.decode("utf-8", "surrogateescape") if self.raw is not None else None

    @property
    def usable(self) -> bool:
        """True when dockerd (and gpudoctor's fixes) can read it: missing counts as `{}`."""
        return self.state in ("ok", "missing")

    @property
    def broken(self) -> bool:
        """True when dockerd refuses to start with this file."""
        return self.state in ("comments", "syntax", "not-object", "unreadable") or (
            self.state == "ok" and bool(self.typos))

    @property
    def values(self) -> dict[str, Any]:
        """The parsed keys ({} for a missing or broken file)."""
        return self.data or {}

    def describe_error(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{self.path}: {where}{self.error}"

    def edit_refusal(self, path: str) -> str | None:
        """Why a fix must leave this file (shown as `path`) alone, and where to correct it; None
        when it can be edited (missing and empty count as `{}`). The one rule every fix that
        edits daemon.json follows: never overwrite a file that cannot be read or parsed."""
        if self.state == "unreadable":
            return f"cannot read {path}: {self.error}"
        if self.state in ("ok", "missing", "empty"):
            return None
        if self.state == "not-object":
            where = "make its top level a JSON object (`{ ... }`)"
        elif self.line is not None:
            what = "comment" if self.state == "comments" else "syntax error"
            where = f"fix the {what} at line {self.line}, column {self.column} of {path}"
        else:
            where = f"fix {path}"
        return (f"{self.describe_error()}. gpudoctor never overwrites a file it cannot parse: "
                f"{where} (dockerd cannot read it either), then run this fix again")


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _similar_key(key: str) -> str | None:
    import difflib

    if key in KNOWN_KEYS:
        return None
    normal = key.replace("_", "-").lower()
    if normal in KNOWN_KEYS:
        return normal
    close = difflib.get_close_matches(normal, KNOWN_KEYS, n=1, cutoff=0.85)
    return close[0] if close else None


def parse_daemon_json(path: str, text: str | None) -> DaemonConfig:
    """Parse strictly like dockerd: one JSON object, no comments, no NaN, no trailing commas."""
    cfg = DaemonConfig(path=path, exists=text is not None, text=text)
    if text is None:
        cfg.state = ConfigState.MISSING
        return cfg
    if text.startswith("\ufeff"):
        text = text[1:]  # current dockerd strips a UTF-8 byte order mark
    if not text.strip():
        cfg.state, cfg.error = ConfigState.EMPTY, (
            "the file is empty (or only whitespace): Docker 20.10 and older refuse to start "
            f"with `unable to configure the Docker daemon with file {path}: EOF`; newer "
            "releases read it as {}")
        return cfg
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen and key not in duplicates:
                duplicates.append(key)
            seen[key] = value
        return seen

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    decoder = json.JSONDecoder(object_pairs_hook=pairs, parse_constant=no_constants)
    start = len(text) - len(text.lstrip())
    try:
        data, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        cfg.line, cfg.column = exc.lineno, exc.colno
        if text[exc.pos:].startswith(("//", "/*", "#")):
            cfg.state = ConfigState.COMMENTS
            cfg.error = (f"{exc.msg}: the file has a comment, which JSON (and dockerd) does not "
                         "allow; dockerd will not start with it")
            return cfg
        cfg.state = ConfigState.SYNTAX
        hint = ""
        before = text[: exc.pos].rstrip()
        if before.endswith(",") and text[exc.pos:exc.pos + 1] in ("}", "]"):
            line, col = _line_col(text, len(before) - 1)
            cfg.cause = f"a trailing comma at line {line}, column {col}"
            hint = f" ({cfg.cause}, before the closing `{text[exc.pos]}`)"
        cfg.error = f"{exc.msg}{hint}: dockerd will not start with this file"
        return cfg
    except ValueError as exc:
        cfg.state, cfg.error = ConfigState.SYNTAX, f"{exc}: dockerd will not start with this file"
        return cfg
    except RecursionError:
        cfg.state = ConfigState.SYNTAX
        cfg.error = ("its JSON is nested thousands of levels deep, which no daemon configuration "
                     "is; dockerd will not start with this file")
        return cfg
    if not isinstance(data, dict):
        cfg.state, cfg.error = ConfigState.NOT_OBJECT, (
            f"the top level is a JSON {type(data).__name__}, but dockerd needs an object "
            "(`{ ... }`): it will not start with this file")
        return cfg
    rest = text[end:]
    if rest.strip():
        offset = end + len(rest) - len(rest.lstrip())
        line, col = _line_col(text, offset)
        cfg.notes.append(
            f"text after the JSON object at line {line}, column {col}: Docker 20.10 ignores "
            "it, newer dockerd refuses the file (`invalid character ... after top-level value`)")
    cfg.state, cfg.data, cfg.duplicate_keys = ConfigState.OK, data, duplicates
    for key in duplicates:
        cfg.notes.append(f"`{key}` is set more than once; dockerd uses the last one")
    for key in data:
        similar = _similar_key(key)
        if similar:
            cfg.typos[key] = similar
    return cfg


def read_daemon_config(host: Host, path: str) -> DaemonConfig:
    """Read and parse one daemon.json through the host layer."""
    try:
        raw = None
        if host.exists(path) or host.is_link(path):
            raw = host.read_bytes(path, 1024 * 1024)
    except HostError as exc:
        return DaemonConfig(path=path, exists=True, state=ConfigState.UNREADABLE, error=exc.reason)
    text = raw.decode("utf-8", errors="replace") if raw is not None else None
    cfg = parse_daemon_json(path, text)
    cfg.raw = raw
    try:
        st = host.stat(path) if text is not None else None
    except HostError:
        st = None
    cfg.mtime = st.mtime if st else None
    return cfg
