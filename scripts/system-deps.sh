#!/usr/bin/env bash
# Installs the compilers and runtimes that execution feedback uses, and bubblewrap for
# the sandbox (Debian/Ubuntu). Needs root or sudo; does nothing when all are present.
set -euo pipefail
need=()
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
command -v g++ >/dev/null || need+=(g++)
command -v mcs >/dev/null || need+=(mono-mcs)
command -v node >/dev/null || need+=(nodejs)
command -v php >/dev/null || need+=(php-cli)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v ps >/dev/null || need+=(procps)
command -v setpriv >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)  # the README's HTTP examples, run by tests/test_readme.py
if ((${#need[@]} == 0)); then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
