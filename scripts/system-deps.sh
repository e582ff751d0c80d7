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
command -v go >/dev/null || need+=(golang-go)
[ -x /usr/bin/rustc ] || need+=(rustc)  # the sandbox sees /usr/bin, not ~/.cargo
command -v npm >/dev/null || need+=(npm)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v ps >/dev/null || need+=(procps)
command -v setpriv >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)  # the README's HTTP examples, run by tests/test_readme.py
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
# TypeScript from npm, into /usr/lib/node_modules (core/languages.py points tsc's --typeRoots
# at its @types); pinned: the compiler and Node's types decide what compiles
install_typescript() {
  if [ "$(tsc --version 2>/dev/null)" != "Version 7.0.2" ] || [ ! -d /usr/lib/node_modules/@types/node ]; then
    $sudo npm install -g -q --prefix /usr typescript@7.0.2 @types/node@26.6.11 >/dev/null
    echo "installed: typescript@7.0.2 @types/node@26.6.11"
  fi
}
if ((${#need[@]} == 0)); then
  install_typescript
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
install_typescript
