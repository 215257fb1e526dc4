import ArgumentParser
import Foundation
import SweepCore
import SweepExecute
import SweepLedger

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run (or resume) every run of a manifest that is not done, then write its tables.",
        discussion: """
            Runs start as soon as the runs they need have succeeded, at most --slots at a time, \
            each with --threads threads (slots x threads <= cores unless both are given). Every \
            run is recorded in the workspace's ledger, so running the same command again resumes: \
            succeeded runs are skipped, interrupted ones continue from their checkpoint, failed \
            ones are tried again while their failures are within the retry budget. Two `sweep run` \
            processes on one workspace share the work: no run is executed twice.

            Ctrl-C (or SIGTERM) stops launching, stops the running engines gracefully and records \
            them as interrupted; a second Ctrl-C kills them at once.

            A failed run's dependents are skipped with the reason and the rest of the grid goes \
            on (--fail-fast stops launching instead). Exit status: 0 when every run succeeded, \
            1 when some failed, were skipped or did not start, 2 for a malformed manifest, \
            a config the engine rejects (every config is checked first) or a table layout \
            without templates (nothing starts), 128+N when stopped by signal N (130 for Ctrl-C).

            Examples:
              sweep run experiments/ablation.yaml
              sweep run experiments/ablation.yaml --slots 2 --threads 1
              sweep run experiments/ablation.yaml epochs=1 seeds=[0] --profile smoke
              sweep run experiments/ablation.yaml --dry-run       # what would start
              sweep run experiments/ablation.yaml --retry-failed  # fresh budget
              sweep run experiments/ablation.yaml --rerun         # all, from scratch
              sweep run experiments/ablation.yaml --timeout 3600 --fail-fast
              sweep run experiments/ablation.yaml --executor slurm         # submit
              sweep run experiments/ablation.yaml --executor slurm --wait  # and follow

            Progress goes to standard error. On a terminal: one line per running run \
            (epoch, loss, ETA from its progress.jsonl) and the totals, redrawn in place. \
            In a log (not a terminal): a line per start and end, a status line when a \
            run reaches a new epoch, and otherwise one a minute. The overall ETA comes \
            from this workspace's past runs of each group (as `sweep plan` estimates) \
            and each running run's pace; runs with no past run to go by are counted \
            and named, not guessed.

            With --executor slurm (or `executor: {kind: slurm}` in the manifest) the runs left \
            are submitted as Slurm job arrays (per dependency level, each within the cluster's \
            MaxArraySize; short runs packed several to a task, --runs-per-task) and `sweep run` returns; \
            `sweep status` follows them, `sweep cancel` cancels them, and the same command \
            submits what is left (docs/slurm.md).
            """
    )

    @OptionGroup var manifest: ManifestArguments
    @OptionGroup var workspace: WorkspaceOption

    @Option(help: "Runs at the same time (default: from the cores and --threads).")
    var slots: Int?

    @Option(help: "Threads per run, passed as MTL_THREADS and OPENBLAS_NUM_THREADS (default: cores / slots).")
    var threads: Int?

    @Option(help: ArgumentHelp("Seconds one attempt may take before it is stopped and counted failed.", valueName: "seconds"))
    var timeout: Double?

    @Option(help: "Extra attempts after a failure (default: the manifest's executor.retries, else 1).")
    var retries: Int?

    @Flag(help: "Run every run again from scratch, including succeeded ones.")
    var rerun = false

    @Flag(help: "Give failed runs whose retry budget is spent a fresh budget.")
    var retryFailed = false

    @Flag(help: "Stop launching after the first run that fails for good.")
    var failFast = false

    @Flag(help: "Show what would launch now, and the slots x threads budget; run nothing.")
    var dryRun = false

    @Flag(help: "Do not have the engine check every config first (a run still checks its own when it starts).")
    var skipConfigCheck = false

    @Option(help: ArgumentHelp("Where runs execute: local or slurm (default: the manifest's executor.kind, else local).",
                               valueName: "kind"))
    var executor: ExecutorSettings.Kind?

    @Flag(help: "With --executor slurm: follow the jobs until every run has ended, then write the tables.")
    var wait = false

    @Option(help: ArgumentHelp("With --executor slurm --wait: seconds between looks at the queue.", valueName: "seconds"))
    var poll: Double = 10

    @Option(help: ArgumentHelp("With --executor slurm: runs each array task runs in turn (default: the manifest's "
                               + "executor.runs_per_task, else from the runs' past times).", valueName: "n"))
    var runsPerTask: Int?

    @OptionGroup var tables: TableOutputOptions


    func validate() throws {
        if let slots, slots < 1 { throw ValidationError("--slots must be at least 1, not \(slots)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, not \(threads)") }
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        if let retries, retries < 0 { throw ValidationError("--retries must be 0 or more, not \(retries)") }
        if !(poll > 0) { throw ValidationError("--poll must be a positive number of seconds") }
        if let runsPerTask, runsPerTask < 1 { throw ValidationError("--runs-per-task must be at least 1, not \(runsPerTask)") }
    }

    func run() async throws {
        let plan = try ManifestInput(manifest).plan()
        try tables.checkTemplates(plan: plan, manifest: manifest)
        if !skipConfigCheck { try await ConfigGate(manifest: manifest).check(plan) }
        let options = runOptions(plan)
        if dryRun {
            let preview = try LaunchPreview(plan: plan, ledger: Ledger.existing(workspace: workspace.value), options: options)
            print(preview.text(), terminator: "")
            return
        }
        let ledger = try Ledger(workspace: workspace.value)
        let kind = executor ?? plan.executor.kind
        if wait && kind != .slurm { throw ValidationError("--wait follows Slurm jobs: use it with --executor slurm") }
        let chosen: any Executor = switch kind {
        case .local:
            LocalExecutor(workspace: workspace.value, ledger: ledger, options: options)
        case .slurm:
            SlurmExecutor(workspace: workspace.value, ledger: ledger, options: options, settings: slurmSettings(plan),
                          wait: wait, pollInterval: .milliseconds(Int64((poll * 1000).rounded())))
        }
        let progress = ProgressRenderer.standardError(workspace: workspace.value) {
            (try? ledger.groupTimings()) ?? [:]
        }
        let showsProgress = kind == .local || wait
        if showsProgress { progress.start() }
        let summary: RunSummary
        do {
            summary = try await chosen.execute(plan, progress: showsProgress ? progress : nil)
        } catch let error as ExecuteError {
            throw ValidationError(error.description)
        } catch let error as SlurmError {
            throw ValidationError(error.description)
        }
        if showsProgress { progress.finish() }
        print(Self.closingText(summary, plan: plan), terminator: "")
        // A stopped grid is resumed, not reported: its tables would show runs as missing; nor is
        // one whose runs are still in Slurm's queue.
        if !plan.tables.isEmpty, summary.stoppedBy == nil, summary.submitted.isEmpty {
            for file in try tables.write(plan: plan, ledger: ledger, manifest: manifest) {
                print("wrote \(file.relativePathFromCurrentDirectory)")
            }
        }
        if summary.exitCode != 0 { throw ExitCode(summary.exitCode) }
    }

    /// The manifest's executor settings, overridden by the flags given.
    func runOptions(_ plan: Plan) -> RunOptions {
        var options = RunOptions(plan.executor)
        if let slots { options.slots = slots }
        if let threads { options.threadsPerRun = threads }
        if let timeout { options.timeout = .milliseconds(Int64((timeout * 1000).rounded())) }
        if let retries { options.retries = retries }
        options.rerun = rerun
        options.retryFailed = retryFailed
        options.failFast = failFast
        return options
    }

    /// The manifest's Slurm settings, overridden by the flags given.
    func slurmSettings(_ plan: Plan) -> SlurmSettings {
        var settings = plan.executor.slurm
        if let runsPerTask { settings.runsPerTask = runsPerTask }
        return settings
    }

    /// The last lines of `sweep run`: what happened, what is left and how to continue.
    static func closingText(_ summary: RunSummary, plan: Plan) -> String {
        var out = "\n"
        for submission in summary.submissions {
            let waits = submission.dependency.map { ", after \($0)" } ?? ""
            let packed = submission.runsPerTask > 1 ? "\(submission.runsPerTask) per task (\(submission.packing ?? "packed")), " : ""
            out += "submitted Slurm job \(submission.job): \(submission.runs.count) run\(submission.runs.count == 1 ? "" : "s"), "
                + packed + "--array=\(submission.array) (level \(submission.level)\(waits))\n"
        }
        if let stop = summary.stoppedBy { out += "\(stop)\n" }
        let parts: [(Int, String)] = [
            (summary.succeeded.count, "succeeded"), (summary.alreadyDone.count, "already done"),
            (summary.failed.count, "failed"), (summary.skipped.count, "skipped"),
            (summary.interrupted.count, "interrupted"), (summary.notStarted.count, "not started"),
            (summary.runningElsewhere.count, "still running in another sweep process"),
            (summary.submitted.count, "queued or running in Slurm"),
        ]
        out += "sweep \"\(plan.name)\": " + parts.filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + "\n"
        if !summary.recoveredOrphans.isEmpty {
            out += "\(summary.recoveredOrphans.count) run(s) left running by a sweep that ended were resumed\n"
        }
        if !summary.adoptedOrphans.isEmpty {
            out += "\(summary.adoptedOrphans.count) run(s) whose engine finished after their sweep ended were recorded as succeeded, not run again\n"
        }
        for id in summary.failed.prefix(10) { out += "  failed: \(id)  (sweep show \(id.rawValue.prefix(8)))\n" }
        if summary.failed.count > 10 { out += "  ... \(summary.failed.count - 10) more: sweep status --state failed\n" }
        if !summary.interrupted.isEmpty || !summary.notStarted.isEmpty {
            out += "run the same command again to resume\n"
        }
        if !summary.submitted.isEmpty {
            out += "follow them with `sweep status`, stop them with `sweep cancel`; "
                + "`sweep report` writes the tables once they have ended\n"
        }
        return out
    }
}

extension ExecutorSettings.Kind: ExpressibleByArgument {}
