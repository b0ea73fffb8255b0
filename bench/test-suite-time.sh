#!/usr/bin/env bash
# How long `npm test` takes in this checkout against another revision, run
# alternately in one session so that both see the same machine:
#   bench/test-suite-time.sh REV [ROUNDS]
# Each round runs the other revision's suite, then this checkout's, each
# from cold caches (prettier's and tsc's, in node_modules/.cache), as on a
# fresh clone. Prints each run's wall time, the medians over the runs that
# passed and the ratio (this checkout / REV); a failed run is named, never
# counted.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/test-suite-time.sh REV [ROUNDS]}
rounds=${2:-2}
other=$(mktemp -d)
trap 'git worktree remove --force "$other" >/dev/null 2>&1 || rm -rf "$other"' EXIT
git worktree add -q --detach "$other" "$rev"
(cd "$other" && npm ci --no-audit --no-fund >/dev/null 2>&1)

run() { # dir -> seconds, or "failed"
  local start end
  rm -rf "$1/node_modules/.cache/prettier" "$1/node_modules/.cache/tsc"
  start=$(date +%s.%N)
  if (cd "$1" && npm test >/dev/null 2>&1); then
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f\n", e - s }'
  else
    echo failed
  fi
}

base=() here=()
for round in $(seq 1 "$rounds"); do
  b=$(run "$other")
  h=$(run .)
  echo "round $round: $rev ${b} s, this checkout ${h} s"
  base+=("$b") here+=("$h")
done
median() { printf '%s\n' "$@" | grep -v failed | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mb=$(median "${base[@]}") mh=$(median "${here[@]}")
echo "median: $rev ${mb} s, this checkout ${mh} s, ratio $(awk -v h="$mh" -v b="$mb" 'BEGIN { printf "%.2f", h / b }')"
