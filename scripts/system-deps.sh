#!/usr/bin/env bash
# Install the system packages the test suite drives for real, where missing:
# podman (container engine), Chromium (browser), PostgreSQL (database server), nginx and
# wrk (the static snapshot served for real, and the serving benchmark).
# `system-deps.sh podman` installs only the container engine (what `make demo` needs).
set -euo pipefail
want=${1:-all}
need=()
command -v podman >/dev/null || need+=(podman runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ "$want" = all ]; then
  command -v chromium >/dev/null || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
  # The static snapshot served for real (tests) and the serving benchmark's load generator.
  [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v wrk >/dev/null || need+=(wrk)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]} (run as root or install them)" >&2
  exit 1
fi
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
