"""Finding check and fix plugins: built-ins in gpudoctor.checks / gpudoctor.fixes, third-party
ones through the entry-point groups `gpudoctor.checks` and `gpudoctor.fixes`.

A plugin that fails to import is not fatal: it becomes a LoadFailure, which the runner reports
as an `error` result naming it, and every other check still runs.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass, field
from types import ModuleType

from gpudoctor.plugin import Check, Fix

CHECK_GROUP = "gpudoctor.checks"
FIX_GROUP = "gpudoctor.fixes"
BUILTIN = "built in"


@dataclass
class LoadFailure:
    """A plugin that could not be loaded, reported instead of crashing."""

    name: str
    source: str
    error: str
    group: str


@dataclass
class Registry:
    checks: dict[str, type[Check]] = field(default_factory=dict)
    fixes: dict[str, type[Fix]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # plugin id -> where it came from
    failures: list[LoadFailure] = field(default_factory=list)

    def ordered_checks(self, include_opt_in: bool = False) -> list[type[Check]]:
        """Checks in their stable report order: by area, then by declaration order."""
        items = [c for c in self.checks.values() if include_opt_in or not c.opt_in]
        position = {cid: i for i, cid in enumerate(self.checks)}
        return sorted(items, key=lambda c: (c.area.order, position[c.id]))

    def _add(self, obj: type, source: str) -> None:
        if issubclass(obj, Check) and obj is not Check and obj.id:
            if obj.id not in self.checks:
                self.checks[obj.id] = obj
                self.sources[obj.id] = source
        elif issubclass(obj, Fix) and obj is not Fix and obj.id and obj.id not in self.fixes:
            self.fixes[obj.id] = obj
            self.sources[obj.id] = source

    def _add_module(self, module: ModuleType, source: str) -> None:
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__:
                self._add(obj, source)


# Built-in check order inside an area follows this list; modules not named come after.
BUILTIN_CHECK_ORDER = (
    "gpu_present", "pciids_fresh", "kernel_driver", "devices_nodes", "groups_render",
    "docker_daemon", "nvidia_toolkit", "docker_nvidia_runtime", "docker_cdi",
    "docker_containers", "docker_smoke",
)


def _package_modules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    names: set[str] = set()
    for folder in getattr(pkg, "__path__", []):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".py") and not entry.startswith("_"):
                names.add(entry[:-3])
    order = {name: i for i, name in enumerate(BUILTIN_CHECK_ORDER)}
    return sorted(names, key=lambda n: (order.get(n, len(order)), n))


def load(third_party: bool = True) -> Registry:
    """Load built-in plugins, then third-party entry points (which cannot replace built-ins)."""
    reg = Registry()
    for package, group in (("gpudoctor.checks", CHECK_GROUP), ("gpudoctor.fixes", FIX_GROUP)):
        for name in _package_modules(package):
            modname = f"{package}.{name}"
            try:
                module = importlib.import_module(modname)
            except Exception as exc:  # a broken built-in must not take the others down
                reg.failures.append(LoadFailure(modname, BUILTIN, _describe(exc), group))
                continue
            reg._add_module(module, BUILTIN)
    if third_party:
        _load_entry_points(reg)
    return reg


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _load_entry_points(reg: Registry) -> None:
    from gpudoctor.entrypoints import entry_points

    for ep in entry_points({CHECK_GROUP, FIX_GROUP}):
        source = f"entry point {ep.name} of {ep.distribution}"
        try:
            module = importlib.import_module(ep.module)
            obj = getattr(module, ep.attr) if ep.attr else module
        except Exception as exc:  # third-party code can fail in any way
            reg.failures.append(LoadFailure(ep.name, source, _describe(exc), ep.group))
            continue
        if isinstance(obj, ModuleType):
            reg._add_module(obj, source)
        elif inspect.isclass(obj) and issubclass(obj, (Check, Fix)):
            reg._add(obj, source)
        else:
            reg.failures.append(LoadFailure(
                ep.name, source, f"{ep.value} is not a Check or Fix class or a module", ep.group))
