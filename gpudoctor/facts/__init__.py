"""Host facts shared by the checks, each computed once per run on first use.

Checks run concurrently; several need the same expensive fact (the GPU inventory, the Docker
daemon's state). A fact is computed by the first check that asks, under a per-fact lock, and the
others wait for it instead of repeating the work. A fact that raises is not cached, so each
asking check reports the error itself.

Waiting for a fact another thread is computing has a limit: the waiting thread's own deadline
(a check's timeout, set by the runner with `waiting_until`) or else `options.check_timeout`. A
check that timed out leaves its fact unfinished; whoever asks for it later gets FactTimeout
instead of waiting forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any, TypeVar

    from gpudoctor.facts.cdi import CdiState
    from gpudoctor.facts.docker import DockerDaemon
    from gpudoctor.facts.gpus import Inventory
    from gpudoctor.facts.pciids import PciIds
    from gpudoctor.facts.system import GroupDb, KernelModule
    from gpudoctor.facts.toolkit import ToolkitInfo
    from gpudoctor.host.base import Host, UserInfo

    T = TypeVar("T")


@record
class Options:
    """What the person asked for that changes the diagnosis."""

    gpus: list[str] = field(default_factory=list)  # PCI addresses selected explicitly
    include_integrated: bool = False
    smoke: bool = False
    image: str | None = None
    check_timeout: float = 20.0
    #: True when the person gave --timeout: it then applies to every check, even one that
    #: declares a longer timeout of its own
    timeout_given: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class FactTimeout(HostError):
    """A fact another thread is still computing did not finish before the caller's deadline."""

    def __init__(self, name: str, waited: float):
        super().__init__(f"fact {name}", f"still not known after waiting {waited:g} s (what it "
                                         "asks, a command, the Docker daemon or a file, is not "
                                         "answering)")
        self.name = name


_deadlines = threading.local()


if TYPE_CHECKING:
    # To type checkers a fact is what it behaves as: an attribute computed once, of the type
    # its function returns. (typing.Generic would cost every run the import of typing.)
    from functools import cached_property as fact
else:
    class fact:
        """A lazily computed, thread-safe, cached attribute of Facts."""

        def __init__(self, func):
            self.func = func
            self.name = func.__name__
            self.__doc__ = func.__doc__

        def __get__(self, obj, owner):
            if obj is None:
                return self
            return obj.memo(self.name, lambda: self.func(obj))


class _WaitingUntil:
    """The block of Facts.waiting_until (a class, not contextlib, which the report path
    would import for this alone)."""

    def __init__(self, deadline: float | None):
        self.deadline = deadline
        self.before: float | None = None

    def __enter__(self) -> None:
        self.before = getattr(_deadlines, "at", None)
        _deadlines.at = self.deadline

    def __exit__(self, *exc: object) -> None:
        _deadlines.at = self.before


