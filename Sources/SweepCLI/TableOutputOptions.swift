import ArgumentParser
import Foundation
import SweepCore
import SweepLedger
import SweepReport

/// Where `sweep run` and `sweep report` write tables, and which templates lay them out.
struct TableOutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Tables go to DIR/<sweep name>/<table>.{md,tex,csv}; with --profile P, to "
                               + "DIR/<sweep name>-P/, so a smoke run never overwrites the full tables.", valueName: "dir"))
    var results = "results"

    @Option(help: ArgumentHelp("The table templates (default: the Templates/ folder found above the manifest, "
                               + "in the current directory, or beside the sweep binary's package).", valueName: "dir"))
    var templates: String?

    /// Writes every table of `plan` from the ledger, and the page (index.html) with the runs'
    /// training curves from the workspace's run directories; returns the files written.
    func write(plan: Plan, ledger: Ledger, manifest: ManifestArguments) throws -> [URL] {
        let templates = try templatesDirectory(manifest: manifest.url)
        var ids = plan.runs.map(\.id)
        ids += plan.tables.flatMap { $0.rows.flatMap(\.runs) }
        let records = try ledger.records(ids)
        let directory = URL(fileURLWithPath: results, relativeTo: currentDirectory).standardizedFileURL
        do {
            let files = try Reporter(templates: templates).write(plan: plan, records: records, to: directory,
                                                                 folder: Self.folder(sweep: plan.name, profile: manifest.profile),
                                                                 workspace: ledger.workspace)
            for warning in try Self.emptyColumns(plan: plan, records: records) {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            return files
        } catch let error as ReportError {
            throw ValidationError(error.description)
        }
    }

    /// Columns that stay all "—" although their rows have results: a task no run has (another
    /// engine's tasks are only known from its metrics), an `extra.` value it never writes.
    static func emptyColumns(plan: Plan, records: [RunID: RunRecord]) throws -> [String] {
        var warnings: [String] = []
        for spec in plan.tables {
            let table = try Table(spec: spec, plan: plan, records: records)
            guard table.rows.contains(where: { $0.succeededRuns > 0 }) else { continue }
            for (index, column) in table.columns.enumerated()
            where table.rows.allSatisfy({ $0.cells[index].measured == nil && $0.cells[index].paper == nil }) {
                warnings.append("table '\(spec.name)': column '\(column.key)' is empty: no run with results has it")
            }
        }
        return warnings
    }

    /// Refuses, before anything runs, tables whose layout has no templates: exit code 2, as
    /// for a malformed manifest (the tables would otherwise fail after hours of runs).
    func checkTemplates(plan: Plan, manifest: ManifestArguments) throws {
        guard !plan.tables.isEmpty else { return }
        do {
            try Reporter(templates: templatesDirectory(manifest: manifest.url)).checkTemplates(for: plan)
        } catch let error as ReportError {
            var place = manifest.file
            if case .missingTemplate(let table, _, _, _) = error,
               let source = plan.tables.first(where: { $0.name == table })?.layoutSource {
                place = "\(source): tables.\(table).layout"
            }
            FileHandle.standardError.write(Data("error: \(place): \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// A profile's tables live apart from the full ones: `ablation` + `smoke` -> `ablation-smoke`.
    static func folder(sweep: String, profile: String?) -> String {
        profile.map { "\(sweep)-\($0)" } ?? sweep
    }

    func templatesDirectory(manifest: URL) throws -> URL {
        if let templates { return URL(fileURLWithPath: templates, relativeTo: currentDirectory).standardizedFileURL }
        var candidates: [URL] = []
        for start in [manifest.deletingLastPathComponent(), currentDirectory] {
            var folder = start.standardizedFileURL
            while true {
                candidates.append(folder.appendingPathComponent("Templates"))
                let parent = folder.deletingLastPathComponent()
                if parent.path == folder.path { break }
                folder = parent
            }
        }
        // A development build lives in <package>/.build/<triple>/<configuration>/sweep.
        if let binary = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var folder = binary.deletingLastPathComponent()
            for _ in 0 ..< 4 {
                folder = folder.deletingLastPathComponent()
                candidates.append(folder.appendingPathComponent("Templates"))
            }
        }
        var isDirectory: ObjCBool = false
        guard let found = candidates.first(where: {
            FileManager.default.fileExists(atPath: $0.path, isDirectory: &isDirectory) && isDirectory.boolValue
        }) else {
            throw ValidationError("no Templates/ folder found above \(manifest.deletingLastPathComponent().path), "
                                  + "in the current directory or beside the sweep binary; give --templates DIR")
        }
        return found
    }

    private var currentDirectory: URL { URL(fileURLWithPath: FileManager.default.currentDirectoryPath) }
}

extension URL {
    /// The path relative to the current directory when it lies below it, else absolute.
    var relativePathFromCurrentDirectory: String {
        let current = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(current) ? String(path.dropFirst(current.count)) : path
    }
}
