"""What every part of a verification agrees on: labels, names, step timeouts, images."""

from __future__ import annotations

SCHEMA_ID = "gpudoctor.verify/1"
#: Every verify container carries this label (value: the run's id), so that it can always be
#: found and removed, even when the CLI call that created it was cut short.
LABEL = "io.gpudoctor.verify"
NAME_PREFIX = "gpudoctor-verify-"
#: The non-root user of the second probe pass when the arguments give none: nobody:nogroup.
#: A numeric uid:gid needs no /etc/passwd entry in the image.
NONROOT_USER = "65534:65534"
#: How long the container's own process lives: the upper bound of one verification, and the
#: container's end even if gpudoctor is killed with SIGKILL (it is created with --rm).
CONTAINER_LIFETIME_S = 300
#: nvidia-smi inside the container; a hung GPU makes it hang, which is itself a finding.
SMI_TIMEOUT_S = 20

# Step timeouts (seconds). Each is also capped by the verification's overall deadline.
T_QUICK = 20.0
T_CREATE = 60.0
T_START = 90.0
T_EXEC = SMI_TIMEOUT_S + 25.0
T_COMPOSE_UP = 150.0
T_REMOVE = 30.0
T_PULL = 600.0

#: Images looked for locally, smallest family first. NVIDIA's injected nvidia-smi is linked
#: against glibc, so for NVIDIA the glibc families come first (busybox/alpine cannot run it).
SMALL_FAMILIES = ("busybox", "alpine", "debian", "ubuntu", "fedora", "rockylinux", "almalinux",
                  "centos", "amazonlinux")
GLIBC_FAMILIES = ("ubuntu", "debian", "fedora", "rockylinux", "almalinux", "centos",
                  "amazonlinux")
DEFAULT_PULL = "busybox:latest"
DEFAULT_PULL_NVIDIA = "ubuntu:24.04"
