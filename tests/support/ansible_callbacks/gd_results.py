"""A stdout callback for the tests: the whole run as one JSON document on stdout.

Debian's ansible-core ships no JSON callback (that one lives in ansible.posix, which is not
installed here), so the tests bring this small one: {"plays": [{"name", "tasks": [{"task":
{"name"}, "hosts": {HOST: RESULT}}]}], "stats": {HOST: {ok, failures, changed, ...}}}.
"""

from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: gd_results
    type: stdout
    short_description: the run as one JSON document (gpudoctor's tests)
    description: Prints every task's per-host result and the stats as JSON at the end.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "gd_results"

    def __init__(self) -> None:
        super().__init__()
        self.plays: list[dict] = []

    def v2_playbook_on_play_start(self, play) -> None:
        self.plays.append({"name": play.get_name(), "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def _record(self, result, **extra) -> None:
        entry = dict(result._result)
        entry.update(extra)
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = entry

    def v2_runner_on_ok(self, result) -> None:
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats) -> None:
        out = {"plays": self.plays,
               "stats": {h: stats.summarize(h) for h in sorted(stats.processed)}}
        self._display.display(json.dumps(out, default=str))
