"""The proof: start a short-lived container with the GPU arguments and look from inside it.

A doctor's green checks are a prediction; a container that opens its GPU devices is the proof.
This engine serves `gpudoctor verify` and the opt-in check `docker.smoke`:

1. the arguments: the report's `docker_run_args`, or the person's own `docker run` options;
2. an image: the one asked for, else a small one already present (never pulled unasked);
3. the container: `docker create` + `docker start` (or a generated compose file with
   `docker compose up -d`), on the daemon facts.docker found, through the person's docker CLI
   so that the daemon's errors are exactly the ones the person would see;
4. a POSIX sh probe run twice with `docker exec`: as root and as a non-root user that holds
   only the added groups, because root opens any device node and hides a missing group;
5. the container is always removed, on Ctrl-C and SIGTERM too;
6. any failure is mapped to its cause and the check or fix that addresses it (ERROR_RULES).

Everything that is run goes through `docker` (and compose) commands with timeouts, run by
gpudoctor.host.changes; the host itself is only read through facts.host.
"""

from __future__ import annotations

from gpudoctor.verify.args import (
    ALIASES,
    BOOL_FLAGS,
    COMPOSE_KEYS,
    DROPPED,
    SHORT_BOOL,
    SHORT_VALUE,
    DeviceArg,
    GpuRequest,
    Option,
    RunArgs,
    parse_device,
    parse_gpus,
    parse_run_args,
)
from gpudoctor.verify.causes import ERROR_RULES, Cause, ErrorRule, explain_error, map_error
from gpudoctor.verify.compose import compose_service, compose_text, to_yaml
from gpudoctor.verify.constants import (
    CONTAINER_LIFETIME_S,
    DEFAULT_PULL,
    DEFAULT_PULL_NVIDIA,
    GLIBC_FAMILIES,
    LABEL,
    NAME_PREFIX,
    NONROOT_USER,
    SCHEMA_ID,
    SMALL_FAMILIES,
    SMI_TIMEOUT_S,
    T_COMPOSE_UP,
    T_CREATE,
    T_EXEC,
    T_PULL,
    T_QUICK,
    T_REMOVE,
    T_START,
)
from gpudoctor.verify.dockercli import DockerCli, Interrupts, VerifyInterrupted, daemon_message
from gpudoctor.verify.expect import (
    Expectations,
    ExpectedDevice,
    ForbiddenNode,
    build_expectations,
    nonroot_user,
)
from gpudoctor.verify.judge import judge
from gpudoctor.verify.probe import PROBE, PROBE_MARK, DeviceSeen, ProbeOutput, parse_probe
from gpudoctor.verify.results import VERIFY_SCHEMA, Item, VerifyResult
from gpudoctor.verify.session import VerifyRequest, cli_environment, run_verification
from gpudoctor.verify.smoke import SMOKE_BUDGET_S

__all__ = [
    "ALIASES",
    "BOOL_FLAGS",
    "COMPOSE_KEYS",
    "CONTAINER_LIFETIME_S",
    "DEFAULT_PULL",
    "DEFAULT_PULL_NVIDIA",
    "DROPPED",
    "ERROR_RULES",
    "GLIBC_FAMILIES",
    "LABEL",
    "NAME_PREFIX",
    "NONROOT_USER",
    "PROBE",
    "PROBE_MARK",
    "SCHEMA_ID",
    "SHORT_BOOL",
    "SHORT_VALUE",
    "SMALL_FAMILIES",
    "SMI_TIMEOUT_S",
    "SMOKE_BUDGET_S",
    "T_COMPOSE_UP",
    "T_CREATE",
    "T_EXEC",
    "T_PULL",
    "T_QUICK",
    "T_REMOVE",
    "T_START",
    "VERIFY_SCHEMA",
    "Cause",
    "DeviceArg",
    "DeviceSeen",
    "DockerCli",
    "ErrorRule",
    "Expectations",
    "ExpectedDevice",
    "ForbiddenNode",
    "GpuRequest",
    "Interrupts",
    "Item",
    "Option",
    "ProbeOutput",
    "RunArgs",
    "VerifyInterrupted",
    "VerifyRequest",
    "VerifyResult",
    "build_expectations",
    "cli_environment",
    "compose_service",
    "compose_text",
    "daemon_message",
    "explain_error",
    "judge",
    "map_error",
    "nonroot_user",
    "parse_device",
    "parse_gpus",
    "parse_probe",
    "parse_run_args",
    "run_verification",
    "to_yaml",
]
