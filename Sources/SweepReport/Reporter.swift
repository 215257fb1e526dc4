import Foundation
import Mustache
import RunContract
import SweepCore

/// Writes the tables of a plan from the ledger's records: `<table>.md` and `<table>.tex` through
/// the Mustache templates of the table's layout, `<table>.csv` through a CSV writer. Nothing is
/// run; the same records always give byte-identical files.
public struct Reporter: Sendable {
    public let templates: URL

    /// `templates`: the Templates/ directory, holding `<layout>.md.mustache` and
    /// `<layout>.tex.mustache` for every layout, and the partials they use.
    public init(templates: URL) {
        self.templates = templates
    }

    /// Computes every table of the plan from the records and writes the files into
    /// `directory/<folder>/` (default: the sweep's name; created if needed); returns the paths
    /// written, table by table, then the page (`index.html`) when the templates have one.
    /// `workspace`: where the runs' directories are, for the page's training curves and links.
    public func write(plan: Plan, records: [RunID: RunRecord], to directory: URL, folder: String? = nil,
                      workspace: Workspace? = nil) throws -> [URL] {
        let library = try loadTemplates()
        let folderName = folder ?? plan.name
        let folder = directory.appendingPathComponent(folderName, isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var written: [URL] = []
        var pageTables: [PageView.PageTable] = []
        for spec in plan.tables {
            let table = try Table(spec: spec, plan: plan, records: records)
            let figures = Figures.all(for: table, spec: spec, records: records, plan: plan)
            var files = try render(table, plan: plan.name, figures: figures, library: library)
            files += figures.map { ("\($0.slug).svg", $0.svg) }
            for (suffix, text) in files {
                let file = folder.appendingPathComponent(Self.fileName(table: table.name, suffix: suffix))
                try ContractJSON.writeAtomically(Data(text.utf8), to: file)
                written.append(file)
            }
            if library.names.contains(Self.page) {
                let markdown = files.first { $0.0 == "md" }?.1 ?? ""
                pageTables.append(PageView.PageTable(
                    table, spec: spec, html: html(table, plan: plan.name, markdown: markdown, library: library),
                    figures: figures.map { ($0, Self.fileName(table: table.name, suffix: "\($0.slug).svg")) },
                    plan: plan, records: records, workspace: workspace, folder: folder))
            }
        }
        if library.names.contains(Self.page) {
            let view = PageView(plan: plan, title: folderName, tables: pageTables, records: records, workspace: workspace)
            guard let text = library.mustache.render(view, withTemplate: Self.page) else {
                throw ReportError.unreadableTemplates(directory: templates.path, reason: "\(Self.page).mustache did not render")
            }
            let file = folder.appendingPathComponent("index.html")
            try ContractJSON.writeAtomically(Data(Self.endingWithOneNewline(text).utf8), to: file)
            written.append(file)
        }
        return written
    }

    /// The page's template; without it (a Templates/ folder from before the page) no page is written.
    static let page = "page.html"

    /// A table as HTML for the page, through its layout's HTML template; a layout without one
    /// shows its Markdown as preformatted text.
    func html(_ table: Table, plan: String, markdown: String, library: TemplateLibrary) -> String {
        let name = "\(table.layout).html"
        guard library.names.contains(name), let text = library.mustache.render(TableView(table: table, plan: plan),
                                                                               withTemplate: name) else {
            return "<pre>" + SVGCanvas.escape(markdown) + "</pre>"
        }
        return text
    }

    /// Refuses a plan whose tables name a layout without both templates (or with a template
    /// that does not parse), so that `sweep run` can say so before it runs anything.
    public func checkTemplates(for plan: Plan) throws {
        let library = try loadTemplates()
        for spec in plan.tables {
            guard let format = ["md", "tex"].first(where: { !library.names.contains("\(spec.layout).\($0)") }) else { continue }
            throw ReportError.missingTemplate(table: spec.name, layout: spec.layout,
                                              file: templates.appendingPathComponent("\(spec.layout).\(format).mustache").path,
                                              available: library.layouts)
        }
    }

    /// `ablation` + `md` -> `ablation.md`; `ablation` + `pareto.svg` -> `ablation-pareto.svg`.
    static func fileName(table: String, suffix: String) -> String {
        ["md", "tex", "csv"].contains(suffix) ? "\(table).\(suffix)" : "\(table)-\(suffix)"
    }

    /// The three files of one table, by extension; the Markdown links the figures.
    func render(_ table: Table, plan: String, figures: [Figure] = [],
                library: TemplateLibrary) throws -> [(String, String)] {
        var view = TableView(table: table, plan: plan)
        view.figures = figures.map {
            TableView.FigureLink(title: $0.title, file: Self.fileName(table: table.name, suffix: "\($0.slug).svg"))
        }
        var files: [(String, String)] = []
        for format in ["md", "tex"] {
            let name = "\(table.layout).\(format)"
            guard let text = library.mustache.render(view, withTemplate: name) else {
                throw ReportError.missingTemplate(table: table.name, layout: table.layout,
                                                  file: templates.appendingPathComponent(name + ".mustache").path,
                                                  available: library.layouts)
            }
            files.append((format, Self.endingWithOneNewline(text)))
        }
        files.append(("csv", try TableCSV.text(of: table)))
        return files
    }

    /// Every `*.mustache` file under `templates`, named by its path without the extension. The
    /// final newline of each file is dropped so that a partial can sit inside a line.
    func loadTemplates() throws -> TemplateLibrary {
        _ = TextEscaping.registered
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: templates.path, isDirectory: &isDirectory), isDirectory.boolValue,
              let paths = manager.enumerator(atPath: templates.path) else {
            throw ReportError.unreadableTemplates(directory: templates.path, reason: "no such directory")
        }
        var library = TemplateLibrary()
        for case let path as String in paths where path.hasSuffix(".mustache") {
            let file = templates.appendingPathComponent(path)
            var text: String
            do { text = try String(contentsOf: file, encoding: .utf8) } catch {
                throw ReportError.unreadableTemplates(directory: templates.path, reason: "\(path): \(error)")
            }
            if text.hasSuffix("\n") { text.removeLast() }
            do {
                let name = String(path.dropLast(".mustache".count))
                library.mustache.register(try MustacheTemplate(string: text), named: name)
                library.names.insert(name)
            } catch let error as MustacheTemplate.ParserError {
                throw ReportError.malformedTemplate(file: file.path, line: error.context.lineNumber,
                                                    column: error.context.columnNumber, reason: "\(error.error)")
            }
        }
        return library
    }

    private static func endingWithOneNewline(_ text: String) -> String {
        var text = text
        while text.hasSuffix("\n") { text.removeLast() }
        return text + "\n"
    }
}

/// The parsed templates and their names (swift-mustache's library does not list them).
struct TemplateLibrary {
    var mustache = MustacheLibrary()
    var names: Set<String> = []

    /// Layouts with both a Markdown and a LaTeX template at the top level (partials live in
    /// subfolders), for error messages.
    var layouts: [String] {
        names.compactMap { $0.hasSuffix(".md") && !$0.contains("/") ? String($0.dropLast(3)) : nil }
            .filter { names.contains("\($0).tex") }.sorted()
    }
}
