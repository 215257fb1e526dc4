#!/usr/bin/env bash
# Orchestrator benchmarks (issue 2), with a no-op engine so that only sweep's own work is timed:
#   1. `sweep plan` of a 100,000-run and of a 1,000,000-run grid: wall time and peak RSS
#                                                                    (target < 2 s, < 300 MB)
#   2. `sweep run` of 1,000 no-op runs: wall time per run             (target < 20 ms)
#   3. `sweep status` on a 10,000-run ledger                          (target < 300 ms)
# Usage: bench/orchestrator.sh [scratch dir]    (release build; prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# A scratch path of its own, so the release build does not wait on (or disturb) a debug one.
swift build -c release --scratch-path .build-release --product sweep >&2
sweep="$(swift build -c release --scratch-path .build-release --show-bin-path)/sweep"
scratch=${1:-$(mktemp -d /tmp/sweep-bench.XXXXXX)}
mkdir -p "$scratch"
cd "$scratch"
rm -rf .sweep-* results

# The no-op engine: writes a minimal metrics.json atomically and exits.
cat > noop-engine.sh <<'SH'
#!/bin/sh
out="$4"
printf '{"engine_version":"noop","tasks":{},"parameters":{"trainable":0,"total":0,"decoder":0,"backbone":0},"gmacs":0,"epoch_seconds":[0.001],"artifacts":{},"extra":{}}' > "$out/.metrics.tmp"
mv "$out/.metrics.tmp" "$out/metrics.json"
SH
chmod +x noop-engine.sh

# manifest NAME AXES SEEDS: a grid of AXES axes of 10 values each, times SEEDS seeds.
manifest() {
    local name=$1 axes=$2 seeds=$3
    {
        echo "name: $name"
        echo "engine:"
        echo "  command: [./noop-engine.sh, --config, \"{config}\", --out, \"{out}\"]"
        echo "seeds: [$(seq -s, 0 $((seeds - 1)))]"
        echo "groups:"
        echo "  grid:"
        echo "    grid:"
        for axis in $(seq 1 "$axes"); do echo "      axis$axis: [$(seq -s, 0 9)]"; done
    } > "$name.yaml"
}

seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# 1. Planning 100,000 runs (10^4 grid points x 10 seeds) and 1,000,000 (10^5 x 10), no ledger yet.
# plan NAME: prints "RUNS SECONDS PEAK_MB".
plan() {
    /usr/bin/time -v "$sweep" plan "$1.yaml" --workspace .sweep-plan > "$1.out" 2> "$1.time"
    local runs seconds rss
    runs=$(sed -n "s/.*sweep \"$1\", \([0-9]*\) runs/\1/p" "$1.out")
    seconds=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1.time" | awk -F: '{ print $(NF-1) * 60 + $NF }')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$1.time" | awk '{ printf "%.0f", $1 / 1024 }')
    echo "$runs $seconds $rss"
}
manifest plan100k 4 10
manifest plan1m 5 10
plan_results="$(plan plan100k)"$'\n'"$(plan plan1m)"

# 2. Scheduling 1,000 no-op runs (10^2 grid points x 10 seeds), one slot and two.
manifest run1k 2 10
noop_start=$(seconds)
mkdir -p noop-dir
for _ in $(seq 1000); do ./noop-engine.sh --config /dev/null --out noop-dir; done
noop_per_run=$(awk -v t="$(elapsed "$noop_start" "$(seconds)")" 'BEGIN { printf "%.1f", 1000 * t / 1000 }')
run_results=""
for slots in 1 2; do
    start=$(seconds)
    "$sweep" run run1k.yaml --workspace ".sweep-run$slots" --slots "$slots" --threads 1 > "run$slots.out" 2> "run$slots.err"
    total=$(elapsed "$start" "$(seconds)")
    succeeded=$("$sweep" status --workspace ".sweep-run$slots" --json | grep -c '"state" : "succeeded"')
    run_results+="$slots $total $succeeded"$'\n'
done

# 3. Status of a 10,000-run ledger (10^3 grid points x 10 seeds, all run by the no-op engine).
manifest status10k 3 10
"$sweep" run status10k.yaml --workspace .sweep-status --slots 2 --threads 1 > status-run.out 2> status-run.err
status_runs=$("$sweep" status --workspace .sweep-status --json | grep -c '"state" : "succeeded"')
"$sweep" status --workspace .sweep-status > /dev/null    # warm the page cache
status_times=""
for _ in $(seq 10); do
    start=$(seconds)
    "$sweep" status --workspace .sweep-status > status.out
    status_times+="$(elapsed "$start" "$(seconds)")"$'\n'
done
status_median=$(echo -n "$status_times" | sort -n | awk '{ v[NR] = $1 } END { printf "%.3f", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }')
status_max=$(echo -n "$status_times" | sort -n | tail -n 1)
/usr/bin/time -v "$sweep" status --workspace .sweep-status > /dev/null 2> status.time
status_rss_mb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' status.time | awk '{ printf "%.0f", $1 / 1024 }')

cat <<MD
Measured on $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m)), release build, workspace in $scratch.

| benchmark | target | measured |
|---|---|---|
$(echo "$plan_results" | while read -r runs seconds rss; do
    echo "| \`sweep plan\` of a $runs-run grid (no ledger) | < 2 s, < 300 MB | ${seconds} s, ${rss} MB peak RSS |"
done)
$(echo -n "$run_results" | while read -r slots total succeeded; do
    per_run=$(awk -v t="$total" -v n="$succeeded" 'BEGIN { printf "%.1f", 1000 * t / n }')
    echo "| \`sweep run\` of 1,000 no-op runs, --slots $slots ($succeeded succeeded) | < 20 ms per run | ${total} s in all, ${per_run} ms per run |"
done)
| \`sweep status\` on a $status_runs-run ledger (10 runs) | < 300 ms | median ${status_median} s, max ${status_max} s, ${status_rss_mb} MB peak RSS |

The no-op engine alone, started 1,000 times in a row by a shell loop: ${noop_per_run} ms per start
(included in the \`sweep run\` figures).
MD
