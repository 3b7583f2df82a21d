"""Finding check and fix plugins: built-ins in gpudoctor.checks / gpudoctor.fixes, third-party
ones through the entry-point groups `gpudoctor.checks` and `gpudoctor.fixes`.

A plugin that fails to import is not fatal: it becomes a LoadFailure, which the runner reports
as an `error` result naming it, and every other check still runs. Fix plugins are loaded only
when something asks for them (`Registry.fixes`), so `gpudoctor --json` never imports them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from gpudoctor.plugin import Check, Fix
from gpudoctor.record import field, record

CHECK_GROUP = "gpudoctor.checks"
FIX_GROUP = "gpudoctor.fixes"
BUILTIN = "built in"
PACKAGES = {CHECK_GROUP: "gpudoctor.checks", FIX_GROUP: "gpudoctor.fixes"}


@record
class LoadFailure:
    """A plugin that could not be loaded, reported instead of crashing."""

    name: str
    source: str
    error: str
    group: str


@record
class Registry:
    """The check plugins found, where each came from, and those that failed to load."""

    checks: dict[str, type[Check]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # plugin id -> where it came from
    failures: list[LoadFailure] = field(default_factory=list)
    third_party: bool = True
    #: fix plugins by id once loaded; None until `fixes` is first used
    loaded_fixes: dict[str, type[Fix]] | None = None

    @property
    def fixes(self) -> dict[str, type[Fix]]:
        """Fix plugins by id, loaded on first use."""
        if self.loaded_fixes is None:
            self.loaded_fixes = {}
            _load_group(self, FIX_GROUP)
        return self.loaded_fixes

    def ordered_checks(self, include_opt_in: bool = False) -> list[type[Check]]:
        """Checks in their stable report order: by area, then by each check's `order`, then id."""
        items = [c for c in self.checks.values() if include_opt_in or not c.opt_in]
        return sorted(items, key=lambda c: (c.area.order, c.order, c.id))

    def _add(self, obj: type, source: str, group: str) -> bool:
        """Register a plugin class of the group being loaded; False when it is not one."""
        table: dict = self.checks if group == CHECK_GROUP else (self.loaded_fixes or {})
        base = Check if group == CHECK_GROUP else Fix
        if not (isinstance(obj, type) and issubclass(obj, base) and obj is not base and obj.id):
            return False
        if obj.id not in table:
            table[obj.id] = obj
            self.sources[obj.id] = source
        if group == FIX_GROUP:
            self.loaded_fixes = table
        return True

    def _add_module(self, module: ModuleType, source: str, group: str) -> None:
        for obj in list(vars(module).values()):
            if isinstance(obj, type) and obj.__module__ == module.__name__:
                self._add(obj, source, group)


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
    return sorted(names)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _load_group(reg: Registry, group: str) -> None:
    """Built-ins of one group, then its third-party entry points (which cannot replace them)."""
    package = PACKAGES[group]
    for name in _package_modules(package):
        modname = f"{package}.{name}"
        try:
            module = importlib.import_module(modname)
        except Exception as exc:  # a broken built-in must not take the others down
            reg.failures.append(LoadFailure(modname, BUILTIN, _describe(exc), group))
            continue
        reg._add_module(module, BUILTIN, group)
    if reg.third_party:
        _load_entry_points(reg, group)


def load(third_party: bool = True) -> Registry:
    """The check plugins now; fix plugins when `Registry.fixes` is first used."""
    reg = Registry(third_party=third_party)
    _load_group(reg, CHECK_GROUP)
    return reg


def _load_entry_points(reg: Registry, group: str) -> None:
    from gpudoctor.entrypoints import entry_points

    for ep in entry_points({group}):
        source = f"entry point {ep.name} of {ep.distribution}"
        try:
            module = importlib.import_module(ep.module)
            obj = getattr(module, ep.attr) if ep.attr else module
        except Exception as exc:  # third-party code can fail in any way
            reg.failures.append(LoadFailure(ep.name, source, _describe(exc), ep.group))
            continue
        if isinstance(obj, ModuleType):
            reg._add_module(obj, source, group)
        elif not reg._add(obj, source, group):
            reg.failures.append(LoadFailure(
                ep.name, source,
                f"{ep.value} is not a {group.rsplit('.', 1)[-1][:-1]} class or a module",
                ep.group))
