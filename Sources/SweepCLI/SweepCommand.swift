import ArgumentParser
import Foundation

/// `sweep`: the root command. Every subcommand is library code, so tests can run it in-process.
public struct SweepCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Plan, run, resume and tabulate experiment sweeps.",
        discussion: """
            A manifest (YAML) describes a grid of training runs. `sweep` expands it into runs, \
            remembers every run in a ledger under the workspace (.sweep/ by default), runs what \
            is not done yet and writes the tables.

            Examples:
              sweep plan experiments/ablation.yaml           # what would run
              sweep run experiments/ablation.yaml --slots 2  # run or resume
              sweep run experiments/ablation.yaml epochs=1 --profile smoke
              sweep status                                   # every run
              sweep show 3fa2c1                              # one run in full
              sweep report experiments/ablation.yaml         # tables only
              sweep compare experiments/ablation.yaml --row "FAAR (1+2)" --against high
              sweep run experiments/ablation.yaml --executor slurm   # job arrays
              sweep cancel experiments/ablation.yaml         # cancel those jobs

            Resuming is running the same command again: finished runs are skipped, interrupted \
            ones continue from their checkpoint, failed ones retry within their budget \
            (--retry-failed gives them a fresh one, --rerun runs everything again).

            `sweep help <subcommand>` shows each command's options and more examples.
            """,
        version: "0.4.0",
        subcommands: [PlanCommand.self, RunCommand.self, StatusCommand.self, ShowCommand.self, ReportCommand.self,
                      CompareCommand.self, CancelCommand.self]
    )

    public init() {}

    /// Runs the command the arguments name. Bad input ends with status 2, as docs/cli.md says
    /// (ArgumentParser's own is 64); an error found while a command runs (an unknown run id or
    /// row) is one "error:" line, without the usage text meant for malformed arguments.
    public static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var command = command
                try command.run()
            }
        } catch let error as ValidationError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            exit(withError: error)
        }
    }
}
