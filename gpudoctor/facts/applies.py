"""Why a check does not apply here: the preconditions checks ask from `applies()`.

Every check's applies() runs on every host, so these live in a module that imports nothing
(and they ask only facts every host computes anyway: the GPU inventory, WSL, /proc/modules).
A check that skips on this host then costs neither the import of its facts modules nor their
work: an AMD host never imports the NVIDIA driver or toolkit modules to learn it has no
NVIDIA GPU.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from gpudoctor.facts import Facts


def nvidia_skip_reason(facts: Facts) -> str | None:
    """Why NVIDIA container checks do not apply here (no NVIDIA GPU selected), or None."""
    if facts.gpus.by_vendor("nvidia"):
        return None
    if facts.wsl.version == 2 and facts.wsl.dxg:
        return None  # WSL2: the GPU comes through /dev/dxg, and the toolkit hands it over
    present = facts.gpus.by_vendor("nvidia", selected_only=False)
    if present:
        return (f"no NVIDIA GPU is selected ({', '.join(g.label for g in present)} "
                "left out); the NVIDIA container stack is not needed")
    return "no NVIDIA GPU on this host; the NVIDIA container stack is not needed"


def installed_toolkit_skip_reason(facts: Facts) -> str | None:
    """Why a check of the installed toolkit does not apply here (no NVIDIA stack needed, or no
    toolkit, which nvidia.toolkit reports), or None when it does."""
    skip = nvidia_skip_reason(facts)
    if skip:
        return skip
    if not facts.toolkit.installed:
        return "the toolkit is not installed (see nvidia.toolkit)"
    return None


def nvidia_module_loaded(facts: Facts) -> bool:
    """The nvidia kernel module is loaded (NvidiaDriver.loaded, without reading the driver)."""
    return "nvidia" in facts.modules


def not_an_nvidia_host(facts: Facts) -> str | None:
    """Why the NVIDIA driver checks do not apply here, or None when they do."""
    if facts.wsl.is_wsl:
        return "this is WSL: the Windows driver supplies the GPU (see nvidia.wsl)"
    if not facts.gpus.by_vendor("nvidia", selected_only=False) and not nvidia_module_loaded(
            facts):
        return "no NVIDIA GPU on the PCI bus and no nvidia module loaded"
    return None


def loaded_driver_skip_reason(facts: Facts) -> str | None:
    """Why a check of the loaded nvidia module does not apply here (not an NVIDIA host, or the
    module is not loaded, which kernel.driver reports), or None when it does."""
    reason = not_an_nvidia_host(facts)
    if reason:
        return reason
    if not nvidia_module_loaded(facts):
        return "the nvidia kernel module is not loaded (see kernel.driver)"
    return None
