import Foundation
import PropertyBased
import SweepCore
import Testing
@testable import SweepManifest

/// Whatever the text, `ManifestLoader` returns a plan or throws a `ManifestError`: it never
/// crashes, never throws anything else, and never takes long. Inputs come from a tape of random
/// numbers (so PropertyBased can shrink a failure to a short tape and replay it by seed).
@Suite struct ManifestFuzzTests {
    /// Random manifests built from the language's pieces, valid and not, with random overrides.
    @Test func randomManifestsPlanOrFailCleanly() async {
        let fixture = ManifestFixture()
        await propertyCheck(count: 150, input: Gen.int(in: 0...1_000_000).array(of: 1...80)) { tape in
            var source = Tape(tape)
            let text = RandomManifest.text(&source)
            let overrides = (0..<source.next(3)).map { _ in RandomManifest.override(&source) }
            let profile = source.next(4) == 0 ? "smoke" : nil
            await Self.expectPlanOrManifestError(fixture.write("random.yaml", text), overrides: overrides, profile: profile,
                                                 input: text + "\n# overrides: \(overrides)")
        }
    }

    /// Valid manifests with a few bytes changed, inserted or deleted.
    @Test func mutatedManifestsPlanOrFailCleanly() async throws {
        let fixture = ManifestFixture()
        // A copy of experiments/ so that includes and data files resolve as in the original.
        let experiments = repositoryRoot.appendingPathComponent("experiments")
        for name in ["ablation.yaml", "common.yaml", "papers/faar.yaml", "examples/pipeline.yaml",
                     "examples/data/published.yaml"] {
            fixture.write(name, try String(contentsOf: experiments.appendingPathComponent(name), encoding: .utf8))
        }
        let originals = try ["ablation.yaml", "examples/pipeline.yaml"].map { name in
            (name, Array(try Data(contentsOf: experiments.appendingPathComponent(name))))
        }
        await propertyCheck(count: 150, input: Gen.int(in: 0...1_000_000).array(of: 2...24)) { tape in
            var source = Tape(tape)
            let (name, original) = originals[source.next(originals.count)]
            var bytes = original
            for _ in 0..<(1 + source.next(4)) { Mutation.apply(&bytes, &source) }
            let file = fixture.directory.appendingPathComponent(name).deletingLastPathComponent()
                .appendingPathComponent("mutated.yaml")
            try? Data(bytes).write(to: file)
            await Self.expectPlanOrManifestError(file, overrides: [], profile: source.next(3) == 0 ? "smoke" : nil,
                                                 input: String(decoding: bytes, as: UTF8.self))
        }
    }

    /// Each case plans on a dispatch thread: 300 synchronous plans would hold the test run's
    /// cooperative threads (2 on a 2-core machine) for half a minute and starve the timers of the
    /// executor tests running beside them.
    static func expectPlanOrManifestError(_ file: URL, overrides: [String], profile: String?, input: String) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                planOrManifestError(file, overrides: overrides, profile: profile, input: input)
                done.resume()
            }
        }
    }

    private static func planOrManifestError(_ file: URL, overrides: [String], profile: String?, input: String) {
        let start = ContinuousClock.now
        do {
            _ = try ManifestLoader.load(file: file, overrides: overrides, profile: profile)
        } catch is ManifestError {
        } catch {
            Issue.record("not a ManifestError: \(error)\n--- input ---\n\(input)")
        }
        // Generous for a debug build on a loaded machine; a hang or an expansion blow-up takes far longer.
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(5), "took \(elapsed)\n--- input ---\n\(input)")
    }
}

/// Random numbers from the generated array, round and round.
struct Tape {
    private let values: [Int]
    private var position = 0

    init(_ values: [Int]) { self.values = values.isEmpty ? [0] : values }

    /// A number in 0..<bound.
    mutating func next(_ bound: Int) -> Int {
        defer { position += 1 }
        return values[position % values.count] % max(bound, 1)
    }

