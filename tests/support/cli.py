"""Running gpudoctor the way a person does: as a real process, reading stdout/stderr/exit code.

Every JSON document gpudoctor prints in a test goes through `validate_report`, so the shipped
schema is checked against every report the tests produce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def run_gpudoctor(*args: str | os.PathLike, env: dict[str, str] | None = None,
                  input: str | None = None, timeout: float = 120,
                  cwd: str | os.PathLike | None = None) -> Run:
    """`python -m gpudoctor ARGS` in a subprocess with NO_COLOR, captured."""
    full_env = dict(os.environ)
    full_env.pop("GPUDOCTOR_DEBUG", None)
    full_env["NO_COLOR"] = "1"
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-m", "gpudoctor", *map(str, args)],
                          capture_output=True, text=True, env=full_env, input=input,
                          timeout=timeout, cwd=cwd, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return Run(proc.returncode, proc.stdout, proc.stderr)


@cache
def report_schema() -> dict[str, Any]:
    text = resources.files("gpudoctor.schema").joinpath("report.schema.json").read_text()
    return json.loads(text)


def validate_report(doc: Any) -> Any:
    """Assert a report matches the shipped JSON Schema; returns it for chaining."""
    jsonschema.validate(doc, report_schema())
    return doc


def report_for(root: str | os.PathLike, *extra: str, env: dict[str, str] | None = None,
               expect_rc: int | None = None) -> dict[str, Any]:
    """`gpudoctor --json --root ROOT`, schema-validated."""
    run = run_gpudoctor("--json", "--root", root, *extra, env=env)
    if expect_rc is not None:
        assert run.returncode == expect_rc, (run.returncode, run.stderr, run.stdout[-2000:])
    assert run.returncode in (0, 1), (run.returncode, run.stderr)
    return validate_report(run.json)


def check_of(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    for check in report["checks"]:
        if check["id"] == check_id:
            return check
    raise AssertionError(f"no check {check_id} in report: {[c['id'] for c in report['checks']]}")
