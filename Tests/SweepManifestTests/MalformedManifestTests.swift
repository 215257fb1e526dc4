import Foundation
import Testing
@testable import SweepManifest

/// One file of Malformed/: a manifest that must be refused, with the expected error in its
/// header comments:
///
///     # overrides: key=value ; key=value     (optional)
///     # profile: NAME                        (optional)
///     # expect: LINE:COLUMN[ @FILE] | KEY.PATH | message fragment[ | did-you-mean]
struct MalformedCase: CustomTestStringConvertible, Sendable {
    let url: URL
    var overrides: [String] = []
    var profile: String?
    var line = 0, column = 0
    /// Suffix of the file the error must name (default: the case itself).
    var file: String
    var keyPath = ""
    var message = ""
    var suggestion: String?

    var testDescription: String { url.lastPathComponent }

    init(url: URL) throws {
        self.url = url
        file = url.lastPathComponent
        let text = try String(contentsOf: url, encoding: .utf8)
        for line in text.split(separator: "\n") where line.hasPrefix("# ") {
            let body = line.dropFirst(2)
            if body.hasPrefix("overrides: ") {
                overrides = body.dropFirst("overrides: ".count).split(separator: ";").map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
            } else if body.hasPrefix("profile: ") {
                profile = String(body.dropFirst("profile: ".count))
            } else if body.hasPrefix("expect: ") {
                let fields = body.dropFirst("expect: ".count).split(separator: "|", omittingEmptySubsequences: false)
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                var position = fields[0]
                if let at = position.firstIndex(of: "@") {
                    file = String(position[position.index(after: at)...])
                    position = position[..<at].trimmingCharacters(in: .whitespaces)
                }
                let numbers = position.split(separator: ":").compactMap { Int($0) }
                (self.line, column) = (numbers[0], numbers[1])
                keyPath = fields[1]
                message = fields[2]
                suggestion = fields.count > 3 ? fields[3] : nil
            }
        }
    }

    static let all: [MalformedCase] = {
        let directory = Bundle.module.url(forResource: "Malformed", withExtension: nil)!
        let files = try! FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        return try! files.filter { $0.pathExtension == "yaml" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
            .map(MalformedCase.init)
    }()
}

@Suite struct MalformedManifestTests {
    @Test func theCorpusIsLargeAndEveryCaseStatesItsError() {
        #expect(MalformedCase.all.count >= 25)
        for testCase in MalformedCase.all {
            #expect(testCase.line > 0 && !testCase.message.isEmpty, "\(testCase.url.lastPathComponent) has no `# expect:` line")
        }
    }

    @Test(arguments: MalformedCase.all)
    func isRefusedWithAPreciseError(_ testCase: MalformedCase) throws {
        let error = #expect(throws: ManifestError.self) {
            try ManifestLoader.load(file: testCase.url, overrides: testCase.overrides, profile: testCase.profile)
        }
        guard let error else { return }
        #expect(error.file.hasSuffix(testCase.file), "\(error)")
        #expect(error.line == testCase.line, "\(error)")
        #expect(error.column == testCase.column, "\(error)")
        #expect(error.keyPath == testCase.keyPath, "\(error)")
        #expect(error.description.contains(testCase.message), "\(error)")
        #expect(error.suggestion == testCase.suggestion, "\(error)")
        // Every error says what was expected.
        #expect(error.expected != nil, "\(error)")
    }
}
