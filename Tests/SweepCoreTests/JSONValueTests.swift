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
