#!/usr/bin/env bash
# A stand-in engine for the end-to-end tests: it honours docs/run-contract.md with bash, sed
# and awk only (CI machines may lack python). It is a test fixture, not a feature of sweep.
#
#   engine.sh --config RUN_DIR/config.json --out RUN_DIR
#
# Config keys it reads (all optional):
#   epochs         epochs to "train" (default 2)
#   epoch_seconds  seconds each epoch sleeps (default 0.05)
#   score          the semseg value it reports; seed/10 is added (default 50)
#   fail           a message: the run fails with it on stderr, exit code 3
#   fail_attempts  fail (exit 4) on this many first attempts, then succeed
#   needs_file     a path that must exist (a dependency's artifact), else exit 5
#
# Environment: ENGINE_FIXTURE_LOG names a file shared by all runs; each start, epoch, failure,
# termination and end appends a line "EVENT RUN_ID" to it (the tests count executions there).
set -u

config="" out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --config) config="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "engine.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
[ -f "$config" ] && [ -d "$out" ] || { echo "engine.sh: usage: --config FILE --out DIR" >&2; exit 64; }

# The value of a top-level key of the canonical (one-line, sorted) config: a number, true/false,
# or a string without its quotes.
value() {
    sed -n "s/.*\"$1\":\(\"\([^\"]*\)\"\|\([^,}]*\)\).*/\2\3/p" "$config" | head -n 1
}

epochs=$(value epochs); epochs=${epochs:-2}
epoch_seconds=$(value epoch_seconds); epoch_seconds=${epoch_seconds:-0.05}
score=$(value score); score=${score:-50}
seed=$(value seed); seed=${seed:-0}
fail=$(value fail)
fail_attempts=$(value fail_attempts); fail_attempts=${fail_attempts:-0}
needs_file=$(value needs_file)
log=${ENGINE_FIXTURE_LOG:-}
id=$(basename "$out")

note() { [ -n "$log" ] && echo "$* $id" >> "$log"; return 0; }

# Attempts are counted in the run directory, so "fail on the first N attempts" survives restarts.
attempt=$(( $(cat "$out/attempts" 2>/dev/null || echo 0) + 1 ))
echo "$attempt" > "$out/attempts"

first_epoch=$(cat "$out/checkpoint" 2>/dev/null || echo 0)
note "start"
echo "engine.sh: run $id attempt $attempt from epoch $first_epoch of $epochs"

stopping=0 sleeper=""
trap 'stopping=1; kill "$sleeper" 2>/dev/null' TERM

if [ -n "$needs_file" ] && [ ! -e "$needs_file" ]; then
    echo "engine.sh: the artifact $needs_file this run needs does not exist" >&2
    note "failed"
    exit 5
fi
if [ -n "$fail" ]; then
    echo "engine.sh: loading data" >&2
    echo "engine.sh: error: $fail" >&2
    note "failed"
    exit 3
fi
if [ "$attempt" -le "$fail_attempts" ]; then
    echo "engine.sh: error: attempt $attempt fails on purpose" >&2
    note "failed"
    exit 4
fi

started=$(date +%s.%N)
seconds_list=$(cat "$out/epoch-seconds" 2>/dev/null || true)
epoch=$first_epoch
while [ "$epoch" -lt "$epochs" ]; do
    epoch_start=$(date +%s.%N)
    # Sleeping in the background lets the TERM trap run at once rather than after the sleep.
    sleep "$epoch_seconds" & sleeper=$!; wait $sleeper
    if [ "$stopping" = 1 ]; then
        echo "engine.sh: SIGTERM during epoch $epoch; checkpoint keeps $epoch epochs" >&2
        note "terminated"
        exit 143
    fi
    epoch=$((epoch + 1))
    now=$(date +%s.%N)
    took=$(awk -v a="$epoch_start" -v b="$now" 'BEGIN { printf "%.4f", b - a }')
    seconds_list="${seconds_list:+$seconds_list,}$took"
    echo "$seconds_list" > "$out/epoch-seconds.tmp" && mv "$out/epoch-seconds.tmp" "$out/epoch-seconds"
    echo "$epoch" > "$out/checkpoint.tmp" && mv "$out/checkpoint.tmp" "$out/checkpoint"
    elapsed=$(awk -v a="$started" -v b="$now" 'BEGIN { printf "%.4f", b - a }')
    loss=$(awk -v e="$epoch" 'BEGIN { printf "%.4f", 1 / (1 + e) }')
    echo "{\"epoch\":$epoch,\"epochs\":$epochs,\"step\":4,\"steps\":4,\"loss\":$loss,\"elapsed\":$elapsed,\"phase\":\"train\"}" \
        >> "$out/progress.jsonl"
    note "epoch-$epoch"
done

value=$(awk -v s="$score" -v seed="$seed" 'BEGIN { printf "%.4f", s + seed / 10 }')
echo "weights of $id" > "$out/weights.bin"
cat > "$out/.metrics.json.tmp" <<JSON
{"engine_version":"engine.sh 1","tasks":{"semseg":{"name":"mIoU","value":$value,"direction":"higher"},"normals":{"name":"mean angle","value":$(awk -v v="$value" 'BEGIN { printf "%.4f", 100 - v }'),"direction":"lower"}},"parameters":{"trainable":1500000,"total":28000000,"decoder":500000,"backbone":27500000},"gmacs":4.5,"epoch_seconds":[$seconds_list],"artifacts":{"weights":"weights.bin"},"extra":{}}
JSON
mv "$out/.metrics.json.tmp" "$out/metrics.json"
note "done"
exit 0
