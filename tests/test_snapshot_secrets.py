"""Issue 18 item 2: no credential reaches a snapshot, in whatever file type it was planted.

A healthy host root gets a secret in every kind of file a snapshot captures: daemon.json
(`log-opts.splunk-token`), the person's ~/.docker/config.json (registry `auth`, HttpHeaders
`Authorization`, used because a docker context is current), the context's meta.json, the
toolkit's config.toml (TOML), the CDI spec (YAML, and env entries in it), os-release (an env
file), dockerd's command line and environment, and the daemon's own answers (labels, a
container's Env). The whole archive, unpacked byte for byte, must not hold any of them, and the
diagnosis of the snapshot must be the host's.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

from tests.support.cli import run_gpudoctor
from tests.support.container_roots import (
    DOCKERD_START,
    NVIDIA_CTK_DAEMON_JSON,
    ContainerRoot,
    docker_info,
)

SECRETS = {
    "daemon.json splunk-token": "5plunkT0ken-4CF5-4EDF-91BC-703796522D20",
    "config.json auth": "Ym9iOmh1bnRlcjJfcmVnaXN0cnk=",
    "config.json HttpHeaders Authorization": "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.Hdr",
    "meta.json session token": "ctx-sess-9f8e7d6c5b4a",
    "config.toml db_password": "t0ml-db-pa55w0rd",
    "config.toml client-secret": "t0ml-cl1ent-s3cret",
    "CDI yaml vault.token": "s.yamlVaultT0ken42",
    "CDI yaml env AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "os-release env file": "0s-release-supp0rt-t0ken",
    "dockerd command line": "cmdl1ne-splunk-t0ken",
    "dockerd environment": "envAWSs3cretKEY",
    "engine API label": "l4bel-vault-t0ken",
    "container Env": "c0ntainer-db-pa55",
}


def _plant(root: Path) -> Path:
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 30 * 86400)
    daemon = json.loads(NVIDIA_CTK_DAEMON_JSON)
    daemon["log-driver"] = "splunk"
    daemon["log-opts"] = {"splunk-token": SECRETS["daemon.json splunk-token"],
                          "splunk-url": "https://splunk.example:8088"}
    r.b.write("/etc/docker/daemon.json", json.dumps(daemon, indent=4) + "\n")
    r.process(4242, "dockerd", "/usr/bin/dockerd",
              ["/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock",
               "--label", f"vault-token={SECRETS['dockerd command line']}"],
              env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "AWS_SECRET_ACCESS_KEY": SECRETS["dockerd environment"]})
    r.b.write("/usr/bin/dockerd", "#!/bin/sh\n", mode=0o755)
    info = docker_info(nvidia=True)
    info["Labels"] = [f"vault-token={SECRETS['engine API label']}", "zone=eu"]
    r.answers(info, containers={"db": {"Config": {"Env": [
        f"DB_PASSWORD={SECRETS['container Env']}", "PATH=/usr/bin"]}, "HostConfig": {}}})
    r.driver_libs()
    r.cdi_spec()
    cdi = r.b.root / "var/run/cdi/nvidia.yaml"
    text = cdi.read_text().replace(
        "  env:\n  - NVIDIA_VISIBLE_DEVICES=void\n",
        "  env:\n  - NVIDIA_VISIBLE_DEVICES=void\n"
        f"  - AWS_SECRET_ACCESS_KEY={SECRETS['CDI yaml env AWS_SECRET_ACCESS_KEY']}\n")
    cdi.write_text(text + f"annotations:\n  vault.token: {SECRETS['CDI yaml vault.token']}\n")
    toml = r.b.root / "etc/nvidia-container-runtime/config.toml"
    toml.write_text(toml.read_text() + "\n[gpudoctor-test]\n"
                    f"db_password = \"{SECRETS['config.toml db_password']}\"\n"
                    f"client-secret = '{SECRETS['config.toml client-secret']}'\n")
    os_release = r.b.root / "usr/lib/os-release"
    os_release.write_text(os_release.read_text()
                          + f"SUPPORT_TOKEN=\"{SECRETS['os-release env file']}\"\n")
    home = "/home/alice/.docker"
    bearer = f"Bearer {SECRETS['config.json HttpHeaders Authorization']}"
    r.b.write(f"{home}/config.json", json.dumps({
        "auths": {"registry.example:5000": {"auth": SECRETS["config.json auth"]}},
        "HttpHeaders": {"Authorization": bearer, "User-Agent": "x"},
        "credHelpers": {"gcr.io": "gcloud"}, "currentContext": "gpu-box"}, indent=1))
    digest = hashlib.sha256(b"gpu-box").hexdigest()
    r.b.write(f"{home}/contexts/meta/{digest}/meta.json", json.dumps({
        "Name": "gpu-box",
        "Metadata": {"Description": "the box", "session-token": SECRETS["meta.json session token"]},
        "Endpoints": {"docker": {"Host": "unix:///var/run/docker.sock", "SkipTLSVerify": False}}}))
    r.b.set_host_json(env={"HOME": "/home/alice", "AWS_SECRET_ACCESS_KEY": "e" * 20})
    return r.finish()


def _archive_bytes(archive: Path) -> bytes:
    return gzip.decompress(archive.read_bytes())


def test_no_planted_secret_reaches_the_archive_and_the_verdict_is_kept(tmp_path: Path) -> None:
    root = _plant(tmp_path / "root")
    original = run_gpudoctor("--json", "--root", root, timeout=60)
    assert original.returncode == 0, [
        (c["id"], c["status"], c["summary"]) for c in original.json["checks"]
        if c["status"] != "pass"]
    kept = tmp_path / "kept.tar.gz"
    run = run_gpudoctor("snapshot", "--root", root, "--no-redact", "-o", kept, timeout=60)
    assert run.returncode == 0, run.stderr
    unredacted = _archive_bytes(kept)
    # Every secret was planted where a snapshot captures it (else this test proves nothing);
    # config.json's are the exception: only the field gpudoctor reads is ever kept.
    for what, secret in SECRETS.items():
        if what.startswith("config.json"):
            assert secret.encode() not in unredacted, what
        else:
            assert secret.encode() in unredacted, f"{what} was not captured at all"

    out = tmp_path / "snap.tar.gz"
    run = run_gpudoctor("snapshot", "--root", root, "-o", out, timeout=60)
    assert run.returncode == 0, run.stderr
    everything = _archive_bytes(out)
    leaked = [what for what, secret in SECRETS.items() if secret.encode() in everything]
    assert leaked == []
    with tarfile.open(out) as tar:
        member = tar.extractfile("home/alice/.docker/config.json")
        assert member is not None
        assert json.loads(member.read()) == {"currentContext": "gpu-box"}
        host_json = json.loads(tar.extractfile(".gpudoctor/host.json").read())  # type: ignore[union-attr]
    where = {item["where"] for item in host_json["redacted"] if item["what"] == "credentials"}
    assert {"/etc/docker/daemon.json", "/etc/nvidia-container-runtime/config.toml",
            "/var/run/cdi/nvidia.yaml", "/usr/lib/os-release"} <= where
    again = run_gpudoctor("--json", "--root", out, timeout=60)
    assert {c["id"]: c["status"] for c in again.json["checks"]} == \
        {c["id"]: c["status"] for c in original.json["checks"]}
    assert again.json["docker_run_args"] == original.json["docker_run_args"]
