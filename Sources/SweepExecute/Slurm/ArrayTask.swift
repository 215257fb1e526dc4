import Foundation
import RunContract
import SweepCore

/// What an array task needs to run one run, on a node that has the workspace (a shared file
/// system) but not the ledger: the batch script, and two files sweep leaves in each run directory.
/// The script is bash, the same for every submission; everything specific to a run comes from
/// files and arguments, so no path is ever quoted into shell text.
enum ArrayTask {
    /// The engine's argument vector, NUL-separated, placeholders substituted.
    static let commandFile = "slurm-command"
    /// The run ids this run needs, one per line: the task starts the engine only when each of
    /// them has a metrics.json and no failed exit status.
    static let needsFile = "slurm-needs"
    /// "job=1234_7": written when the task starts the run's engine.
    static let startedFile = "slurm-started"

    /// Whether array task `job` has started this run (a packed run waits for the ones before it).
    static func started(in directory: URL, job: String) -> Bool {
        (try? String(contentsOf: directory.appendingPathComponent(startedFile), encoding: .utf8)) == "job=\(job)\n"
    }

    /// Writes the run's command and dependencies into its directory.
    static func prepare(_ run: PlannedRun, in directory: URL, command: [String]) throws {
        var argv = Data()
        for argument in command {
            argv.append(Data(argument.utf8))
            argv.append(0)
        }
        try ContractJSON.writeAtomically(argv, to: directory.appendingPathComponent(commandFile))
        let needs = run.needs.values.map(\.rawValue).sorted().map { $0 + "\n" }.joined()
        try ContractJSON.writeAtomically(Data(needs.utf8), to: directory.appendingPathComponent(needsFile))
    }

    /// `sbatch ... array-task.sh RUNS_DIR TASK_LIST`: TASK_LIST has a line "INDEX RUN_ID..." per
    /// array index, the runs that task runs in turn; a run's directory is RUNS_DIR/RUN_ID.
    /// Threads follow --cpus-per-task.
    static let script = #"""
        #!/bin/bash
        # Written by sweep (docs/slurm.md): array task SLURM_ARRAY_TASK_ID runs its runs of a sweep
        # one after the other, each following the run contract in its own run directory, and
        # records how each ended in RUN_DIR/exit-status.
        set -u
        runs=$1 list=$2
        index=${SLURM_ARRAY_TASK_ID:?sweep: not a Slurm array task}
        job=${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-?}}_$index
        read -r -a ids <<< "$(awk -v i="$index" '$1 == i { $1 = ""; print; exit }' "$list")"
        if [ "${#ids[@]}" -eq 0 ]; then
            echo "sweep: array index $index of $list names no run" >&2
            exit 2
        fi

        record() { # RUN_DIR key=value...: written atomically
            local dir=$1; shift
            printf '%s\n' "$@" "job=$job" > "$dir/.exit-status.tmp" && mv -f "$dir/.exit-status.tmp" "$dir/exit-status"
        }
        # Builtins where a packed task would fork for every run: the time, the dependency check.
        stamp() { TZ=UTC printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
        host=$(hostname)

        threads=${SLURM_CPUS_PER_TASK:-1}
        export MTL_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads

        # Slurm signals every process of the job (time limit, preemption, scancel); the engine
        # checkpoints and exits, the task waits for it, records that it was stopped, and starts
        # none of its later runs (they stay resumable).
        terminated="" engine="" worst=0
        trap 'terminated=1; [ -n "$engine" ] && kill -TERM "$engine" 2>/dev/null' TERM INT

        # A dependency that did not succeed: the engine is not started (its artifacts are missing).
        unmet() { # RUN_DIR: sets need to the first run it needs that did not succeed
            need=""
            local each
            while read -r each; do
                [ -n "$each" ] || continue
                if [ ! -f "$runs/$each/metrics.json" ] \
                    || { [ -f "$runs/$each/exit-status" ] && ! grep -qx 'exit_code=0' "$runs/$each/exit-status"; }; then
                    need=$each; return
                fi
            done < "$1/slurm-needs"
        }

        for id in "${ids[@]}"; do
            dir=$runs/$id
            if [ ! -d "$dir" ]; then
                echo "sweep: array index $index of $list names $id, which has no run directory" >&2
                worst=2; continue
            fi
            if [ -n "$terminated" ]; then record "$dir" "not_started=1" "terminated=1"; continue; fi
            # A requeued task does not run again what it already finished.
            if [ -f "$dir/metrics.json" ] && [ -f "$dir/exit-status" ] && grep -qx "job=$job" "$dir/exit-status" \
                && grep -qx 'exit_code=0' "$dir/exit-status"; then
                continue
            fi
            rm -f "$dir/exit-status"
            unmet "$dir"
            if [ -n "$need" ]; then
                stamp
                echo "==== sweep $now slurm job $job: not started, run $need it needs did not succeed" >> "$dir/stderr.log"
                record "$dir" "skipped=$need"
                continue
            fi
            mapfile -d '' argv < "$dir/slurm-command"
            stamp
            header="==== sweep $now slurm job $job on $host, $threads thread(s): ${argv[*]}"
            echo "$header" >> "$dir/stdout.log"
            echo "$header" >> "$dir/stderr.log"
            echo "job=$job" > "$dir/slurm-started"
            (cd "$dir" && exec "${argv[@]}") >> "$dir/stdout.log" 2>> "$dir/stderr.log" &
            engine=$!
            wait "$engine"; status=$?
            if [ -n "$terminated" ]; then wait "$engine"; status=$?; fi
            engine=""
            if [ -n "$terminated" ]; then
                record "$dir" "exit_code=$status" "terminated=1"
            else
                record "$dir" "exit_code=$status"
            fi
            [ "$status" -eq 0 ] || worst=$status
        done
        if [ -n "$terminated" ]; then exit 143; fi
        exit "$worst"
        """#
}

/// `--array` index lists: sorted, with runs of consecutive indices as ranges ("0-4,7,9-12").
enum ArrayIndices {
    static func compact(_ indices: [Int]) -> String {
        let sorted = Array(Set(indices)).sorted()
        var parts: [String] = []
        var start = 0
        while start < sorted.count {
            var end = start
            while end + 1 < sorted.count && sorted[end + 1] == sorted[end] + 1 { end += 1 }
            parts.append(end == start ? "\(sorted[start])" : "\(sorted[start])-\(sorted[end])")
            start = end + 1
        }
        return parts.joined(separator: ",")
    }

    /// The indices of a list `compact` wrote (a "%N" limit is ignored).
    static func expand(_ text: String) -> [Int] {
        let list = text.split(separator: "%").first.map(String.init) ?? ""
        return list.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            switch bounds.count {
            case 1: return [bounds[0]]
            case 2 where bounds[0] <= bounds[1]: return Array(bounds[0] ... bounds[1])
            default: return []
            }
        }
    }
}
