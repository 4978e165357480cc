#!/usr/bin/env bash
# Run the rows of a sweep file, JOBS at a time, one CPU thread each. Finished rows are kept and unfinished
# ones resumed from their checkpoint, so a sweep can be stopped and started again.
# usage: experiments/sweep.sh ROWS_FILE OUT [JOBS]
# ROWS_FILE: one row per line, "NAME | COMMAND ARGS..." (blank lines and # comments ignored); COMMAND is
# uda_train or experiments/defects.py, and the runner adds --out OUT --name NAME --quiet (or --resume OUT/NAME).
set -uo pipefail
rows=$1; out=$2; jobs=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd); py=$root/.venv/bin/python
run_row() {
  local name=$1 cmd=$2 dir=$out/$1 exe args
  read -ra args <<< "$cmd"
  case ${args[0]} in
    uda_train) exe=("$root/.venv/bin/uda_train") ;;
    *) exe=("$py" "$root/${args[0]}") ;;
  esac
  if [ -f "$dir/final.json" ]; then echo "$name: finished, kept"; return; fi
  if [ -f "$dir/checkpoint.pt" ]; then set -- "${exe[@]}" --resume "$dir"
  else set -- "${exe[@]}" "${args[@]:1}" --out "$out" --name "$name"; fi
  OMP_NUM_THREADS=1 "$@" --quiet > "$out/$name.log" 2>&1
  echo "$name: exit $?"
}
mkdir -p "$out"
while IFS='|' read -r name cmd; do
  name=${name//[[:space:]]/}; cmd=${cmd#"${cmd%%[![:space:]]*}"}      # trim (names have no spaces)
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  run_row "$name" "$cmd" &
done < "$rows"
wait
