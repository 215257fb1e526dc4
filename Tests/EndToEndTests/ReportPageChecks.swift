import Foundation
import Testing

extension EndToEnd.Engine {
    /// The page `sweep run` wrote beside the tables (results/<sweep>/index.html): its elements nest
    /// properly; it loads nothing from elsewhere; each table has its section with the HTML table,
    /// its figures and one line per run behind it, linking to the run's directory; every group
    /// of runs has its training curves, one line per run, named by the run's id (a curve flat
    /// for every run is a sentence instead).
    static func expectPage(_ page: URL, runs: [String: StatusRun], workspace: URL, table: String) throws {
        let html = try String(contentsOf: page, encoding: .utf8)
        let elements = try HTMLOutline.elements(of: html)
        #expect(elements.first?.name == "html")
        #expect(!elements.contains { $0.name == "link" || $0.attributes["src"] != nil }, "the page loads something")
        #expect(!html.contains("url(") && !html.contains("@import"))

        let sections = elements.filter { $0.name == "section" }.compactMap { $0.attributes["id"] }
        #expect(sections == ["table-\(table)", "curves"])
        #expect(elements.filter { $0.name == "table" && $0.attributes["class"] == "results" }.count == 1)
        #expect(elements.contains { $0.name == "figure" && $0.ancestors.contains("section#table-\(table)") })

        // The runs behind the rows: every run of the smoke grid is in the table, each linking to its directory.
        let lines = elements.filter { $0.name == "tr" && $0.attributes["data-run"] != nil }
        #expect(Set(lines.compactMap { $0.attributes["data-run"] }) == Set(runs.keys))
        let links = elements.filter { $0.name == "a" && $0.ancestors.contains("table.runs") }.compactMap { $0.attributes["href"] }
        #expect(links.count == runs.count)
        for link in links {
            let directory = URL(fileURLWithPath: link, relativeTo: page.deletingLastPathComponent()).standardizedFileURL
            #expect(directory.deletingLastPathComponent().path == workspace.appendingPathComponent("runs").standardizedFileURL.path,
                    "\(link) is not a run directory")
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("progress.jsonl").path), "\(link)")
        }
        // A row's label links to its runs.
        let anchors = Set(elements.filter { $0.name == "th" && $0.ancestors.contains("table.runs") }.compactMap { $0.attributes["id"] })
        let rowLinks = elements.filter { $0.name == "a" && $0.ancestors.contains("table.results") }.compactMap { $0.attributes["href"] }
        #expect(!rowLinks.isEmpty && rowLinks.allSatisfy { $0.hasPrefix("#") && anchors.contains(String($0.dropFirst())) })

        // Curves: a heading per group, a loss curve for every run (each curve names its run).
        let groups = Set(runs.values.map(\.group))
        #expect(Set(elements.filter { $0.name == "h3" && $0.ancestors.contains("section#curves") }.compactMap { $0.attributes["id"] })
                == Set(groups.map { "curves-" + $0.replacingOccurrences(of: "_", with: "-") }))
        // The trivial predictor trains nothing: its loss is 0 at every epoch, a line of text, not a chart.
        let curves = elements.filter { $0.name == "g" && $0.attributes["class"] == "run" }
        #expect(Set(curves.compactMap { $0.attributes["data-run"] }) == Set(runs.filter { $0.value.group != "trivial" }.keys))
        #expect(html.contains("Training loss per epoch (mean over the epoch): 0 at every epoch of every run."))
        #expect(html.contains("Training loss per epoch"))
        // The ablation's PDRS rows log their ranks.
        #expect(html.contains("Average adapter rank per epoch"))
    }

    /// .ci/browser-check on the page: headless Chromium, no console messages, a reasonable size,
    /// a screenshot. Without Chromium the check is left out, unless CI is set (CI installs it).
    static func browserCheck(_ page: URL) async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".ci/browser-check")
        let output = page.deletingLastPathComponent().appendingPathComponent("browser-check.log")
        let check = try ChildProcess("/bin/bash", [script.path, page.path, page.deletingPathExtension().path + ".png"],
                                     in: nil, environment: ProcessInfo.processInfo.environment,
                                     stdout: output, stderr: output)
        let status = await check.wait()
        let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        if status == 77, ProcessInfo.processInfo.environment["CI"] == nil { return }
        #expect(status == 0, "\(log)")
    }
}

/// The elements of an HTML page in document order, each with its attributes and the elements it
/// sits in ("section#curves", "table.runs"); throws where a closing tag does not match the open
/// element. Enough to check the structure of the page the reporter writes, not a general parser.
enum HTMLOutline {
    struct Element {
        var name: String
        var attributes: [String: String]
        var ancestors: [String]
    }

    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }

    static let void: Set<String> = ["meta", "link", "br", "hr", "img", "input", "col", "wbr", "area", "base", "source"]

    static func elements(of html: String) throws -> [Element] {
        var elements: [Element] = []
        var open: [(name: String, label: String)] = []
        var rest = Substring(html)
        while let start = rest.firstIndex(of: "<") {
            rest = rest[start...]
            if rest.hasPrefix("<!--") {
                guard let end = rest.range(of: "-->") else { throw Mismatch(description: "an unclosed comment") }
                rest = rest[end.upperBound...]
                continue
            }
            guard let end = rest.firstIndex(of: ">") else { throw Mismatch(description: "an unclosed tag") }
            let tag = rest[rest.index(after: start)..<end]
            rest = rest[rest.index(after: end)...]
            if tag.hasPrefix("!") { continue }
            if tag.hasPrefix("/") {
                let name = tag.dropFirst().trimmingCharacters(in: .whitespaces).lowercased()
                guard let last = open.popLast(), last.name == name else {
                    throw Mismatch(description: "</\(name)> closes <\(open.last?.name ?? "nothing")>")
                }
                continue
            }
            let selfClosing = tag.hasSuffix("/")
            let body = selfClosing ? tag.dropLast() : tag
            let name = String(body.prefix { !$0.isWhitespace }).lowercased()
            var attributes: [String: String] = [:]
            let pattern = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*"([^"]*)"/
            for match in body.dropFirst(name.count).matches(of: pattern) {
                attributes[String(match.1)] = String(match.2).replacingOccurrences(of: "&quot;", with: "\"")
                    .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                    .replacingOccurrences(of: "&amp;", with: "&")
            }
            elements.append(Element(name: name, attributes: attributes, ancestors: open.map(\.label)))
            guard !selfClosing, !void.contains(name) else { continue }
            let label = name + (attributes["id"].map { "#" + $0 } ?? attributes["class"].map { "." + $0 } ?? "")
            open.append((name, label))
            // Script and style bodies are text, whatever they contain.
            if name == "script" || name == "style" {
                guard let close = rest.range(of: "</\(name)>") else { throw Mismatch(description: "an unclosed <\(name)>") }
                rest = rest[close.lowerBound...]
            }
        }
        guard open.isEmpty else { throw Mismatch(description: "unclosed: " + open.map(\.name).joined(separator: ", ")) }
        return elements
    }
}
