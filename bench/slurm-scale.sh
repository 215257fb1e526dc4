#!/usr/bin/env bash
# The Slurm executor at scale (issue 22), on the one-node test cluster of .ci/slurm-up, with the
# end-to-end tests' stand-in engine (Tests/EndToEndTests/Fixtures/engine.sh: one epoch of no
# sleep, then metrics.json). Every `sweep` runs in a fresh workspace unless said otherwise.
#
#   1. 1,000 runs with the local executor                        (the reference)
#   1b. 100 runs through Slurm, runs_per_task: 1                  (Slurm's cost per task)
#   2. 1,000 runs through Slurm, runs_per_task: 50               (target < 60 s)
#   3. 1,000 other runs through Slurm, packing derived from the history of step 2's runs
#   4. 12,000 runs with the local executor, and the same 12,000 through Slurm (--wait, packing
#      derived from a 100-run history) in another workspace: the ledgers are compared
#   5. the 12,000 runs through Slurm with runs_per_task: 1: more array tasks than MaxJobCount
#      allows, so nothing is submitted and the error says why
#   6. with SWEEP_BENCH_SPLIT=1: the 12,000 runs at runs_per_task: 10 through Slurm: 1,200
#      tasks in two arrays at MaxArraySize 1001 (many minutes: Slurm's cost per task)
#
# SWEEP_BENCH_STEPS=1,1b,2,3,4,5,6 picks steps (default: all but 6 unless SWEEP_BENCH_SPLIT is set).
# Usage: SLURM_CONF=... bench/slurm-scale.sh [sweep binary] [scratch dir]
# (default: the debug build's sweep; prints what it measured as Markdown lines)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sweep=$(realpath "${1:-$(swift build --show-bin-path)/sweep}")
scratch=${2:-$(mktemp -d /tmp/sweep-slurm-bench.XXXXXX)}
mkdir -p "$scratch"
: "${SLURM_CONF:?start the test cluster with .ci/slurm-up and export the SLURM_CONF it prints}"

# manifest FILE NAME RUNS [executor line] [variant]: RUNS runs of group `short` (scores x 10, or
# x 12 values of b); a variant (a config key the engine ignores) makes other runs of the same group.
manifest() {
    local file=$1 name=$2 runs=$3 extra=${4:-} variant=${5:-}
    local per=$(( runs >= 12000 ? 1000 : runs / 10 )) values=$(( runs >= 12000 ? 12 : 10 ))
    {
        echo "name: $name"
        echo "engine:"
        echo "  command: [$root/Tests/EndToEndTests/Fixtures/engine.sh, --config, \"{config}\", --out, \"{out}\"]"
        echo "executor:"
        echo "  retries: 0"
        [ -n "$extra" ] && echo "  $extra"
        echo "defaults: {epochs: 1, epoch_seconds: 0${variant:+, variant: $variant}}"
        echo "seeds: [0]"
        echo "groups:"
        echo "  short:"
        echo "    grid:"
        echo "      score: [$(seq -s ', ' 0 $((per - 1)))]"
        echo "      b: [$(seq -s ', ' 0 $((values - 1)))]"
    } > "$file"
}

# timed LABEL COMMAND...: runs it in $scratch, prints the wall time.
timed() {
    local label=$1; shift
    local start end
    start=$(date +%s.%N)
    (cd "$scratch" && "$@") > "$scratch/$label.log" 2>&1 || { echo "$label failed:"; tail -n 20 "$scratch/$label.log"; return 1; }
    end=$(date +%s.%N)
    printf -- '- %s: %.1f s\n' "$label" "$(echo "$end - $start" | bc)"
}

ledger() { # WORKSPACE: each run's id, state, attempts, failures, exit code and task metrics (not the history's)
    sqlite3 "$scratch/$1/ledger.sqlite" "SELECT id, status, attempts, failures, exit_code, json_extract(metrics, '\$.tasks')
        FROM run WHERE json_extract(config, '\$.variant') IS NULL ORDER BY id"
}

