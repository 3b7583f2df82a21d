"""The redaction rules on the texts gpudoctor captures: tool output, driver files, configs.

Identities are replaced consistently (the same UUID or unique_id gets the same stand-in in every
file), because checks match them across files; values that only look like serials (`N/A`,
`To Be Filled By O.E.M.`) and words that merely contain the hostname stay untouched.
"""

from __future__ import annotations

import pytest

from gpudoctor.snapshot import REDACTED_HOSTNAME, Redactor, relative_target

NVIDIA_SMI_Q = """\
==============NVSMI LOG==============

Driver Version                            : 580.95.05
Attached GPUs                             : 2
GPU 00000000:18:00.0
    Product Name                          : NVIDIA H100 80GB HBM3
    Serial Number                         : 1652022001234
    GPU UUID                              : GPU-03bb5927-ceaa-4166-ff1e-1d58a8cbf883
    MIG Device
        UUID                              : MIG-0b7cd5b4-36b5-5e8d-9e3b-a6bd1a8c3a55
GPU 00000000:2A:00.0
    Serial Number                         : N/A
    GPU UUID                              : GPU-edfee158-11c1-52b8-0517-92f30e7fac88
"""

CDI_SPEC = """\
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
- name: GPU-03bb5927-ceaa-4166-ff1e-1d58a8cbf883
- name: GPU-EDFEE158-11C1-52B8-0517-92F30E7FAC88
"""


def learnt(*texts: str, hostname: str | None = None) -> Redactor:
    redactor = Redactor()
    redactor.learn_hostname(hostname)
    for text in texts:
        redactor.learn_from_text(text)
    return redactor


def test_gpu_and_mig_uuids_get_the_same_stand_in_everywhere() -> None:
    r = learnt(NVIDIA_SMI_Q, CDI_SPEC)
    smi = r.text(NVIDIA_SMI_Q, "command nvidia-smi-q")
    cdi = r.text(CDI_SPEC, "/etc/cdi/nvidia.yaml")
    assert "03bb5927" not in smi + cdi and "edfee158" not in (smi + cdi).lower()
    assert "0b7cd5b4" not in smi
    first = "GPU-00000000-0000-0000-0000-000000000001"
    second = "GPU-00000000-0000-0000-0000-000000000003"  # the MIG UUID took number 2
    assert f"GPU UUID                              : {first}" in smi
    assert "UUID                              : MIG-00000000-0000-0000-0000-000000000002" in smi
    assert f"GPU UUID                              : {second}" in smi
    assert f"- name: {first}\n" in cdi
    assert f"- name: {second}\n" in cdi  # case does not make it another GPU
    assert {("GPU UUID", "command nvidia-smi-q"), ("GPU UUID", "/etc/cdi/nvidia.yaml")} <= r.found


def test_serial_numbers_and_not_serials() -> None:
    r = learnt(NVIDIA_SMI_Q, "Serial Number: To Be Filled By O.E.M.\n")
    out = r.text(NVIDIA_SMI_Q + "board 1652022001234 again\n", "command nvidia-smi-q")
    assert "1652022001234" not in out
    assert "Serial Number                         : REDACTED-SERIAL-1" in out
    assert "board REDACTED-SERIAL-1 again" in out  # the value is scrubbed wherever it appears
    assert "Serial Number                         : N/A" in out
    assert r.text("Serial Number: To Be Filled By O.E.M.\n", "dmi") == \
        "Serial Number: To Be Filled By O.E.M.\n"


@pytest.mark.parametrize("text", [
    '<serial>1652022001234</serial>',
    '{"serial_number": "1652022001234"}',
    "serial=1652022001234",
    "Board Serial Number = 1652022001234",
])
def test_serial_spellings(text: str) -> None:
    r = learnt(text)
    assert "1652022001234" not in r.text(text, "x")


def test_files_that_are_a_serial() -> None:
    r = Redactor()
    r.learn_from_text("PHWL123400AB960CGN\n", "serial_number")
    r.learn_from_text("4c4c4544-0042-3510-8052-b4c04f565732\n", "product_uuid")
    out = r.text("dev PHWL123400AB960CGN machine 4c4c4544-0042-3510-8052-b4c04f565732", "x")
    assert out == "dev REDACTED-SERIAL-1 machine REDACTED-SERIAL-2"


