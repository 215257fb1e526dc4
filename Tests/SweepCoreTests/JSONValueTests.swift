import Foundation
import RunContract
import Testing
@testable import SweepCore

@Suite struct JSONValueTests {
    @Test func canonicalFormSortsKeysAndKeepsNumberKinds() {
        let value: JSONValue = .object(["b": .int(1), "a": .array([.double(1), .string("x\"y")]), "c": .null])
        #expect(value.canonical == #"{"a":[1.0,"x\"y"],"b":1,"c":null}"#)
    }

    @Test func runIDDependsOnConfigAndEngine() {
        let config: JSONValue = .object(["r": .int(4)])
        let a = RunID(config: config, engine: EngineSpec(identity: "e1"))
        #expect(a == RunID(config: .object(["r": .int(4)]), engine: EngineSpec(identity: "e1")))
        #expect(a != RunID(config: .object(["r": .int(8)]), engine: EngineSpec(identity: "e1")))
        #expect(a != RunID(config: config, engine: EngineSpec(identity: "e2")))
        #expect(a.rawValue.count == 16)
    }
}

@Suite struct RunReferenceTests {
    @Test func referencesResolveToRunDirectories() {
        let id = RunID(rawValue: "0123456789abcdef")
        let workspace = Workspace(root: URL(fileURLWithPath: "/tmp/ws"))
        let config: JSONValue = .object([
            "pretrained": .string(RunReference.make(id, path: "backbone.safetensors")),
            "parents": .array([.string(RunReference.make(id))]),
            "name": .string("plain"),
        ])
        let resolved = config.resolvingRunReferences(in: workspace)
        #expect(resolved["pretrained"] == .string("/tmp/ws/runs/0123456789abcdef/backbone.safetensors"))
        #expect(resolved["parents"] == .array([.string("/tmp/ws/runs/0123456789abcdef")]))
        #expect(resolved["name"] == .string("plain"))
        #expect(RunReference.target(of: "run://") == nil)
    }
}