manifest "$scratch/k1.yaml" k1 1000
manifest "$scratch/k1-packed.yaml" k1 1000 "runs_per_task: 50"
manifest "$scratch/k1-other.yaml" k1-other 1000 "" other
manifest "$scratch/k12.yaml" k12 12000
manifest "$scratch/k12-one.yaml" k12 12000 "runs_per_task: 1"
manifest "$scratch/history.yaml" history 100 "" history
steps=${SWEEP_BENCH_STEPS:-1,1b,2,3,4,5${SWEEP_BENCH_SPLIT:+,6}}
step() { [[ ",$steps," == *",$1,"* ]]; }
manifest "$scratch/h1.yaml" h1 100 "runs_per_task: 1" unpacked

echo "sweep: $sweep; scratch: $scratch; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
scontrol show config | grep -E '^(MaxArraySize|MaxJobCount|MinJobAge) '
if step 1; then timed "1,000 runs, local executor" "$sweep" run k1.yaml --workspace .sweep-local --skip-config-check; fi
if step 1b; then timed "100 runs, Slurm, runs_per_task 1" "$sweep" run h1.yaml --workspace .sweep-h1 --executor slurm --wait --poll 1 --skip-config-check; fi
if step 2; then
timed "1,000 runs, Slurm, runs_per_task 50" "$sweep" run k1-packed.yaml --workspace .sweep-slurm --executor slurm --wait --poll 1 --skip-config-check
grep -h "submitted Slurm job" "$scratch/1,000 runs, Slurm, runs_per_task 50.log" | sed 's/^/    /'
fi
if step 3; then
timed "1,000 other runs, Slurm, packing derived from that history" "$sweep" run k1-other.yaml --workspace .sweep-slurm --executor slurm --wait --poll 1 --skip-config-check
grep -h "submitted Slurm job" "$scratch/1,000 other runs, Slurm, packing derived from that history.log" | sed 's/^/    /'
fi
if step 4; then

timed "12,000 runs, local executor" "$sweep" run k12.yaml --workspace .sweep-local12 --skip-config-check
timed "100-run history, local executor" "$sweep" run history.yaml --workspace .sweep-slurm12 --skip-config-check
timed "12,000 runs, Slurm --wait, packing derived" "$sweep" run k12.yaml --workspace .sweep-slurm12 --executor slurm --wait --poll 2 --skip-config-check
grep -h "submitted Slurm job" "$scratch/12,000 runs, Slurm --wait, packing derived.log" | sed 's/^/    /'
ledger .sweep-local12 > "$scratch/ledger-local12.txt"
ledger .sweep-slurm12 > "$scratch/ledger-slurm12.txt"
if cmp -s "$scratch/ledger-local12.txt" "$scratch/ledger-slurm12.txt"; then
    echo "- the 12,000 runs' ledger rows (id, state, attempts, failures, exit code, metrics) are identical: $(wc -l < "$scratch/ledger-local12.txt") rows"
else
    echo "- the ledgers differ:"; diff "$scratch/ledger-local12.txt" "$scratch/ledger-slurm12.txt" | head
fi
fi
if step 5; then
if (cd "$scratch" && "$sweep" run k12-one.yaml --workspace .sweep-one --executor slurm --skip-config-check) > "$scratch/one.log" 2>&1; then
    echo "- 12,000 tasks were accepted (MaxJobCount allowed them)"
else
    echo "- 12,000 runs at runs_per_task 1: $(grep -h 'error:' "$scratch/one.log")"
fi
fi

if step 6; then
    manifest "$scratch/k12-ten.yaml" k12 12000 "runs_per_task: 10"
    timed "12,000 runs, Slurm, runs_per_task 10" "$sweep" run k12-ten.yaml --workspace .sweep-split --executor slurm --wait --poll 5 --skip-config-check
    grep -h "submitted Slurm job" "$scratch/12,000 runs, Slurm, runs_per_task 10.log" | sed 's/^/    /'
    ledger .sweep-split | cmp -s - "$scratch/ledger-local12.txt" && echo "- its ledger rows are identical to the local executor's"
fi
