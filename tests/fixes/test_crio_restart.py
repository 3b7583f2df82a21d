"""crio.restart: planned on a host root in process after the runtime's drop-in: the restart
through systemd (CRI-O reads its drop-ins only when it starts)."""

from __future__ import annotations

from pathlib import Path

from tests.support import engine_roots as er
from tests.support.fix_plan import plan_text


def test_crio_restart_is_planned_after_the_dropin(tmp_path: Path) -> None:
    out = plan_text(er.k8s_crio(tmp_path / "root"), "crio.configure_nvidia_runtime",
                    "crio.restart")
    assert out.index("crio.configure_nvidia_runtime") < out.index("crio.restart")
    assert "systemctl restart crio" in out
