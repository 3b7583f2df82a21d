"""Results: items, the verification's result, its JSON schema and its one-line summaries."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING, __version__
from gpudoctor.record import field, record
from gpudoctor.verify.causes import Cause
from gpudoctor.verify.constants import SCHEMA_ID
from gpudoctor.verify.expect import Expectations

if TYPE_CHECKING:
    from typing import Any


@record
class Item:
    """One thing verified: the container started, a device opened as some user, ..."""

    id: str
    status: str  # pass, warn, fail, skip
    summary: str
    target: str | None = None
    user: str | None = None
    evidence: list[str] = field(default_factory=list)
    cause: Cause | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "summary": self.summary,
                "target": self.target, "user": self.user, "evidence": list(self.evidence),
                "cause": self.cause.id if self.cause else None}


@record
class VerifyResult:
    verdict: str = "error"  # pass, warn, fail, error
    summary: str = ""
    method: str = "docker"
    #: the engine that ran the container: docker or podman
    engine: str = "docker"
    endpoint: str = ""
    image: str | None = None
    image_source: str | None = None
    args: list[str] = field(default_factory=list)
    args_source: str = "report"
    dropped: list[str] = field(default_factory=list)
    container: str | None = None
    removed: bool | None = None
    commands: list[list[str]] = field(default_factory=list)
    compose: dict[str, Any] | None = None
    expected: Expectations | None = None
    items: list[Item] = field(default_factory=list)
    cause: Cause | None = None
    error: str | None = None
    #: Set when the verification stopped before the container (no daemon, no image...).
    decided: bool = False

    @property
    def exit_code(self) -> int:
        """0 pass/warn; 1 fail; 2 when it could not run for want of --pull or --image."""
        if self.verdict in ("pass", "warn"):
            return 0
        if self.verdict == "error" and self.cause is not None and \
                self.cause.id == "image-not-present":
            return 2
        return 1

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID, "gpudoctor_version": __version__, "verdict": self.verdict,
            "summary": self.summary, "method": self.method, "engine": self.engine,
            "endpoint": self.endpoint,
            "image": self.image, "image_source": self.image_source, "args": list(self.args),
            "args_source": self.args_source, "dropped_args": list(self.dropped),
            "container": self.container, "removed": self.removed,
            "commands": [list(c) for c in self.commands], "compose": self.compose,
            "expected": self.expected.to_json() if self.expected else None,
            "items": [i.to_json() for i in self.items],
            "cause": self.cause.to_json() if self.cause else None, "error": self.error,
        }

    def finish(self) -> VerifyResult:
        """Decide the verdict and summary from the items (unless decided before any ran)."""
        if self.decided:
            return self
        failing = [i for i in self.items if i.status == "fail"]
        warning = [i for i in self.items if i.status == "warn"]
        if failing:
            self.verdict = "fail"
            first = failing[0]
            self.cause = self.cause or first.cause
            self.summary = self.cause.summary if self.cause else first.summary
        elif warning:
            self.verdict = "warn"
            self.summary = warning[0].summary
            self.cause = self.cause or warning[0].cause
        else:
            self.verdict = "pass"
            self.summary = _pass_summary(self)
        return self


def _pass_summary(result: VerifyResult) -> str:
    users = " and ".join(result.expected.users) if result.expected else "root"
    parts = []
    devices = [i.target for i in result.items if i.id == "device" and i.user == "root"]
    if devices:
        parts.append(f"opened {', '.join(str(d) for d in devices)} read-write as {users}")
    smi = [i for i in result.items if i.id == "nvidia-smi" and i.status == "pass"]
    if smi:
        parts.append(smi[0].summary.rsplit(" as ", 1)[0] + " as " +
                     " and ".join(str(i.user) for i in smi))
    what = "; ".join(parts) if parts else "it ran"
    return f"a container with these arguments started and {what}"


#: The JSON Schema of `gpudoctor verify --json` (a stable, small document for scripts).
VERIFY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gpudoctor verify --json, schema gpudoctor.verify/1",
    "type": "object",
    "required": ["schema", "gpudoctor_version", "verdict", "summary", "method", "endpoint",
                 "image", "args", "args_source", "container", "removed", "items", "cause",
                 "error"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "gpudoctor_version": {"type": "string"},
        "verdict": {"enum": ["pass", "warn", "fail", "error"]},
        "summary": {"type": "string", "minLength": 1},
        "method": {"enum": ["docker", "compose"]},
        "engine": {"enum": ["docker", "podman"]},
        "endpoint": {"type": "string"},
        "image": {"type": ["string", "null"]},
        "image_source": {"enum": ["requested", "present", "pulled", None]},
        "args": {"type": "array", "items": {"type": "string"}},
        "args_source": {"enum": ["report", "command line"]},
        "dropped_args": {"type": "array", "items": {"type": "string"}},
        "container": {"type": ["string", "null"]},
        "removed": {"type": ["boolean", "null"]},
        "commands": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "compose": {"type": ["object", "null"],
                    "required": ["command", "file"],
                    "properties": {"command": {"type": "array", "items": {"type": "string"}},
                                   "version": {"type": ["string", "null"]},
                                   "file": {"type": "string"}}},
        "expected": {"type": ["object", "null"]},
        "items": {"type": "array", "items": {
            "type": "object", "required": ["id", "status", "summary", "target", "user",
                                           "evidence", "cause"],
            "properties": {
                "id": {"enum": ["start", "runtime", "probe", "device", "groups", "rocm",
                                "integrated", "nvidia-smi", "gpu-request", "cleanup"]},
                "status": {"enum": ["pass", "warn", "fail", "skip"]},
                "summary": {"type": "string", "minLength": 1},
                "target": {"type": ["string", "null"]},
                "user": {"type": ["string", "null"]},
                "evidence": {"type": "array", "items": {"type": "string"}},
                "cause": {"type": ["string", "null"]}}}},
        "cause": {"type": ["object", "null"],
                  "required": ["id", "summary", "details", "remedy", "checks", "fixes"],
                  "properties": {"id": {"type": "string"}, "summary": {"type": "string"},
                                 "details": {"type": "string"}, "remedy": {"type": "string"},
                                 "checks": {"type": "array", "items": {"type": "string"}},
                                 "fixes": {"type": "array", "items": {"type": "string"}},
                                 "matched": {"type": "string"}}},
        "error": {"type": ["string", "null"]},
    },
}