def test_unique_ids_keep_their_format_and_their_match() -> None:
    """amdgpu prints unique_id in hex, KFD in decimal, rocm-smi as GPU-<hex>: one number."""
    value = 0x5A71C4D2E93B0F17
    r = Redactor()
    r.learn_from_text(f"{value:016x}\n", "unique_id")
    sysfs = r.text(f"{value:016x}\n", "/sys/devices/pci0000:00/0000:03:00.0/unique_id",
                   "unique_id")
    kfd = r.text(f"gpu_id 1\nunique_id {value}\nlocation_id 768\n",
                 "/sys/devices/virtual/kfd/kfd/topology/nodes/1/properties", "properties")
    smi = r.text(f"GPU[0] : Unique ID: 0x{value:x}\nGPU[0] : GPU-{value:016x}\n", "rocm-smi")
    assert sysfs == "0000000000000001\n"
    assert kfd == "gpu_id 1\nunique_id 1\nlocation_id 768\n"
    assert smi == "GPU[0] : Unique ID: 0x0000000000000001\nGPU[0] : GPU-0000000000000001\n"
    assert r.text("unique_id 0\n", "cpu node") == "unique_id 0\n"  # CPUs and APUs have none


@pytest.mark.parametrize("before, after", [
    ("http://bob:s3cret@proxy.example:3128", "http://REDACTED@proxy.example:3128"),
    ("https://bob:p@ss@mirror.example/v2/", "https://REDACTED@mirror.example/v2/"),
    ('"http-proxy": "socks5://token@10.0.0.1:1080"', '"http-proxy": "socks5://REDACTED@10.0.0.1:1080"'),
    ("deb [arch=amd64] https://u:p@apt.example/debian bookworm main",
     "deb [arch=amd64] https://REDACTED@apt.example/debian bookworm main"),
    ("https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /",
     "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /"),
    ("git@github.com:NVIDIA/toolkit.git", "git@github.com:NVIDIA/toolkit.git"),
    ("http://proxy.example/?user=a@b", "http://proxy.example/?user=a@b"),
])
def test_credentials_in_urls(before: str, after: str) -> None:
    assert Redactor().text(before, "x") == after


@pytest.mark.parametrize("before, after", [
    ('{"auths": {"registry.example": {"auth": "Ym9iOnMzY3JldA=="}}}',
     '{"auths": {"registry.example": {"auth": "REDACTED"}}}'),
    ('{"identitytoken": "eyJhbGciOi"}', '{"identitytoken": "REDACTED"}'),
    ("password = \"hunter2\"\n", "password = \"REDACTED\"\n"),
    ("  token: ghp_abc123\n", "  token: REDACTED\n"),
    # a key word anywhere in the key's name (issue 18): `oauth` holds `auth`; lists are kept
    ('{"oauth": "x", "authorization-plugins": ["a"]}',
     '{"oauth": "REDACTED", "authorization-plugins": ["a"]}'),
    ('{"credsStore": "desktop"}', '{"credsStore": "desktop"}'),
    ('"log-opts": {"splunk-token": "176FCEBF-4CF5-4EDF-91BC-703796522D20", "splunk-url": "u"}',
     '"log-opts": {"splunk-token": "REDACTED", "splunk-url": "u"}'),
    ('"HttpHeaders": {"Authorization": "Bearer eyJ0eXAi.abc"}',
     '"HttpHeaders": {"Authorization": "REDACTED"}'),
    ("db_password = 'pa ss'\nclient-secret = \"cs\"\n",
     "db_password = 'REDACTED'\nclient-secret = \"REDACTED\"\n"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG\nAWS_REGION=eu-west-1\n",
     "AWS_SECRET_ACCESS_KEY=REDACTED\nAWS_REGION=eu-west-1\n"),
    ("export GITHUB_TOKEN=ghp_x\nsession.cookie: abc def\n",
     "export GITHUB_TOKEN=REDACTED\nsession.cookie: REDACTED\n"),
    ("--log-opt=splunk-token=s3cr3t", "--log-opt=splunk-token=REDACTED"),
    ("Authorization: Bearer abc.def\n", "Authorization: REDACTED\n"),
    ('{"auth": null, "token": true, "tlskey": "/etc/docker/key.pem", "key_file": "/k"}',
     '{"auth": null, "token": true, "tlskey": "/etc/docker/key.pem", "key_file": "/k"}'),
    # no false alarm: a package called libsecret in dpkg.log is no key with a value
    ("2026-01-01 10:00:00 status installed libsecret-1-0:amd64 0.20.5-3\n",
     "2026-01-01 10:00:00 status installed libsecret-1-0:amd64 0.20.5-3\n"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n",
     "-----BEGIN RSA PRIVATE KEY-----\nREDACTED\n-----END RSA PRIVATE KEY-----\n"),
])
def test_credential_fields(before: str, after: str) -> None:
    r = Redactor()
    assert r.text(before, "/home/alice/.docker/config.json") == after
    assert r.found == ({("credentials", "/home/alice/.docker/config.json")} if before != after
                       else set())


