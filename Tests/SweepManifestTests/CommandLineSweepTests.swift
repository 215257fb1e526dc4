import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepManifest

/// Hydra's sweep forms in command-line overrides (`r=1,2`, `range(...)`): new grid axes.
@Suite struct CommandLineSweepTests {
    let fixture = ManifestFixture()
    let manifest = """
        defaults: {title: x, shape: [1, 2]}
        groups:
          g: {grid: {r: [1]}}
        """

    private func values(_ override: String, key: String = "r") throws -> [JSONValue] {
        try fixture.plan(manifest, overrides: [override]).runs.map { $0.config[key]! }
    }

    @Test func choicesAndRangesBecomeAxes() throws {
        #expect(try values("r=3,1,2") == [.int(3), .int(1), .int(2)])
        #expect(try values("r=choice(4, 5)") == [.int(4), .int(5)])
        #expect(try values("r=range(3)") == [.int(0), .int(1), .int(2)])
        #expect(try values("r=range(5,1,-2)") == [.int(5), .int(3)])
        #expect(try values("r=range(0,0.3,0.1)") == [.double(0), .double(0.1), .double(0.2)])
        let plan = try fixture.plan(manifest, overrides: ["r=1,2"])
        #expect(plan.runs.map { $0.axes["r"] } == [.int(1), .int(2)])
    }

    @Test func commasInsideQuotesListsAndMappingsAreValues() throws {
        #expect(try values(#"title="a,b""#, key: "title") == [.string("a,b")])
        #expect(try values("shape=[3, 4]", key: "shape") == [.array([.int(3), .int(4)])])
    }

    @Test func badSweepsAreRefused() {
        #expect(fixture.error(manifest, overrides: ["r=range(1,1)"])?.problem.contains("is empty") == true)
        #expect(fixture.error(manifest, overrides: ["r=range(1,5,0)"])?.problem.contains("step must not be 0") == true)
        #expect(fixture.error(manifest, overrides: ["r=1,,2"])?.problem.contains("empty value") == true)
        #expect(fixture.error(manifest, overrides: ["r=1,2", "r=3,4"])?.problem.contains("swept twice") == true)
        #expect(fixture.error(manifest, overrides: ["r=shuffle(1,2)"])?.problem.contains("not supported") == true)
    }

    /// A swept group that others need: each dependent run needs the run with its own value.
    @Test func dependenciesMatchOnTheSweptKey() throws {
        let plan = try fixture.plan("""
            groups:
              a: {set: {kind: pretrain}}
              b:
                grid: {r: [1, 2]}
                needs: {a: a}
            """, overrides: ["lr=0.1,0.2"])
        let pretraining = plan.runs.filter { $0.group == "a" }
        #expect(pretraining.count == 2)
        for run in plan.runs where run.group == "b" {
            let id = try #require(run.needs["a"])
            let needed = try #require(plan.run(id))
            #expect(needed.config["lr"] == run.config["lr"])
        }
    }
}
