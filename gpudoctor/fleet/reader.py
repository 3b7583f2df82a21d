"""Reading many reports: files, folders of *.json, or JSON lines on stdin.

A fleet always has a few hosts whose report is broken (a run cut off, a disk full, a host
that answered with an error page). They must not stop the summary: each one becomes an
`Unreadable` entry with the reason, and the others are read as usual. Only a path that does
not exist at all is a usage error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import UserError
from gpudoctor.record import record

if TYPE_CHECKING:
    from typing import IO, Any

REPORT_SCHEMA = "gpudoctor.report/1"
FIX_SCHEMA = "gpudoctor.fix/1"
MAX_BYTES = 64 * 1024 * 1024


@record
class Loaded:
    """One host's report and where it came from."""

    host: str
    source: str
    report: dict[str, Any]


@record
class Unreadable:
    host: str
    source: str
    reason: str


def host_name(report: dict[str, Any], fallback: str) -> str:
    """A report in a stream is named by its `host.hostname` (report 1.1), else `fallback`.

    A file holding one report is named by the file instead (`gpu-07.json` is `gpu-07`): the
    gatherer chose that name (the Ansible playbook uses the inventory name), and it is the name
    `--hosts` lists, while the machine's own hostname may differ or be redacted."""
    host = report.get("host")
    name = host.get("hostname") if isinstance(host, dict) else None
    return str(name) if name else fallback


def check_report(doc: Any) -> tuple[dict[str, Any] | None, str]:
    """(the report, "") or (None, why it cannot be used). A `fix --json` document's own
    report is used, so the output of `gpudoctor fix --yes --json` can be gathered too."""
    if not isinstance(doc, dict):
        return None, f"a JSON {type(doc).__name__}, not a report object"
    if doc.get("schema") == FIX_SCHEMA and isinstance(doc.get("report"), dict):
        doc = doc["report"]
    schema = doc.get("schema")
    if schema != REPORT_SCHEMA:
        return None, (f"schema {schema!r}, not {REPORT_SCHEMA!r}" if schema else
                      "no `schema` key: not a gpudoctor --json report")
    if not isinstance(doc.get("checks"), list):
        return None, "no `checks` list"
    if any(not isinstance(c, dict) or not isinstance(c.get("id"), str) for c in doc["checks"]):
        return None, "a check without an id"
    return doc, ""


def _where(exc: json.JSONDecodeError) -> str:
    return f"not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"


def parse_text(text: str, source: str, stem: str) -> Iterator[Loaded | Unreadable]:
    """One JSON document (a cut-off one is one unreadable report), or several one after
    another (JSON lines, or `--json` documents concatenated)."""
    if not text.strip():
        yield Unreadable(stem, source, "empty")
        return
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as whole:
        first = next(line for line in text.splitlines() if line.strip())
        if whole.msg == "Extra data" or (first.lstrip().startswith("{") and _is_json(first)):
            yield from parse_stream(text, source, stem)
        else:
            yield Unreadable(stem, source, _where(whole))
        return
    report, why = check_report(doc)
    if report is None:
        yield Unreadable(stem, source, why)
    else:
        yield Loaded(stem, source, report)


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _guess_host(doc: Any, fallback: str) -> str:
    if isinstance(doc, dict):
        host = doc.get("host")
        if isinstance(host, dict) and host.get("hostname"):
            return str(host["hostname"])
        if isinstance(host, str):
            return host
    return fallback


def read_file(path: str) -> Iterator[Loaded | Unreadable]:
    name = os.path.basename(path)
    stem = name[:-5] if name.endswith(".json") else (
        name[:-6] if name.endswith(".jsonl") else name)
    try:
        with open(path, "rb") as handle:
            # Size first: read(MAX_BYTES + 1) would allocate the whole cap for every file.
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(MAX_BYTES + 1) if size > MAX_BYTES else handle.read()
    except OSError as exc:
        yield Unreadable(stem, path, f"cannot read: {exc.strerror or exc}")
        return
    if len(data) > MAX_BYTES:
        yield Unreadable(stem, path, f"larger than {MAX_BYTES} bytes: not a gpudoctor report")
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Unreadable(stem, path, f"not UTF-8 text (byte {exc.start})")
        return
    yield from parse_text(text, path, stem)


def parse_stream(text: str, source: str, stem: str) -> Iterator[Loaded | Unreadable]:
    """Reports one after another: JSON lines, or `gpudoctor --json` documents concatenated.

    After a document that does not parse, reading resumes at the next line that starts with
    `{` in its first column (where every report, pretty-printed or not, begins)."""
    decoder = json.JSONDecoder()
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in " \t\r\n":
            pos += 1
        if pos >= size:
            return
        line = text.count("\n", 0, pos) + 1
        name, where = f"{stem}:{line}", f"{source}:{line}"
        try:
            doc, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            bad_line = text.count("\n", 0, exc.pos) + 1
            col = exc.pos - (text.rfind("\n", 0, exc.pos) + 1) + 1
            yield Unreadable(name, where, f"not JSON (line {bad_line} column {col}: {exc.msg})")
            nxt = text.find("\n{", pos)
            pos = size if nxt < 0 else nxt + 1
            continue
        pos = end
        report, why = check_report(doc)
        if report is None:
            yield Unreadable(_guess_host(doc, name), where, why)
        else:
            yield Loaded(host_name(report, name), where, report)


def read_stream(stream: IO[str], source: str = "stdin") -> Iterator[Loaded | Unreadable]:
    return parse_stream(stream.read(), source, source)


def read_all(paths: list[str], stdin: IO[str]) -> Iterator[Loaded | Unreadable]:
    """Every report under `paths` (files, folders, "-" for stdin; stdin when empty)."""
    for path in paths or ["-"]:
        if path == "-":
            yield from read_stream(stdin)
        elif os.path.isdir(path):
            try:
                names = sorted(os.listdir(path))
            except OSError as exc:
                raise UserError(f"{path}: cannot list the folder: {exc.strerror}") from exc
            for name in names:
                full = os.path.join(path, name)
                if name.endswith((".json", ".jsonl")) and not name.startswith("."):
                    yield from read_file(full)
        elif os.path.exists(path):
            yield from read_file(path)
        else:
            raise UserError(f"{path}: no such file or folder")


def read_hosts(path: str) -> list[str]:
    """The hosts expected, one a line; blank lines and # comments are ignored."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--hosts {path}: cannot read it: {exc}") from exc
    hosts = [line.split("#", 1)[0].strip() for line in lines]
    return list(dict.fromkeys(h for h in hosts if h))