class Facts:
    """Everything the checks know about one host, for one run."""

    def __init__(self, host: Host, options: Options | None = None):
        self.host = host
        self.options = options or Options()
        self._cache: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Compute a value once per run; third-party plugins may use their own keys.

        Raises FactTimeout when another thread computes it and the caller's deadline passes.
        """
        if key in self._cache:
            return self._cache[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        wait = self._wait_limit()
        if not lock.acquire(timeout=wait):
            raise FactTimeout(key, round(wait, 1))
        try:
            if key not in self._cache:
                self._cache[key] = compute()
            return self._cache[key]
        finally:
            lock.release()

    def _wait_limit(self) -> float:
        deadline = getattr(_deadlines, "at", None)
        if deadline is None:
            return max(float(self.options.check_timeout), 0.0)
        return max(deadline - time.monotonic(), 0.0)

    @staticmethod
    def waiting_until(deadline: float | None) -> _WaitingUntil:
        """Within the block, this thread waits for facts only until `deadline` (monotonic)."""
        return _WaitingUntil(deadline)

    # ----- system ------------------------------------------------------------------------------
    @fact
    def kernel_release(self) -> str | None:
        """`uname -r` of the host, from /proc/sys/kernel/osrelease."""
        return self.host.read_attr("/proc/sys/kernel/osrelease")

    @fact
    def os_name(self) -> str | None:
        """PRETTY_NAME from /etc/os-release."""
        from gpudoctor.facts.system import os_release

        return os_release(self.host).get("PRETTY_NAME")

    @fact
    def os_release(self) -> dict[str, str]:
        from gpudoctor.facts.system import os_release

        return os_release(self.host)

    @fact
    def modules(self) -> dict[str, KernelModule]:
        """Loaded kernel modules from /proc/modules, keyed by name."""
        from gpudoctor.facts.system import loaded_modules

        return loaded_modules(self.host)

    @fact
    def groups(self) -> GroupDb:
        from gpudoctor.facts.system import GroupDb

        return GroupDb.load(self.host)

    @fact
    def user(self) -> UserInfo | None:
        return self.host.user()

    @fact
    def driver_versions(self) -> dict[str, tuple[str, str]]:
        """Versions of the loaded nvidia / amdgpu modules (facts/system.py)."""
        from gpudoctor.facts.system import driver_versions

        return driver_versions(self.host, self.modules)

    @fact
    def secure_boot(self) -> bool | None:
        """True/False from the SecureBoot EFI variable; None when not an EFI boot."""
        from gpudoctor.facts.system import secure_boot_enabled

        return secure_boot_enabled(self.host)

    # ----- hardware ----------------------------------------------------------------------------
    @fact
    def gpus(self) -> Inventory:
        """Every GPU on the PCI bus, classified and selected (facts/gpus.py)."""
        from gpudoctor.facts.gpus import build_inventory

        return build_inventory(self.host, self.options, lambda: self.pci_names)

    @fact
    def pci_names(self) -> PciIds:
        """The pci.ids database the host uses (facts/pciids.py)."""
        from gpudoctor.facts.pciids import find_pci_ids

        return find_pci_ids(self.host)

    # ----- NVIDIA driver and platform (facts/nvidia_driver.py, facts/nvidia_platform.py) -------
    @fact
    def nvidia_driver(self) -> Any:
        """The loaded nvidia module, its params, and the user-space driver on disk."""
        from gpudoctor.facts.nvidia_driver import inspect_driver

        return inspect_driver(self)

    @fact
    def nvidia_uvm(self) -> Any:
        """nvidia_uvm loaded, /dev/nvidia-uvm, loaded at boot, loaded on demand (nvidia_uvm.py)."""
        from gpudoctor.facts.nvidia_uvm import inspect_uvm

        return inspect_uvm(self)

    @fact
    def wsl(self) -> Any:
        """WSL detection and what the Windows driver provides (/dev/dxg, /usr/lib/wsl/lib)."""
        from gpudoctor.facts.wsl import inspect_wsl

        return inspect_wsl(self)

    @fact
    def fabric_manager(self) -> Any:
        """NVSwitch devices, Fabric Manager's package, service and the fabric state."""
        from gpudoctor.facts.nvidia_platform import inspect_fabric

        return inspect_fabric(self)

    @fact
    def nvidia_smi_list(self) -> Any:
        """`nvidia-smi -L` (recorded as `nvidia-smi-L`)."""
        from gpudoctor.facts.nvidia_platform import nvidia_smi_list

        return nvidia_smi_list(self.host, wsl=bool(self.wsl.is_wsl))

    @fact
    def nvidia_kernel_log(self) -> Any:
        """The NVIDIA driver's messages in this boot's kernel log (facts/kernel_log.py's)."""
        from gpudoctor.facts.nvidia_platform import read_kernel_log

        return read_kernel_log(self)

    @fact
    def amd_targets(self) -> Any:
        """Selected AMD GPUs' gfx targets against ROCm's support table (facts/amd.py)."""
        from gpudoctor.facts.amd import judge_targets

        return judge_targets(self)

    @fact
    def amdgpu_driver(self) -> Any:
        """The loaded amdgpu and amdgpu-dkms builds against the running kernel (facts/amd.py)."""
        from gpudoctor.facts.amd import inspect_amdgpu_driver

        return inspect_amdgpu_driver(self)

    # ----- container stack ---------------------------------------------------------------------
    @fact
    def docker(self) -> DockerDaemon:
        """The Docker daemon the person's `docker` talks to, and the config it reads."""
        from gpudoctor.facts.docker import discover_daemon

        return discover_daemon(self.host)

    @fact
    def toolkit(self) -> ToolkitInfo:
        """nvidia-container-toolkit as installed on the host (facts/toolkit.py)."""
        from gpudoctor.facts.toolkit import inspect_toolkit

        return inspect_toolkit(self.host, self.docker)

    @fact
    def cdi(self) -> CdiState:
        """CDI spec files and what they offer (facts/cdi.py)."""
        from gpudoctor.facts.cdi import inspect_cdi

        return inspect_cdi(self.host, self)

    @fact
    def nvml_exposure(self) -> Any:
        """Whether GPU containers lose their GPUs on `systemctl daemon-reload`: the cgroup
        driver, legacy injection, /dev/char links, running containers (facts/nvidia_layer.py)."""
        from gpudoctor.facts.nvidia_layer import nvml_exposure

        return nvml_exposure(self)

    @fact
    def driver_cuda(self) -> Any:
        """The CUDA version the loaded NVIDIA driver supports (facts/nvidia_cuda.py)."""
        from gpudoctor.facts.nvidia_cuda import driver_cuda

        return driver_cuda(self)

    @fact
    def docker_run_args(self) -> list[str]:
        """The exact `docker run` arguments for the selected GPUs (facts/runargs.py)."""
        from gpudoctor.facts.runargs import compute_run_args

        return compute_run_args(self)

    # ----- engines beyond Docker (facts/engines.py) -----------------------------------------------
    @fact
    def podman(self) -> Any:
        """Podman: version, rootful or rootless, CDI spec folders, runtime (facts/podman.py)."""
        from gpudoctor.facts.podman import inspect_podman

        return inspect_podman(self.host, self.user)

    @fact
    def containerd(self) -> Any:
        """containerd and the merged configuration it loads (facts/containerd.py)."""
        from gpudoctor.facts.containerd import inspect_containerd

        return inspect_containerd(self.host)

    @fact
    def crio(self) -> Any:
        """CRI-O and its drop-in configuration (facts/crio.py)."""
        from gpudoctor.facts.crio import inspect_crio

        return inspect_crio(self.host)

    @fact
    def kubelet(self) -> Any:
        """A kubelet on this node: its runtime endpoint and cgroup driver (facts/kubelet.py)."""
        from gpudoctor.facts.kubelet import inspect_kubelet

        return inspect_kubelet(self.host)

    @fact
    def engines(self) -> list[Any]:
        """Every container engine found, with the one in use (facts/engines.py)."""
        from gpudoctor.facts.engines import discover_engines

        return discover_engines(self)

    @fact
    def run_args(self) -> dict[str, list[str]]:
        """Run arguments per engine present (report 1.1 `run_args`)."""
        from gpudoctor.facts.engines import run_args

        return run_args(self)