    mutating func pick<T>(_ choices: [T]) -> T { choices[next(choices.count)] }
}

/// Manifest text from the language's pieces: known keys and names mostly, a wrong one sometimes.
enum RandomManifest {
    static let configKeys = ["kind", "method", "rank", "lr", "epochs", "backbone", "task", "adapter", "seed", "needs",
                             "profile", "optimizer.lr", "a.b", "x..y", "", "groups"]
    static let groupNames = ["pretrain", "grid", "rows", "g"]
    static let scalars = ["1", "0", "-1", "4", "1.0e-3", "1e400", ".nan", "-.inf", "99999999999999999999", "true", "no",
                          "null", "~", "lora", "\"${needs.pretrain}/backbone.safetensors\"", "\"${needs.x}\"",
                          "\"a${needs.pretrain}\"", "\"../x\"", "''", "2026-12-05", "0x1F", "[]", "{}", "[1, 2]",
                          "{a: 1}", "*anchor", "&anchor 3", "!!binary aGk=", "!custom 1", "'unterminated"]

    static func value(_ tape: inout Tape, depth: Int = 0) -> String {
        switch tape.next(depth > 1 ? 1 : 4) {
        case 1: return "[" + (0..<tape.next(4)).map { _ in value(&tape, depth: depth + 1) }.joined(separator: ", ") + "]"
        case 2: return "{" + (0..<tape.next(3)).map { _ in "\(tape.pick(configKeys)): \(value(&tape, depth: depth + 1))" }
            .joined(separator: ", ") + "}"
        default: return tape.pick(scalars)
        }
    }

    static func layer(_ tape: inout Tape) -> String {
        "{" + (0..<tape.next(4)).map { _ in "\(tape.pick(configKeys)): \(value(&tape))" }.joined(separator: ", ") + "}"
    }

    static func list(_ tape: inout Tape, _ count: Int) -> String {
        "[" + (0..<count).map { _ in value(&tape, depth: 2) }.joined(separator: ", ") + "]"
    }

    static func seeds(_ tape: inout Tape) -> String {
        tape.pick(["[0, 1, 2]", "3", "[0]", "0", "[]", "[1, 1]", "[a]", "100000000000", "-2", list(&tape, 2)])
    }

    static func group(_ tape: inout Tape, name: String) -> String {
        var lines = ["  \(name):"]
        if tape.next(2) == 0 { lines.append("    set: \(layer(&tape))") }
        if tape.next(2) == 0 {
            lines.append("    grid: {" + (0..<tape.next(4)).map { _ in
                "\(tape.pick(configKeys + ["preset"])): \(list(&tape, tape.next(5)))"
            }.joined(separator: ", ") + "}")
        }
        if tape.next(4) == 0 { lines.append("    zip: {rank: \(list(&tape, 2)), lr: \(list(&tape, tape.next(3)))}") }
        if tape.next(3) == 0 {
            lines.append("    rows: [" + (0..<tape.next(3)).map { _ in
                "{label: \(tape.pick(["A", "B", "A", "'../x'"])), preset: \(tape.pick(["p0", "p1", "nope"])), rank: \(value(&tape))}"
            }.joined(separator: ", ") + "]")
        }
        if tape.next(4) == 0 { lines.append("    include: [\(layer(&tape))]") }
        if tape.next(4) == 0 { lines.append("    exclude: [\(layer(&tape))]") }
        if tape.next(3) == 0 { lines.append("    seeds: \(seeds(&tape))") }
        if tape.next(3) == 0 {
            let target = tape.pick(groupNames + ["missing"])
            lines.append(tape.pick(["    needs: {pretrain: \(target)}",
                                    "    needs: {pretrain: {group: \(target), match: [\(tape.pick(configKeys))]}}",
                                    "    needs: {x: {group: \(target), where: \(layer(&tape))}}"]))
        }
        if tape.next(5) == 0 { lines.append("    conditionals: [{when: \(layer(&tape)), set: \(layer(&tape))}]") }
        if tape.next(8) == 0 { lines.append("    \(tape.pick(["gird", "sett", "rows"])): \(value(&tape))") }
        return lines.joined(separator: "\n")
    }

