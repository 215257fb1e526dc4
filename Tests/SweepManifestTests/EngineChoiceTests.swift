import Foundation
import SweepCore
import Testing
@testable import SweepManifest

/// Engines per group (`engines:`, a group's or a preset's `engine: NAME`) and the engine's
/// identity in run ids (docs/manifest.md, "Engine").
@Suite struct EngineChoiceTests {
    static let groups = """
        groups:
          ours: {set: {x: 1}}
          theirs:
            engine: py
            set: {x: 1}
          mixed:
            rows:
              - {label: A, x: 2}
              - {label: B, preset: other, x: 3}
              - {label: C, presets: [plain, other], x: 4}

        """
    static let engines = """
        engines:
          py: {command: [python3, train.py, "{config}"], identity: py-1}
          sh: {command: [./train.sh], identity: sh-2}
        presets:
          plain: {y: 2}
          other: {engine: sh, y: 2}

        """

    /// Ids the committed results and ledgers hold (results/backbones/faar-s1.md names the
    /// pretraining runs it fine-tunes from; results/ablation-numerics pins a BLAS core): they
    /// must not change when the engine machinery does.
    @Test(arguments: [
        ("backbones", ["26ca07c0e77c12da", "b443c4e35a0356b6"]),
        ("ablation-numerics", ["1498fb957da3440f", "266eb2b66e8f7a0c", "2e92b6dff81d6342"]),
    ])
    func committedRunIdsStayTheSame(_ manifest: String, _ ids: [String]) throws {
        let plan = try ManifestLoader.load(file: repositoryRoot.appendingPathComponent("experiments/\(manifest).yaml"))
        let planned = Set(plan.runs.map(\.id.rawValue))
        for id in ids { #expect(planned.contains(id), "\(manifest): run \(id) of the committed results is no longer planned") }
        #expect(plan.runs.allSatisfy { $0.engine == nil })
    }

    @Test func groupsAndPresetsChooseTheirEngine() throws {
        let fixture = ManifestFixture()
        let plan = try fixture.plan(Self.engines + Self.groups)
        let engine = { (group: String, label: String?) in
            plan.runs(in: group).first { $0.label == label }.map { plan.engine(of: $0).identity }
        }
        #expect(engine("ours", nil) == EngineSpec().identity)
        #expect(engine("theirs", nil) == "py-1")
        #expect(engine("mixed", "A") == EngineSpec().identity)
        #expect(engine("mixed", "B") == "sh-2")
        #expect(engine("mixed", "C") == "sh-2", "the last preset that names an engine wins")
        // One config on two engines is two runs; a preset's `engine` is not a config value.
        let ours = try #require(plan.runs(in: "ours").first), theirs = try #require(plan.runs(in: "theirs").first)
        #expect(ours.config == theirs.config && ours.id != theirs.id)
        #expect(plan.runs(in: "mixed").allSatisfy { $0.config["engine"] == nil })
        #expect(plan.enginesInUse == [nil, "py", "sh"])
    }

    /// Declaring engines changes no run that does not use them.
    @Test func runsWithoutANamedEngineKeepTheirIds() throws {
        let fixture = ManifestFixture()
        let plain = try fixture.plan("presets: {plain: {y: 2}, other: {y: 2}}\n" + """
            groups:
              ours: {set: {x: 1}}
              mixed: {rows: [{label: A, x: 2}]}

            """)
        let withEngines = try fixture.plan(Self.engines + Self.groups)
        let before = Set(plain.runs.map(\.id))
        let after = Set(withEngines.runs.filter { $0.engine == nil }.map(\.id))
        #expect(before == after && before.count == 2)
    }

    @Test func aPresetInheritsItsBaseEngineAndAGroupsEngineYieldsToAPresets() throws {
        let fixture = ManifestFixture()
        let plan = try fixture.plan(Self.engines + """
              derived: {preset: other, z: 3}
            groups:
              g:
                engine: py
                rows:
                  - {label: own, x: 1}
                  - {label: preset, preset: derived, x: 1}

            """)
        #expect(plan.runs.map { plan.engine(of: $0).identity } == ["py-1", "sh-2"])
    }

    /// What the `version` command prints is part of the identity: a new version plans new runs.
    @Test func theVersionTheEngineReportsIsPartOfTheRunIds() throws {
        let fixture = ManifestFixture()
        func version(_ script: String) throws {
            let file = fixture.write("version.sh", "#!/bin/sh\n" + script)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
        try version("echo \"toy 1.0\"\necho ignored\n")
        let manifest = """
            engines:
              toy: {command: [./train.sh, "{config}"], version: [./version.sh]}
            groups:
              g: {engine: toy, set: {x: 1}}

            """
        let first = try fixture.plan(manifest)
        #expect(first.engines["toy"]?.identity == "./train.sh {config} toy 1.0")
        #expect(first.engines["toy"]?.version == "toy 1.0")
        try version("echo \"toy 1.1\"\n")
        let second = try fixture.plan(manifest)
        #expect(first.runs[0].config == second.runs[0].config && first.runs[0].id != second.runs[0].id)

        try version("echo 'no such engine' >&2\nexit 3\n")
        let error = try #require(fixture.error(manifest))
        #expect(error.line == 2 && error.keyPath == "engines.toy.version")
        #expect(error.problem.contains("`./version.sh` exited with status 3: no such engine"), "\(error.problem)")
    }
}
