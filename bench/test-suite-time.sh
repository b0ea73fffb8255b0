#!/usr/bin/env bash
# How long `npm test` takes in this checkout against another revision, run
# alternately in one session so that both see the same machine:
#   bench/test-suite-time.sh REV [ROUNDS]
# Each round runs the other revision's suite, then this checkout's, each
# from cold caches (prettier's and tsc's, in node_modules/.cache), as on a
# fresh clone. Prints each run's wall time and CPU time (user + sys of every
# process the run started, from the kernel's counts for reaped children),
# the medians over the runs that passed and the ratios (this checkout / REV);
# a failed run is named, never counted. On N cores a run takes at least its
# CPU time / N.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/test-suite-time.sh REV [ROUNDS]}
rounds=${2:-2}
other=$(mktemp -d)
times=$(mktemp)
trap 'git worktree remove --force "$other" >/dev/null 2>&1 || rm -rf "$other"; rm -f "$times"' EXIT
git worktree add -q --detach "$other" "$rev"
(cd "$other" && npm ci --no-audit --no-fund >/dev/null 2>&1)

run() { # dir -> "wall cpu" in seconds, or "failed"
  rm -rf "$1/node_modules/.cache/prettier" "$1/node_modules/.cache/tsc"
  local TIMEFORMAT='%R %U %S'
  if { time (cd "$1" && npm test >/dev/null 2>&1); } 2>"$times"; then
    awk '{ printf "%.1f %.1f\n", $1, $2 + $3 }' "$times"
  else
    echo failed
  fi
}
show() { if [ "$1" = failed ]; then echo failed; else echo "$1 s (CPU $2 s)"; fi; }

base_wall=() base_cpu=() here_wall=() here_cpu=()
for round in $(seq 1 "$rounds"); do
  b=$(run "$other")
  h=$(run .)
  # shellcheck disable=SC2086
  echo "round $round: $rev $(show $b), this checkout $(show $h)"
  if [ "$b" != failed ]; then read -r w c <<<"$b"; base_wall+=("$w"); base_cpu+=("$c"); fi
  if [ "$h" != failed ]; then read -r w c <<<"$h"; here_wall+=("$w"); here_cpu+=("$c"); fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v h="$1" -v b="$2" 'BEGIN { printf "%.2f", h / b }'; }
mbw=$(median "${base_wall[@]}") mhw=$(median "${here_wall[@]}")
mbc=$(median "${base_cpu[@]}") mhc=$(median "${here_cpu[@]}")
echo "median: $rev ${mbw} s (CPU ${mbc} s), this checkout ${mhw} s (CPU ${mhc} s): ratio $(ratio "$mhw" "$mbw"), CPU $(ratio "$mhc" "$mbc")"