def test_hostname_only_as_a_whole_name() -> None:
    r = learnt(hostname="vm.lab.example")
    text = ("Name: vm\nkvm vmw_vsock vm-1 vm.lab.example vm.local bvm\n"
            "ssh vm:22 node=vm,zone=a\n")
    out = r.text(text, "x")
    assert out == (f"Name: {REDACTED_HOSTNAME}\nkvm vmw_vsock vm-1 {REDACTED_HOSTNAME} "
                   f"{REDACTED_HOSTNAME}.local bvm\nssh {REDACTED_HOSTNAME}:22 "
                   f"node={REDACTED_HOSTNAME},zone=a\n")
    assert r.text(text, "/etc/group", hostnames=False) == text


@pytest.mark.parametrize("name", ["localhost", "localhost.localdomain", "", "(none)"])
def test_generic_hostnames_are_not_secrets(name: str) -> None:
    r = learnt(hostname=name)
    assert r.text("127.0.0.1 localhost localhost.localdomain\n", "x") == \
        "127.0.0.1 localhost localhost.localdomain\n"


def test_environment_values() -> None:
    r = learnt(hostname="gpu-node-17")
    assert r.env_value("AWS_SECRET_ACCESS_KEY", "AKIA123", "env") == "REDACTED"
    assert r.env_value("PATH", "/usr/bin:/bin", "env") == "/usr/bin:/bin"
    assert r.env_value("DOCKER_HOST", "tcp://u:p@gpu-node-17:2376", "env") == \
        f"tcp://REDACTED@{REDACTED_HOSTNAME}:2376"
    assert ("environment value", "env AWS_SECRET_ACCESS_KEY") in r.found


def test_disabled_redactor_changes_nothing() -> None:
    r = Redactor(enabled=False)
    r.learn_from_text(NVIDIA_SMI_Q)
    assert r.text(NVIDIA_SMI_Q, "x") == NVIDIA_SMI_Q
    assert r.env_value("TOKEN", "abc", "env") == "abc"
    assert r.report() == []


@pytest.mark.parametrize("link, target, expected", [
    ("/sys/bus/pci/devices/0000:03:00.0", "../../../devices/pci0000:00/0000:03:00.0",
     "../../../devices/pci0000:00/0000:03:00.0"),
    ("/etc/os-release", "/usr/lib/os-release", "../usr/lib/os-release"),
    ("/usr/bin/nvidia-ctk", "/etc/alternatives/nvidia-ctk", "../../etc/alternatives/nvidia-ctk"),
    ("/lib", "usr/lib", "usr/lib"),
    ("/x", "../../y", "y"),  # `..` at the root stays at the root
    ("/a/b", "/", ".."),
    ("/top", "/", "."),
])
def test_link_targets_stay_inside_the_root(link: str, target: str, expected: str) -> None:
    assert relative_target(link, target) == expected
