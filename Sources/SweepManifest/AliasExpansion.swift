// libyaml's event parser, the one Yams composes with. SwiftPM puts the module maps of a
// product's C targets on every dependent's search path; Yams itself offers no event API.
import CYaml

/// Counts how many nodes YAML aliases would copy, before anything is composed.
///
/// `*name` copies the whole node anchored `&name`, aliases inside it included, so nine levels of
/// nine aliases (a "billion laughs") stand for 9^9 nodes in a file of a few hundred bytes. Yams
/// composes (and hashes mapping keys) over the whole expansion, and so does ManifestNode: such a
/// file took minutes and gigabytes. This pass walks the event stream once, keeps one number per
/// anchor, and stops at the first alias that takes the copies past the limit.
enum AliasExpansion {
    /// Nodes that aliases may copy in one file, in all. The paper manifests copy a few hundred.
    static let defaultLimit = 100_000

    /// Throws where the copies pass `limit`, or where an alias or a collection is a mapping key
    /// (hashing such keys is what makes composing expensive; a manifest's keys are names).
    /// Syntax errors are left to the composer, which words them.
    static func check(_ text: String, file: String, limit: Int = defaultLimit,
                      place: (_ line: Int, _ column: Int) -> SourceLocation) throws(ManifestError) {
        var text = text
        let failure: ManifestError? = text.withUTF8 { bytes in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { return nil }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)
            return walk(&parser, limit: limit, place: place)
        }
        if let failure { throw failure }
    }

    /// An open collection: its node count so far, its anchor, and (for mappings) whether the
    /// next node is a key.
    private struct Frame {
        var size = 1
        var anchor: String?
        var isMapping: Bool
        var expectsKey: Bool
    }

    private static func walk(_ parser: inout yaml_parser_t, limit: Int,
                             place: (Int, Int) -> SourceLocation) -> ManifestError? {
        var anchors: [String: Int] = [:]
        var stack: [Frame] = []
        var copied = 0
        var event = yaml_event_t()

        func error(_ mark: yaml_mark_t, _ problem: String, expected: String) -> ManifestError {
            let location = place(Int(mark.line) + 1, Int(mark.column) + 1)
            return ManifestError(file: location.file, line: location.line, column: location.column, keyPath: "",
                                 problem: problem, expected: expected)
        }
        /// A finished node of `size` nodes: it counts in its parent, and it was a key or a value.
        func add(_ size: Int, isScalar: Bool, mark: yaml_mark_t) -> ManifestError? {
            guard let top = stack.indices.last else { return nil }
            if stack[top].isMapping {
                if stack[top].expectsKey, !isScalar || size > 1 {
                    return error(mark, "a mapping key must be a plain name, found a list, a mapping or an alias of one",
                                 expected: "a string key")
                }
                stack[top].expectsKey.toggle()
            }
            stack[top].size = stack[top].size.addingSaturating(size)
            return nil
        }
        func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }

        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
            defer { yaml_event_delete(&event) }
            let mark = event.start_mark
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SCALAR_EVENT:
                if let anchor = name(event.data.scalar.anchor) { anchors[anchor] = 1 }
                if let failure = add(1, isScalar: true, mark: mark) { return failure }
            case YAML_ALIAS_EVENT:
                // An undefined alias is the composer's error to report.
                guard let anchor = name(event.data.alias.anchor), let size = anchors[anchor] else { continue }
                copied = copied.addingSaturating(size)
                if copied > limit {
                    return error(mark, "YAML aliases here copy more than \(ManifestLimits.grouped(limit)) nodes (*\(anchor) alone copies \(size))",
                                 expected: "at most \(ManifestLimits.grouped(limit)) nodes copied through aliases in one file; write the values out, or use presets")
                }
                if let failure = add(size, isScalar: size == 1, mark: mark) { return failure }
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                if let top = stack.last, top.isMapping, top.expectsKey {
                    return error(mark, "a mapping key must be a plain name, found a \(isMapping ? "mapping" : "list")",
                                 expected: "a string key")
                }
                let anchor = isMapping ? name(event.data.mapping_start.anchor) : name(event.data.sequence_start.anchor)
                stack.append(Frame(anchor: anchor, isMapping: isMapping, expectsKey: isMapping))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let done = stack.popLast() else { continue }
                if let anchor = done.anchor { anchors[anchor] = done.size }
                if let failure = add(done.size, isScalar: false, mark: mark) { return failure }
            default:
                continue
            }
        }
    }
}
