"""`gpudoctor devices`: every GPU found, and the exact arguments that give containers the
selected ones, as a `docker run` line and as a docker compose service fragment.

This is the field guide's manual work done for the person: lspci to spot the card, by-path to
find its render node, leave the iGPU out, add the render group by number, pass /dev/kfd.
"""

from __future__ import annotations

import argparse
import sys

from gpudoctor import TYPE_CHECKING
from gpudoctor.commands.common import make_doctor, print_json
from gpudoctor.facts.gpus import Gpu, Inventory
from gpudoctor.facts.runargs import compose_service, compose_text, docker_run_line
from gpudoctor.verdict import Verdict, verdict_of

if TYPE_CHECKING:
    from typing import Any

NAME_WIDTH = 44
SERVICE = "app"


def _kind(gpu: Gpu) -> str:
    if gpu.role != "compute":
        return f"{gpu.role}-only" if gpu.role == "display" else gpu.role
    return gpu.kind


def _render_cell(gpu: Gpu) -> str:
    if not gpu.render:
        return "-"
    if gpu.extra_renders:
        return f"{gpu.render} (+{len(gpu.extra_renders)} partitions)"
    return gpu.render


def _name_cell(gpu: Gpu) -> str:
    name = gpu.name or f"(unnamed {gpu.ids})"
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 3] + "..."


def gpu_table(inv: Inventory) -> list[str]:
    """The GPUs as aligned text rows, header first."""
    header = ("PCI", "VENDOR", "NAME", "KIND", "DRIVER", "CARD", "RENDER", "SELECTED")
    rows = [header]
    for gpu in inv.gpus:
        chosen = ("yes" if gpu.selected else "no") + f": {gpu.selection_reason}"
        rows.append((gpu.pci, gpu.vendor, _name_cell(gpu), _kind(gpu), gpu.driver or "-",
                     gpu.card or "-", _render_cell(gpu), chosen))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]
            for row in rows]


def why_empty(inv: Inventory) -> str:
    """One line on why no argument can be given."""
    if not [g for g in inv.gpus if g.vendor != "other"]:
        return "no AMD, NVIDIA or Intel GPU was found on the PCI bus"
    if not inv.selected:
        return "no GPU is selected (choose one with --gpu PCI or add --include-integrated)"
    return ("the selected GPUs have no usable driver or device files yet; `gpudoctor check` "
            "says why")


def devices_document(inv: Inventory, run_args: list[str], meta: dict[str, Any],
                     verdict: Verdict | None = None) -> dict:
    """The --json output: the same data as the text, for scripts."""
    return {
        "host": meta,
        "ready": verdict.ready if verdict else bool(run_args),
        "blocking": list(verdict.blocking) if verdict else [],
        "gpus": [g.to_report() for g in inv.gpus],
        "docker_run_args": run_args,
        "docker_run": docker_run_line(run_args) if run_args else None,
        "compose": {
            "service": compose_service(run_args),
            "text": compose_text(run_args, SERVICE) if run_args else None,
        },
        "problems": list(inv.problems),
        "empty_reason": None if run_args else why_empty(inv),
    }


def run(args: argparse.Namespace) -> int:
    doctor = make_doctor(args)
    facts = doctor.fresh_facts()
    inv = facts.gpus  # a --gpu that names no GPU raises UserError: one line, exit 2
    # The checks decide whether the arguments work yet (report.md 1.1 `ready`).
    doctor.run()
    facts = doctor.facts or facts
    inv = facts.gpus
    run_args = list(facts.docker_run_args)
    verdict = verdict_of(doctor.report())
    code = 0 if verdict.ready else 1
    if args.json:
        print_json(devices_document(inv, run_args, doctor.host.meta(), verdict))
        return code
    out = sys.stdout
    out.write(f"GPUs on {doctor.host.describe()}:\n")
    if inv.gpus:
        for line in gpu_table(inv):
            out.write(f"  {line.rstrip()}\n")
    else:
        out.write("  none\n")
    for problem in inv.problems:
        out.write(f"  note: {problem}\n")
    out.write("\n")
    if not run_args:
        out.write(f"No docker run arguments: {why_empty(inv)}.\n")
        if verdict.blocking:
            out.write(f"Blocked by: {', '.join(verdict.blocking)} (`gpudoctor check` says why).\n")
        return 1
    out.write("docker run arguments for the selected GPUs:\n")
    out.write(f"  {docker_run_line(run_args)}\n")
    if not verdict.ready:
        out.write(f"  {verdict.works_once()} `gpudoctor check` says why.\n")
        if verdict.next_command:
            out.write(f"  Next step:\n    {verdict.next_command}\n")
    out.write("\n")
    out.write("docker compose service fragment:\n")
    for line in compose_text(run_args, SERVICE).splitlines():
        out.write(f"  {line}\n")
    if any(a.startswith("--group-add=") for a in run_args):
        out.write("\nThe --group-add GIDs (group_add) matter only for a non-root user in the "
                  "container; they are numbers because images name their groups differently.\n")
    return code
