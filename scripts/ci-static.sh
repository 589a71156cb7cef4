#!/usr/bin/env bash
# CI: static analysis of lib/ and tools/ with cppcheck 2.10 and clang-tidy 14,
# configured by .cppcheck-suppressions and .clang-tidy, compile flags from
# $BUILD_DIR/compile_commands.json (build/ by default). "No new findings":
# each finding is reduced to "tool file check message" (no line numbers, so
# edits elsewhere in a file do not matter) and compared, as a multiset, with
# .static-baseline - the findings that existed when it was written. The run
# fails only on findings not in the baseline; fixed ones are reported so the
# baseline can shrink. ./scripts/ci-static.sh --update-baseline rewrites it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
baseline=.static-baseline

need=()
command -v cppcheck >/dev/null || need+=(cppcheck)
command -v clang-tidy-14 >/dev/null || command -v clang-tidy >/dev/null || need+=(clang-tidy)
if ((${#need[@]})); then
  echo "ci-static: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
tidy=$(command -v clang-tidy-14 || command -v clang-tidy)

# compile_commands.json and the generated skeleton header the engine includes.
if [ ! -f "$build/compile_commands.json" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target portauth_skel >/dev/null

root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Exactly the lib/ and tools/ sources the build compiles: their entries of
# compile_commands.json (for cppcheck) and their paths (for clang-tidy).
mapfile -t sources < <(python3 - "$build/compile_commands.json" "$root" "$work/compile_commands.json" <<'PY'
import json, os, sys
root = sys.argv[2] + "/"
ours = [e for e in json.load(open(sys.argv[1]))
        if os.path.normpath(os.path.join(e["directory"], e["file"])).startswith((root + "lib/", root + "tools/"))]
json.dump(ours, open(sys.argv[3], "w"))
for f in sorted({os.path.normpath(os.path.join(e["directory"], e["file"])) for e in ours}):
    print(f[len(root):])
PY
)
((${#sources[@]})) || { echo "ci-static: no lib/ or tools/ sources in $build/compile_commands.json" >&2; exit 1; }

echo "ci-static: cppcheck on ${#sources[@]} files"
SECONDS=0
cppcheck --project="$work/compile_commands.json" \
  --enable=warning,performance,portability --inline-suppr --suppressions-list=.cppcheck-suppressions \
  --std=c++20 --language=c++ -j"$(nproc)" --quiet --error-exitcode=0 \
  --template='cppcheck {file} {id} {message}' 2>"$work/cppcheck.txt" >"$work/cppcheck.out" || true
# cppcheck gives up on a file silently but for one line; that must not pass for "no findings".
if grep -hE '^cppcheck: error|unknownMacro|syntaxError' "$work/cppcheck.txt" "$work/cppcheck.out" >&2; then
  echo "ci-static: cppcheck could not analyse the sources (see above)" >&2
  exit 1
fi

echo "ci-static: cppcheck took ${SECONDS}s; clang-tidy on ${#sources[@]} files"
SECONDS=0
: >"$work/tidy.txt"
printf '%s\n' "${sources[@]}" | xargs -P"$(nproc)" -n1 "$tidy" -p "$build" --quiet 2>/dev/null >>"$work/tidy.txt" || true
# "file:line:col: warning: message [check]" -> "clang-tidy file check message"
# (the generated skeleton header in the build tree is not ours to fix: dropped)
sed -nE 's#^'"$root"'/([^:]+):[0-9]+:[0-9]+: (warning|error): (.*) \[([^]]+)\]$#clang-tidy \1 \4 \3#p' "$work/tidy.txt" |
  grep -Ev '^clang-tidy [^ ]*/bpfgen/' | LC_ALL=C sort -u >"$work/tidy.findings" || true
sed -E 's#^cppcheck '"$root"'/#cppcheck #' "$work/cppcheck.txt" | grep '^cppcheck ' >"$work/cppcheck.findings" || true
LC_ALL=C sort "$work/cppcheck.findings" "$work/tidy.findings" >"$work/findings"
total=$(wc -l <"$work/findings")
echo "ci-static: clang-tidy took ${SECONDS}s"

if [ "${1:-}" = --update-baseline ]; then
  cp "$work/findings" "$baseline"
  echo "ci-static: wrote $baseline ($total findings)"
  exit 0
fi
LC_ALL=C sort "${baseline}" 2>/dev/null | grep -v '^#' >"$work/baseline" || true
LC_ALL=C comm -13 "$work/baseline" "$work/findings" >"$work/new"
LC_ALL=C comm -23 "$work/baseline" "$work/findings" >"$work/fixed"
if [ -s "$work/fixed" ]; then
  echo "ci-static: $(wc -l <"$work/fixed") baseline findings are gone (run with --update-baseline to drop them):"
  sed 's/^/  /' "$work/fixed"
fi
if [ -s "$work/new" ]; then
  echo "ci-static: $(wc -l <"$work/new") NEW findings (the full report with line numbers follows):" >&2
  sed 's/^/  /' "$work/new" >&2
  grep -F -f <(cut -d' ' -f4- "$work/new" | sed 's/ *$//') "$work/tidy.txt" "$work/cppcheck.txt" >&2 || true
  exit 1
fi
echo "ci-static: $total findings, all in $baseline; nothing new"
