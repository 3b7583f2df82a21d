"""NVIDIA's part of `docker_run_args`: the way this host's Docker can hand over GPUs.

Order of preference:
1. `--gpus=all` where the daemon's NVIDIA `--gpus` driver works: the toolkit's hook was on
   dockerd's PATH when it started (Docker 29.2+ also registers it from `nvidia-cdi-hook` when
   CDI is on and a spec offers the GPUs).
2. `--device=nvidia.com/gpu=all` where CDI is the way: the daemon has CDI on and a current spec
   offers `nvidia.com/gpu=all`.
3. `--runtime=nvidia` with `NVIDIA_VISIBLE_DEVICES=all`, only where that runtime is loaded
   (the runtime injects GPUs named by that variable; images without it get none).
Where none of them works yet, `--gpus=all`: what works once the failing checks are fixed
(install the toolkit, restart Docker), which is the path the fixes take.

The toolkit's mode decides too: with `mode = "cdi"` (or "csv") in config.toml the hook refuses
`--gpus`, so CDI is the way; and where the legacy hook's `--gpus` containers would lose their
GPUs on `systemctl daemon-reload` (systemd cgroup driver, no /dev/char links: toolkit#48) while
CDI works, CDI comes first (facts/nvidia_layer.py).
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.record import record

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

CDI_ALL = "nvidia.com/gpu=all"
GPUS_ALL = ["--gpus=all"]
CDI_ARGS = [f"--device={CDI_ALL}"]
RUNTIME_ARGS = ["--runtime=nvidia", "--env=NVIDIA_VISIBLE_DEVICES=all"]


@record
class NvidiaWays:
    """Which of Docker's three ways to give NVIDIA GPUs work on this host, and why."""

    gpus_driver: bool | None
    cdi: bool
    runtime: bool
    reasons: list[str]
    #: Docker 29.2+ serves `--gpus` through CDI (nvidia-cdi-hook), not the legacy hook
    gpus_via_cdi: bool = False
    #: CDI works and is safer than `--gpus` here (see the module docstring)
    prefer_cdi: bool = False
    #: config.toml's mode makes the hook refuse `--gpus`
    hook_refused: bool = False

    @property
    def args(self) -> list[str]:
        if self.cdi and self.prefer_cdi:
            return list(CDI_ARGS)
        if self.gpus_driver:
            return list(GPUS_ALL)
        if self.cdi:
            return list(CDI_ARGS)
        if self.runtime:
            return list(RUNTIME_ARGS)
        return list(CDI_ARGS if self.hook_refused else GPUS_ALL)


def nvidia_ways(facts: Facts) -> NvidiaWays:
    """Decide from the daemon, the toolkit's hook and CDI (computed once per run)."""
    return facts.memo("nvidia.ways", lambda: _decide(facts))


def _decide(facts: Facts) -> NvidiaWays:
    from gpudoctor.facts.toolkit import daemon_hook_for

    daemon = facts.docker
    reasons: list[str] = []
    hook = daemon_hook_for(facts)
    cdi = facts.cdi
    cdi_ready = bool(cdi.enabled) and cdi.offers(CDI_ALL)
    gpus_driver = hook.registered
    if gpus_driver:
        reasons.append(f"dockerd found {hook.hook} on its PATH when it started: `--gpus` works")
    elif gpus_driver is False:
        if hook.hook is None:
            reasons.append("nvidia-container-runtime-hook is not on dockerd's PATH: `--gpus` "
                           "fails with `could not select device driver`")
        else:
            reasons.append(f"{hook.hook} appeared after dockerd started: `--gpus` fails until "
                           "Docker restarts")
    gpus_via_cdi = False
    if gpus_driver is not True and hook.cdi_hook and cdi_ready and daemon.at_least(29, 2):
        gpus_driver, gpus_via_cdi = True, True
        reasons.append(f"Docker {daemon.server_version} maps `--gpus` to CDI through "
                       f"{hook.cdi_hook}")
    mode = facts.toolkit.config.mode
    hook_refused = mode in ("cdi", "csv") and not gpus_via_cdi
    if gpus_driver and hook_refused:
        gpus_driver = False
        reasons.append(f"{facts.toolkit.config.path} sets mode = \"{mode}\": the hook refuses "
                       "`--gpus` (`invoking the NVIDIA Container Runtime Hook directly ... is "
                       "not supported`)")
    if cdi_ready:
        reasons.append(f"CDI is on and a spec offers {CDI_ALL}")
    runtime = daemon.reachable and "nvidia" in daemon.runtimes
    if runtime:
        reasons.append("the daemon has loaded the `nvidia` runtime")
    prefer_cdi = False
    if cdi_ready and gpus_driver and not gpus_via_cdi:
        from gpudoctor.facts.nvidia_layer import dev_char_links, legacy_paths

        systemd = daemon.reachable and daemon.info.get("CgroupDriver") == "systemd"
        if systemd and legacy_paths(facts, gpus_driver, gpus_via_cdi, False) and any(
                not link.present for link in dev_char_links(facts)):
            prefer_cdi = True
            reasons.append("`--gpus` containers would lose their GPUs on `systemctl "
                           "daemon-reload` (systemd cgroup driver, legacy hook, no /dev/char "
                           "links) and CDI works: CDI first")
    return NvidiaWays(gpus_driver=gpus_driver, cdi=cdi_ready, runtime=runtime, reasons=reasons,
                      gpus_via_cdi=gpus_via_cdi, prefer_cdi=prefer_cdi,
                      hook_refused=hook_refused)


def nvidia_gpu_args(facts: Facts) -> list[str]:
    """The `docker run` arguments that give the container every NVIDIA GPU on this host."""
    return nvidia_ways(facts).args
