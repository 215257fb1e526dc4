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

    /// `sbatch ... array-task.sh RUNS_DIR TASK_LIST`: TASK_LIST has a line "INDEX RUN_ID" per array
    /// index; the run directory is RUNS_DIR/RUN_ID. Threads follow --cpus-per-task.
    static let script = #"""
        #!/bin/bash
        # Written by sweep (docs/slurm.md): array task SLURM_ARRAY_TASK_ID runs one run of a sweep
        # following the run contract, and records how it ended in RUN_DIR/exit-status.
        set -u
        runs=$1 list=$2
        index=${SLURM_ARRAY_TASK_ID:?sweep: not a Slurm array task}
        job=${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-?}}_$index
        id=$(awk -v i="$index" '$1 == i { print $2; exit }' "$list")
        dir=$runs/$id
        if [ -z "$id" ] || [ ! -d "$dir" ]; then
            echo "sweep: array index $index of $list names no run directory" >&2
            exit 2
        fi
        cd "$dir" || exit 2
        rm -f exit-status

        record() { # key=value lines, written atomically
            printf '%s\n' "$@" "job=$job" > .exit-status.tmp && mv -f .exit-status.tmp exit-status
        }
        stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }

        # A dependency that did not succeed: the engine is not started (its artifacts are missing).
        while read -r need; do
            [ -n "$need" ] || continue
            if [ ! -f "$runs/$need/metrics.json" ] \
                || { [ -f "$runs/$need/exit-status" ] && ! grep -qx 'exit_code=0' "$runs/$need/exit-status"; }; then
                echo "==== sweep $(stamp) slurm job $job: not started, run $need it needs did not succeed" >> stderr.log
                record "skipped=$need"
                exit 0
            fi
        done < slurm-needs

        threads=${SLURM_CPUS_PER_TASK:-1}
        export MTL_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
        mapfile -d '' argv < slurm-command
        header="==== sweep $(stamp) slurm job $job on $(hostname), $threads thread(s): ${argv[*]}"
        echo "$header" >> stdout.log
        echo "$header" >> stderr.log

        # Slurm signals every process of the job (time limit, preemption, scancel); the engine
        # checkpoints and exits, and the task waits for it before recording that it was stopped.
        terminated="" engine=""
        trap 'terminated=1; [ -n "$engine" ] && kill -TERM "$engine" 2>/dev/null' TERM INT
        "${argv[@]}" >> stdout.log 2>> stderr.log &
        engine=$!
        wait "$engine"; status=$?
        if [ -n "$terminated" ]; then wait "$engine"; status=$?; fi
        if [ -n "$terminated" ]; then
            record "exit_code=$status" "terminated=1"
        else
            record "exit_code=$status"
        fi
        exit "$status"
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