    static func text(_ tape: inout Tape) -> String {
        var lines: [String] = []
        if tape.next(3) == 0 { lines.append("name: \(tape.pick(["fuzz", "'../../x'", "a/b", "ok.1", "''", "1"]))") }
        if tape.next(2) == 0 { lines.append("seeds: \(seeds(&tape))") }
        if tape.next(2) == 0 { lines.append("defaults: &anchor \(layer(&tape))") }
        if tape.next(3) == 0 { lines.append("presets: {p0: \(layer(&tape)), p1: {preset: \(tape.pick(["p0", "p1", "nope"])), rank: 4}}") }
        if tape.next(4) == 0 { lines.append("conditionals: [{when: \(layer(&tape)), set: \(layer(&tape))}]") }
        if tape.next(3) == 0 { lines.append("profiles: {smoke: \(layer(&tape))}") }
        if tape.next(5) == 0 { lines.append("executor: {slots: \(value(&tape)), timeout: \(tape.pick(["2h", "1e400s", "0", "x"]))}") }
        if tape.next(6) == 0 { lines.append("engine: {command: \(tape.pick(["[]", "[python, t.py]", "x"])), validate: \(value(&tape))}") }
        if tape.next(9) == 0 { lines.append("include: [\(tape.pick(["missing.yaml", "random.yaml", "/dev/null"]))]") }
        if tape.next(8) != 0 {
            lines.append("groups:")
            for index in 0..<(1 + tape.next(3)) { lines.append(group(&tape, name: groupNames[index])) }
        }
        if tape.next(3) == 0 {
            lines.append("tables:")
            lines.append("  \(tape.pick(["t", "'a/b'", "'..'", "ok-1"])):")
            lines.append("    columns: [\(tape.pick(["semseg", "delta_m", "nope", "params.trainable"]))]")
            if tape.next(2) == 0 { lines.append("    reference: A") }
            lines.append("    rows: [{label: A, group: \(tape.pick(groupNames + ["missing"]))}]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func override(_ tape: inout Tape) -> String {
        tape.pick([
            "\(tape.pick(configKeys))=\(value(&tape))", "+\(tape.pick(configKeys))=\(value(&tape))",
            "seeds=\(seeds(&tape))", "groups.grid.grid.rank=\(list(&tape, tape.next(4)))", "executor.slots=\(value(&tape))",
            "name=\(tape.pick(["x", "../x", "a b"]))", "=1", "noequals", "~rank=1", "++rank=1", "rank=[1,",
        ])
    }
}

/// Byte-level changes: the kinds of damage an editor, a bad merge or an adversary makes.
enum Mutation {
    static let significant = Array(":-[]{}&*!|>'\"#%@?,\n \t\\".utf8) + [0x00, 0xFF, 0xC3]

    static func apply(_ bytes: inout [UInt8], _ tape: inout Tape) {
        guard !bytes.isEmpty else { bytes = [tape.pick(significant)]; return }
        let at = tape.next(bytes.count)
        switch tape.next(5) {
        case 0: bytes[at] = tape.pick(significant)
        case 1: bytes.insert(tape.pick(significant), at: at)
        case 2: bytes.removeSubrange(at..<min(bytes.count, at + 1 + tape.next(40)))
        case 3:
            // Duplicate a line: a duplicate key, or a list item twice.
            let start = bytes[..<at].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            let end = bytes[at...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.count
            bytes.insert(contentsOf: bytes[start..<end], at: end)
        default: bytes[at] ^= UInt8(1 << tape.next(8))
        }
    }
}
