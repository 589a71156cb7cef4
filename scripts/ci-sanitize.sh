#!/usr/bin/env bash
# CI: the whole suite a second time, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (PORTAUTH_SANITIZE=ON) into build-asan. Any
# sanitizer report fails the run: the sanitizers stop the process at the first
# report (-fno-sanitize-recover=all, halt_on_error=1), which fails its test,
# and every report - also from a tool a test ran and expected to fail, or from
# a forked child - is written to a report dir, which must stay empty.
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD_DIR=${BUILD_DIR:-build-asan}
# -O0 with line tables only: the sanitizers need no optimiser, and this build
# takes half the time of RelWithDebInfo; the suite is bound by the kernel anyway.
export CMAKE_ARGS="${CMAKE_ARGS:-} -DPORTAUTH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1"
reports=$(mktemp -d /tmp/ci-sanitize.XXXXXX)
chmod 1777 "$reports"   # children that drop to test uids write their reports here too
trap 'rm -rf "$reports"' EXIT
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
status=0
# scripts/test.sh builds (cmake with $CMAKE_ARGS into $BUILD_DIR), then runs ctest.
./scripts/test.sh "$@" || status=$?
if compgen -G "$reports/*" >/dev/null; then
  echo "ci-sanitize: sanitizer reports:" >&2
  for f in "$reports"/*; do echo "--- $f" >&2; head -60 "$f" >&2; done
  ((status != 0)) || status=1
fi
if ((status != 0)); then
  echo "ci-sanitize: FAILED (status $status)" >&2
  exit "$status"
fi
echo "ci-sanitize: the whole suite passes under ASan+UBSan, no sanitizer reports"
