#!/usr/bin/env bash
# Install the system packages the test suite needs, only those missing:
#   postgresql (initdb under /usr/lib/postgresql/*/bin), chromium, oathtool, age.
# Quick and offline when everything is present (no apt-get update then).
set -euo pipefail

missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-liberation)
command -v oathtool >/dev/null 2>&1 || missing+=(oathtool)
command -v age >/dev/null 2>&1 || missing+=(age)

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

echo "install-test-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-test-deps: need root to install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-deps: done" >&2
