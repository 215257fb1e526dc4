#!/bin/bash
# kill -9 trials (issue 20, item 4): start `sweep run MANIFEST --profile smoke` in a fresh
# workspace, SIGKILL sweep at a random moment while engines run, wait until the orphaned engines
# have ended on their own, then run the same command again and count the runs it executed again
# although their orphaned engine had finished (metrics.json present before the second sweep).
# Usage: bench/kill9-orphans.sh SWEEP_BIN TRIALS OUT_DIR [manifest]
set -u
sweep=$1 trials=$2 out=$3 manifest=${4:-$(cd "$(dirname "$0")/.." && pwd)/experiments/ablation.yaml}
mkdir -p "$out"
total_reruns=0 total_finished=0
for trial in $(seq 1 "$trials"); do
    ws=$out/ws-$trial
    rm -rf "$ws"
    "$sweep" run "$manifest" --profile smoke --workspace "$ws" --results "$out/results-$trial" > "$out/first-$trial.log" 2>&1 &
    pid=$!
    delay=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.1f", 4 + rand() * 12 }')
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    # Orphaned engines run on: wait for every process working in this workspace to end.
    while pgrep -f -- "$ws/runs" > /dev/null; do sleep 0.5; done
    # Orphans: runs the ledger still holds as running (sweep status marks them interrupted) whose
    # engine wrote metrics.json after sweep died.
    finished=()
    for id in $("$sweep" status --workspace "$ws" --json 2>/dev/null | python3 -c '
import json, sys
for sweep in json.load(sys.stdin)["sweeps"]:
    for run in sweep["runs"]:
        if run["state"] == "interrupted": print(run["id"])'); do
        [ -f "$ws/runs/$id/metrics.json" ] && finished+=("$ws/runs/$id")
    done
    declare -A headers=()
    for dir in "${finished[@]}"; do headers[$dir]=$(grep -c '^==== sweep' "$dir/stdout.log"); done
    "$sweep" run "$manifest" --profile smoke --workspace "$ws" --results "$out/results-$trial" > "$out/second-$trial.log" 2>&1
    reruns=0
    for dir in "${finished[@]}"; do
        now=$(grep -c '^==== sweep' "$dir/stdout.log")
        [ "$now" -gt "${headers[$dir]}" ] && reruns=$((reruns + 1))
    done
    adopted=$(grep -o '[0-9]* run(s) whose engine finished' "$out/second-$trial.log" | grep -o '^[0-9]*' || true)
    unset headers
    echo "trial $trial: killed after ${delay}s, $(ls -d "$ws"/runs/*/ 2>/dev/null | wc -l) run dirs, ${#finished[@]} orphans whose engine finished, $reruns of them run again, adopted: ${adopted:-0}"
    total_reruns=$((total_reruns + reruns)); total_finished=$((total_finished + ${#finished[@]}))
    rm -rf "$ws"
done
echo "TOTAL: $trials trials, $total_finished orphans whose engine finished, $total_reruns run again"
