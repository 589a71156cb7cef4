#!/usr/bin/env bash
# Installs what portauth needs to build and test, from Debian's archive only.
# Idempotent: asks apt only for packages that are missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config g++ clang llvm
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libcli11-dev libspdlog-dev libfmt-dev libsqlite3-dev libboost-dev libgtest-dev
  libacl1-dev acl
  libclang-rt-14-dev cppcheck clang-tidy
  iproute2 util-linux procps authbind python3 curl nginx
  zsh fish groff-base bash-completion systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: everything is installed"
fi
