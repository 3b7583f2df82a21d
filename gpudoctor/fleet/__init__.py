"""`gpudoctor fleet`: one summary of many hosts' reports.

gpudoctor has no agent or transport of its own: Ansible, a cron job or a DaemonSet gathers
each host's `gpudoctor --json` into files (or JSON lines), and this package reads them
(reader.py), groups the failures by cause (summary.py) and prints them (render.py). The
machine-readable summary follows gpudoctor/schema/fleet.schema.json (`gpudoctor.fleet/1`).
"""

from __future__ import annotations

SCHEMA_ID = "gpudoctor.fleet/1"
