/// Names in a manifest that become file and folder names: the sweep's (`results/<name>/`), a
/// profile's (`results/<name>-<profile>/`) and a table's (`<table>.md`, `.tex`, `.csv`, figures).
/// A separator or `..` would write outside results/; characters some file systems change or refuse
/// (`:` on macOS, `<>:"|?*` and trailing dots on Windows, Unicode that macOS renormalizes) would
/// give a folder that is not named what the ledger says. So these names are plain.
enum PathName {
    static let rule = "ASCII letters, digits, '-', '_', '.' and '+', starting with a letter, digit or '_', "
        + "at most 100 characters (the name becomes a file or folder name)"

    /// Why `name` cannot be a file name, or nil when it can.
    static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.contains("/") || name.contains("\\") { return "contains a path separator" }
        if name.contains("..") { return "contains '..'" }
        if name.utf8.count > 100 { return "is longer than 100 characters" }
        let allowed: (UInt8) -> Bool = { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "+"): return true
            default: return false
            }
        }
        if let bad = name.unicodeScalars.first(where: { !$0.isASCII || !allowed(UInt8($0.value)) }) {
            let shown = bad.properties.isWhitespace || bad.value < 0x20 ? "U+" + String(bad.value, radix: 16, uppercase: true)
                                                                          : "'\(bad)'"
            return "contains \(shown), which a file name should not"
        }
        if let first = name.utf8.first, first == UInt8(ascii: ".") || first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            return "starts with '\(Character(Unicode.Scalar(first)))'"
        }
        return nil
    }

    /// Throws at `location` when `name` cannot be a file name; `what` says what the name is.
    static func check(_ name: String, what: String, at location: SourceLocation, keyPath: String) throws(ManifestError) {
        guard let problem = problem(name) else { return }
        throw ManifestError(file: location.file, line: location.line, column: location.column, keyPath: keyPath,
                            problem: "\(what) '\(name)' \(problem)", expected: rule)
    }
}
