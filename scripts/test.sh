#!/usr/bin/env bash
# The whole test suite: unit tests and, as root, integration tests against the
# real kernel in private cgroups. Builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
build=${BUILD_DIR:-build}
if [ "$(id -u)" != 0 ]; then
  echo "test: not root: integration tests will skip (they need cgroups and BPF); run it as root for the whole suite" >&2
fi
ctest --test-dir "$build" --output-on-failure --timeout 600 "$@"
