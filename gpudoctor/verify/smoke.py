"""docker.smoke's budget: the opt-in check (checks/docker_smoke.py) runs a verification
with the report's arguments and says its result from its own sentence table."""

from __future__ import annotations

SMOKE_BUDGET_S = 100.0
