"""pytest fixtures that hand tests real, private dockerd instances.

Loaded via ``pytest_plugins = ["tests.support.docker_fixtures"]``. A daemon that will
not start FAILS the test with its log (never skips): CI must go red where dockerd
cannot run, rather than silently testing nothing.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.support.dockerd import Dockerd, ensure_busybox_image, start_dockerd


class DockerdFactory(Protocol):
    """Callable signature of the dockerd_factory fixture (start_dockerd's keywords)."""

    def __call__(
        self,
        *,
        base: Path | None = None,
        config: dict[str, Any] | str | None = None,
        extra_path: Sequence[Path] = (),
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> Dockerd: ...


def _start_or_fail(**kwargs: Any) -> Dockerd:
    """start_dockerd, turning a startup failure into pytest.fail with dockerd's log."""
    try:
        return start_dockerd(**kwargs)
    except RuntimeError as exc:
        pytest.fail(f"could not start a test dockerd: {exc}", pytrace=False)


@pytest.fixture
def dockerd_factory(tmp_path: Path) -> Iterator[DockerdFactory]:
    """Start private daemons on demand; every one of them is stopped at teardown.

    start_dockerd's RuntimeError is NOT converted here, so tests can assert on startup
    failures (e.g. a malformed daemon.json) with pytest.raises.
    """
    started: list[Dockerd] = []
    counter = itertools.count()

    def factory(
        *,
        base: Path | None = None,
        config: dict[str, Any] | str | None = None,
        extra_path: Sequence[Path] = (),
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> Dockerd:
        if base is None:
            base = tmp_path / f"dockerd{next(counter)}"
        daemon = start_dockerd(
            base, config=config, extra_path=extra_path, extra_args=extra_args, env=env
        )
        started.append(daemon)
        return daemon

    yield factory
    errors: list[str] = []
    for daemon in reversed(started):
        try:
            daemon.stop()
        except Exception as exc:  # stop the rest, then report every failure
            errors.append(f"{daemon.base}: {exc!r}")
    if errors:
        pytest.fail("stopping test daemons failed:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture(scope="session")
def shared_dockerd() -> Iterator[Dockerd]:
    """One plain daemon (config {}) with the busybox image, for read-only tests.

    Tests must not change its config or leave containers behind; use dockerd_factory
    for anything that mutates daemon state.
    """
    with tempfile.TemporaryDirectory(prefix="gd-shared-", ignore_cleanup_errors=True) as tmp:
        daemon = _start_or_fail(base=Path(tmp), config={})
        try:
            ensure_busybox_image(daemon)
            yield daemon
        finally:
            daemon.stop()


@pytest.fixture(scope="session")
def busybox_image(shared_dockerd: Dockerd) -> str:
    """Tag of the registry-free busybox image, imported into shared_dockerd."""
    return ensure_busybox_image(shared_dockerd)
