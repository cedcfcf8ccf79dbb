#!/usr/bin/env bash
# Runs every case of cases.txt with a binary and writes NAME.out (stdout)
# into OUT; with two binaries, runs both and diffs. Usage:
#   compare.sh BIN OUT_DIR            outputs of one binary (e.g. main's)
#   compare.sh OLD_BIN NEW_BIN        both, then `diff -r`; exit 1 on a difference
# Extra captures (e.g. a fresh record-captures.sh run) can be added with
# CAPTURES=DIR: each DIR/*.cap is replayed in every format and reported.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
abs() { [[ "$1" = /* ]] && echo "$1" || echo "$PWD/$1"; }
set -- "$(abs "$1")" "$(abs "$2")"
run_all() { # BIN OUT
  local bin=$1 out=$2; mkdir -p "$out"
  while read -r name args; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    read -ra argv <<<"$args"
    for i in "${!argv[@]}"; do
      if [[ "${argv[$i]}" == --filter ]]; then
        local key=${argv[$((i+1))]}
        argv[$((i+1))]=$(awk -v k="$key" '$1==k {sub(/^[^ ]+ /,""); print}' "$HERE/filters.txt")
      fi
    done
    (cd "$HERE/captures" && "$bin" "${argv[@]}" >"$out/$name.out" 2>"$out/$name.err") || echo "exit $?" >>"$out/$name.err"
  done <"$HERE/cases.txt"
  if [[ -n "${CAPTURES:-}" ]]; then
    for cap in "$CAPTURES"/*.cap; do
      local b; b=$(basename "$cap" .cap)
      for f in human json ecs ocsf; do "$bin" replay -r "$cap" --format "$f" >"$out/extra-$b-$f.out" 2>&1 || true; done
      for r in sessions sources users; do "$bin" report -r "$cap" --json $r >"$out/extra-$b-$r.out" 2>&1 || true; done
    done
  fi
}
if [[ -x "$2" && ! -d "$2" ]]; then
  tmp=$(mktemp -d); run_all "$1" "$tmp/old"; run_all "$2" "$tmp/new"
  if diff -r "$tmp/old" "$tmp/new" >"$tmp/diff"; then echo "identical: $(ls "$tmp/old" | wc -l) outputs"; rm -rf "$tmp"
  else head -50 "$tmp/diff"; echo "DIFFERENT (full diff in $tmp/diff)"; exit 1; fi
else
  run_all "$1" "$2"
fi
