import Foundation

/// Reading manifest, included and data files; relative names are relative to the file that names them.
enum ManifestFiles {
    static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") || file == ManifestError.commandLine { return path }
        let directory = (file as NSString).deletingLastPathComponent
        return directory.isEmpty ? path : (directory as NSString).appendingPathComponent(path)
    }

    /// Parses a YAML file; `reference` is the node that named it (nil for the manifest itself).
    static func load(_ path: String, from reference: ManifestNode?) throws(ManifestError) -> ManifestNode {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            let problem = exists ? "cannot read '\(path)' as UTF-8 text" : "no such file '\(path)'"
            if let reference {
                throw reference.error(problem, expected: "a readable YAML file (relative names are relative to \(reference.location.file))")
            }
            throw ManifestError(file: path, line: 1, column: 1, keyPath: "", problem: problem, expected: "a readable YAML manifest")
        }
        guard let root = try ManifestNode.parse(text, file: path) else {
            throw ManifestError(file: path, line: 1, column: 1, keyPath: "", problem: "the file is empty",
                                expected: "a YAML mapping")
        }
        return root
    }

    /// A manifest with its `include:` files merged underneath it (its own keys win; mappings
    /// merge key by key), recursively. Each node keeps the file it came from.
    static func loadManifest(_ path: String, from reference: ManifestNode? = nil,
                             chain: [String] = []) throws(ManifestError) -> ManifestNode {
        let root = try load(path, from: reference)
        guard let includeNode = root["include"], var entries = root.entries else { return root }
        var merged: ManifestNode?
        for item in includeNode.items ?? [includeNode] {
            let included = resolve(try item.string(expected: "a YAML file name to include"), relativeTo: path)
            let standard = URL(fileURLWithPath: included).standardizedFileURL.path
            if chain.contains(standard) || standard == URL(fileURLWithPath: path).standardizedFileURL.path {
                throw item.error("'\(included)' is already being included (include cycle)", expected: "includes that form no cycle")
            }
            let node = try loadManifest(included, from: item, chain: chain + [URL(fileURLWithPath: path).standardizedFileURL.path])
            guard node.entries != nil else { throw node.typeError(expected: "a mapping (an included manifest)") }
            merged = merged.map { $0.merging(node) } ?? node
        }
        entries.removeAll { $0.key == "include" }
        var own = root
        own.content = .mapping(entries)
        return merged.map { $0.merging(own) } ?? own
    }
}
