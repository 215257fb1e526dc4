import ArgumentParser
import Engine

/// `mtl-engine keys`: every config key with what it accepts, its default and its meaning, from
/// the declarations the validation uses (the key tables of docs/engine.md and docs/methods.md
/// are this output).
public struct KeysCommand: ParsableCommand {
    public enum Part: String, ExpressibleByArgument, CaseIterable {
        case all, core, methods
    }

    public static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List the config keys: what each accepts, its default and what it means (a Markdown table).",
        discussion: """
            core: the run's scale, data, model and schedule; methods: the adapter methods' keys.
            Examples:
              mtl-engine keys
              mtl-engine keys methods
            """)

    @Argument(help: "Which keys: all, core or methods.")
    public var part: Part = .all

    public init() {}

    public func run() {
        switch part {
        case .all: print(ConfigSchema.table(ConfigSchema.keys), terminator: "")
        case .core: print(ConfigSchema.table(ConfigSchema.coreKeys), terminator: "")
        case .methods: print(ConfigSchema.table(ConfigSchema.methodKeys), terminator: "")
        }
    }
}
