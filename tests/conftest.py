"""Shared fixtures: the real test dockerd (tests/support/docker_fixtures.py) and host roots."""

from __future__ import annotations

pytest_plugins = ["tests.support.parallel", "tests.support.docker_fixtures",
                  "tests.support.unprivileged"]
