"""What `gpudoctor --json` loads on a host that does not need it (issue 11, "Speed").

Each module named here cost milliseconds of every start before: shutil (with bz2 and lzma,
imported by argparse's formatter), importlib.resources (tempfile, random, zipfile), tomllib on
a host with no TOML file, the NVIDIA driver's state on an AMD host. The report itself stays
the same (the checks' own tests assert it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.scenarios import generated

PROBE = """
import json, sys
from gpudoctor.cli import main
from gpudoctor.facts import Facts
asked = set()
memo = Facts.memo
def recording(self, key, compute):
    asked.add(key)
    return memo(self, key, compute)
Facts.memo = recording
code = main(['--json', '--root', sys.argv[1]])
sys.stdout.flush()
print(json.dumps({'modules': sorted(sys.modules), 'facts': sorted(asked)}), file=sys.stderr)
"""

NOT_ON_AN_AMD_ROOT = ("shutil", "bz2", "lzma", "tempfile", "zipfile", "importlib.resources",
                      "random", "tomllib")


def _loaded(root: Path) -> tuple[dict, dict]:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(root)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    return json.loads(proc.stdout), probe


def test_an_amd_root_loads_no_archive_temp_file_or_toml_modules(tmp_path: Path) -> None:
    report, probe = _loaded(generated(tmp_path / "amd", 8, "amd"))
    assert len([g for g in report["gpus"] if g["selected"]]) == 8
    assert report["versions"]["amdgpu"] is not None or report["checks"]  # a full report
    loaded = set(probe["modules"])
    assert not loaded & set(NOT_ON_AN_AMD_ROOT), sorted(loaded & set(NOT_ON_AN_AMD_ROOT))
    # the NVIDIA checks' preconditions ask /proc/modules, not the NVIDIA driver's whole state
    assert "nvidia_driver" not in probe["facts"], probe["facts"]
    assert "modules" in probe["facts"]


def test_the_rocm_table_is_read_without_importlib_resources(tmp_path: Path) -> None:
    report, probe = _loaded(generated(tmp_path / "amd", 1, "amd"))
    gfx = next(c for c in report["checks"] if c["id"] == "amd.gfx_target")
    assert gfx["status"] == "pass", gfx  # judged against rocm_support.json
    assert "gpudoctor.datafile" in probe["modules"]
