#!/usr/bin/env bash
# CI: the libFuzzer targets (fuzz/). Builds them with clang into build-fuzz,
# replays fuzz/regressions/<target> and fuzz/corpus/<target>, then fuzzes
# each target for FUZZ_SECONDS (default 20). Any crash, sanitizer report or
# broken property fails the run; the crashing input is left in
# build-fuzz/fuzz-artifacts/ - copy it to fuzz/regressions/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-20}
# Every fuzz/fuzz_*.cpp is a target (fuzz/CMakeLists.txt builds them the same way).
targets=()
for source in fuzz/fuzz_*.cpp; do
  t=$(basename "$source" .cpp)
  [ -d "fuzz/corpus/$t" ] || { echo "ci-fuzz: $t has no seeds in fuzz/corpus/$t" >&2; exit 1; }
  targets+=("$t")
done

# libFuzzer's runtime is in clang's compiler-rt (Debian: libclang-rt-14-dev).
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/p.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>/dev/null; then
  echo "ci-fuzz: clang++ cannot link -fsanitize=fuzzer; installing libclang-rt-14-dev"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libclang-rt-14-dev
fi

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTAUTH_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_all

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
status=0
for t in "${targets[@]}"; do
  bin=$build/fuzz/$t
  dirs=()
  for d in fuzz/regressions/$t fuzz/corpus/$t; do [ -d "$d" ] && dirs+=("$d"); done
  echo "== $t: replay ${dirs[*]}"
  # -runs=0: run every input once, no mutation, nothing written to the dirs.
  if ! "$bin" -runs=0 "${dirs[@]}" >"$artifacts/$t.replay.log" 2>&1; then
    echo "ci-fuzz: $t fails on a checked-in input:" >&2
    tail -40 "$artifacts/$t.replay.log" >&2
    status=1
    continue
  fi
  # Fuzz into a scratch corpus seeded from the checked-in one, so the tree stays as it is.
  work=$build/fuzz-corpus/$t
  mkdir -p "$work"
  echo "== $t: fuzzing for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$t-" "$work" "${dirs[@]}" >"$artifacts/$t.log" 2>&1; then
    echo "ci-fuzz: $t found a crash (input in $artifacts/):" >&2
    tail -60 "$artifacts/$t.log" >&2
    status=1
    continue
  fi
  grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::new_units_added' "$artifacts/$t.log" | tr '\n' ' '
  echo
done
if ((status != 0)); then
  echo "ci-fuzz: FAILED" >&2
  exit 1
fi
echo "ci-fuzz: ${#targets[@]} targets replayed their regressions and corpora and fuzzed ${seconds}s each without a crash"
