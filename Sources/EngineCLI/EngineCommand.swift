import ArgumentParser
import Engine

/// `mtl-engine`: trains one run of the run contract (docs/run-contract.md); `train` is the
/// default subcommand, so `mtl-engine --config RUN_DIR/config.json --out RUN_DIR` works as is.
public struct EngineCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mtl-engine",
        abstract: "CPU training engine for multi-task dense prediction (Swin backbone, HRNet decoders).",
        discussion: """
            Examples:
              mtl-engine --config runs/a1/config.json --out runs/a1
              mtl-engine samples --out /tmp/scenes
              mtl-engine export --dataset pascal --split train --count 256 --out /tmp/synthetic-pascal
              mtl-engine bench --backbone swin_t --image-size 224 --batch 8 --threads 2
              mtl-engine keys
            Config keys: `mtl-engine keys`; profiles and checkpoints: docs/engine.md.
            """,
        version: EngineVersion.current,
        subcommands: [TrainCommand.self, KeysCommand.self, SamplesCommand.self, ExportCommand.self, BenchCommand.self,
                      CheckTimmCommand.self],
        defaultSubcommand: TrainCommand.self)

    public init() {}
}
