#!/usr/bin/env bash
# Install the Debian packages gpudoctor's tests need (Debian 12 / bookworm).
#
# The docker tests start their own private dockerd (tests/support/dockerd.py), so this
# script only installs packages and NEVER starts a daemon: a policy-rc.d that answers
# 101 ("action forbidden") is kept in place while apt runs, so docker.io's postinst
# cannot start the system docker/containerd services.
#
# Fast on a warm machine: apt is skipped entirely when every package is installed.
set -euo pipefail

PACKAGES=(
  docker.io        # dockerd 20.10, docker CLI (/usr/bin/docker); pulls containerd, runc, tini
  busybox-static   # /bin/busybox: the registry-free test image is built from it
  docker-compose   # compose 1.29, for compose-file checks
  tmux             # TUI tests drive gpudoctor in a real terminal
  dpkg-dev         # dpkg-deb/dpkg-scanpackages for packaging tests
  podman           # Podman 4.3: CDI specs resolved by a real engine (vfs storage)
  ansible-core     # the shipped playbook and module run with ansible-playbook
  prometheus-node-exporter  # its textfile collector scrapes gpudoctor's metrics
  systemd          # systemd-analyze verify checks the shipped timer and service
  prometheus       # promtool checks and unit-tests the shipped alert rules
  python3          # the nvidia-container-runtime-hook stand-in runs under dockerd's PATH
  python3-venv
  git
  iproute2
  ca-certificates
)

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: must run as root (or have sudo)" >&2
    exit 1
  fi
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all packages already installed: ${PACKAGES[*]}"
else
  echo "install-deps: installing: ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# added by gpudoctor .ci/install-deps.sh: start no services\nexit 101\n' \
      | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
  fi
  cleanup() {
    if [[ "$created_policy" -eq 1 ]]; then
      "${SUDO[@]}" rm -f "$policy"
    fi
  }
  trap cleanup EXIT
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Sanity: the binaries the tests call by explicit path must now exist.
for bin in /usr/sbin/dockerd /usr/bin/docker /usr/bin/containerd /bin/busybox; do
  if [[ ! -x "$bin" ]]; then
    echo "install-deps: expected $bin after install" >&2
    exit 1
  fi
done
if ! command -v runc >/dev/null 2>&1 && [[ ! -x /usr/sbin/runc ]]; then
  echo "install-deps: runc missing" >&2
  exit 1
fi
