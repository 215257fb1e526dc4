import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepManifest

/// How groups expand into runs: products, zips, rows, include / exclude, presets, conditionals, seeds.
@Suite struct GridAlgebraTests {
    let fixture = ManifestFixture()

    @Test func gridIsAProductWithTheLastAxisTurningFastestAndSeedsInnermost() throws {
        let plan = try fixture.plan("""
            seeds: [0, 1]
            groups:
              g:
                grid:
                  adapter: [lora, dora]
                  r_init: [4, 16, 64]
            """)
        #expect(plan.runs.count == 2 * 3 * 2)
        let order = plan.runs.map { "\($0.config["adapter"]!)-\($0.config["r_init"]!)-\($0.seed)" }
        #expect(order == ["lora-4-0", "lora-4-1", "lora-16-0", "lora-16-1", "lora-64-0", "lora-64-1",
                          "dora-4-0", "dora-4-1", "dora-16-0", "dora-16-1", "dora-64-0", "dora-64-1"])
        #expect(plan.runs[0].axes == ["adapter": .string("lora"), "r_init": .int(4)])
        #expect(plan.runs.allSatisfy { $0.config["seed"] == .int($0.seed) })
    }

    @Test func zipPairsValuesAndBlocksCombineAsAProduct() throws {
        let plan = try fixture.plan("""
            groups:
              g:
                grid: {backbone: [tiny, base]}
                zip:
                  - {rho_shared: [0.9, 0.95], rho_task: [0.8, 0.85]}
                  - {lr: [0.1, 0.2, 0.3]}
            """)
        #expect(plan.runs.count == 2 * 2 * 3)
        let pairs = Set(plan.runs.map { "\($0.config["rho_shared"]!)/\($0.config["rho_task"]!)" })
        #expect(pairs == ["0.9/0.8", "0.95/0.85"])
    }

    @Test func rowsAreCrossedWithTheGridAndIncludeAddsPointsAfterIt() throws {
        let plan = try fixture.plan("""
            groups:
              ablation:
                rows:
                  - {label: high, r: 64}
                  - {label: low, r: 4}
                grid: {adapter: [lora, dora]}
                include:
                  - {label: extra, r: 32, adapter: lora}
                  - {r: 8, adapter: dora}
            """)
        #expect(plan.runs.map { $0.label ?? "-" } == ["high", "high", "low", "low", "extra", "-"])
        #expect(plan.runs.map { $0.config["r"]!.intValue! } == [64, 64, 4, 4, 32, 8])
        // Include entries are not crossed with the grid: they carry their own adapter.
        #expect(plan.runs[4].config["adapter"] == .string("lora"))
    }

    @Test func excludeMatchesTheFinishedConfigWithListsMeaningAnyOf() throws {
        let plan = try fixture.plan("""
            presets:
              faar: {method: faar}
              mtlora: {method: mtlora}
            groups:
              g:
                grid:
                  preset: [mtlora, faar]
                  r_init: [4, 16, 64]
                exclude:
                  - {method: faar, r_init: [4, 16]}
                  - {r_init: 64.0, method: mtlora}
            """)
        let kept = plan.runs.map { "\($0.config["method"]!)-\($0.config["r_init"]!)" }
        #expect(kept == ["mtlora-4", "mtlora-16", "faar-64"])
    }

    @Test func presetsBuildOnEachOtherAndAPointsOwnValuesWin() throws {
        let plan = try fixture.plan("""
            defaults: {adapter: lora, r_task: 2, optimizer: {name: adamw, lr: 0.001}}
            presets:
              mtlora: {method: mtlora, r_task: 4}
              faar: {preset: mtlora, method: faar, adapter: dora, optimizer.lr: 0.0005}
            groups:
              g:
                rows:
                  - {label: FAAR, preset: faar}
                  - {label: FAAR r8, preset: faar, r_task: 8}
            """)
        let faar = plan.runs[0].config
        #expect(faar["method"] == .string("faar"))
        #expect(faar["adapter"] == .string("dora"))
        #expect(faar["r_task"] == .int(4))
        // A dotted key changes one value inside a mapping and keeps the rest.
        #expect(faar["optimizer"] == .object(["name": .string("adamw"), "lr": .double(0.0005)]))
        #expect(plan.runs[1].config["r_task"] == .int(8))
    }

    @Test func conditionalsApplyInOrderAndSeeTheirPredecessors() throws {
        let plan = try fixture.plan("""
            conditionals:
              - when: {method: faar}
                set: {pdrs: true}
              - when: {pdrs: true}
                set: {rho_shared: 0.95}
            groups:
              g:
                grid: {method: [mtlora, faar]}
                conditionals:
                  - when: {method: mtlora}
                    set: {r_task: 4}
            """)
        #expect(plan.runs[0].config["pdrs"] == nil)
        #expect(plan.runs[0].config["r_task"] == .int(4))
        #expect(plan.runs[1].config["pdrs"] == .bool(true))
        #expect(plan.runs[1].config["rho_shared"] == .double(0.95))
    }

    @Test func seedsCanBeACountAndAGroupCanHaveItsOwn() throws {
        let plan = try fixture.plan("""
            seeds: 3
            groups:
              a: {set: {x: 1}}
              b: {set: {x: 2}, seeds: [7]}
            """)
        #expect(plan.runs(in: "a").map(\.seed) == [0, 1, 2])
        #expect(plan.runs(in: "b").map(\.seed) == [7])
    }

    @Test func yamlOneTwoScalarsDottedKeysAndMergeKeys() throws {
        let plan = try fixture.plan("""
            base: &base {epochs: 3, optimizer: {lr: 1e-3}}
            groups:
              g:
                set:
                  <<: *base
                  backbone: no
                  date: 2024-01-01
                  flag: true
                  decoder.name: hrnet
            """.replacingOccurrences(of: "base: &base", with: "defaults: &base"))
        let config = plan.runs[0].config
        #expect(config["backbone"] == .string("no"))
        #expect(config["date"] == .string("2024-01-01"))
        #expect(config["flag"] == .bool(true))
        #expect(config["epochs"] == .int(3))
        #expect(config["optimizer"] == .object(["lr": .double(0.001)]))
        #expect(config["decoder"] == .object(["name": .string("hrnet")]))
    }
}

/// Dependencies, identity, merging and order.
@Suite struct PlanStructureTests {
    let fixture = ManifestFixture()

    static let pipeline = """
        seeds: [0, 1]
        groups:
          finetune:
            grid: {backbone: [tiny, base], task: [semseg, normals]}
            needs:
              pretrain: {group: pretrain, match: [backbone], where: {seed: 0}}
              similarity: {group: similarity, match: [backbone, seed]}
            set:
              pretrained: ${needs.pretrain}/backbone.safetensors
              similarity: ${needs.similarity}
          similarity:
            grid: {backbone: [tiny, base]}
            needs: {pretrain: {group: pretrain, match: [backbone], where: {seed: 0}}}
            set: {phase: similarity, weights: "${needs.pretrain}/backbone.safetensors"}
          pretrain:
            grid: {backbone: [tiny, base]}
            set: {phase: pretrain}
        """

    @Test func needsSelectTheMatchingRunAndBecomeRunReferences() throws {
        let plan = try fixture.plan(Self.pipeline)
        for run in plan.runs(in: "finetune") {
            let pretrain = try #require(plan.run(run.needs["pretrain"]!))
            #expect(pretrain.group == "pretrain")
            #expect(pretrain.config["backbone"] == run.config["backbone"])
            #expect(pretrain.seed == 0)
            let similarity = try #require(plan.run(run.needs["similarity"]!))
            #expect(similarity.config["backbone"] == run.config["backbone"])
            #expect(similarity.seed == run.seed)
            #expect(run.config["pretrained"] == .string(RunReference.make(pretrain.id, path: "backbone.safetensors")))
            #expect(run.config["similarity"] == .string(RunReference.make(similarity.id)))
            #expect(run.config["needs"] == .object(["pretrain": .string(RunReference.make(pretrain.id)),
                                                    "similarity": .string(RunReference.make(similarity.id))]))
        }
    }

    @Test func runsAreOrderedDependenciesFirst() throws {
        let plan = try fixture.plan(Self.pipeline)
        // Declared finetune, similarity, pretrain; planned the other way round.
        #expect(plan.runs.map(\.group).first == "pretrain")
        for (index, run) in plan.runs.enumerated() {
            for dependency in run.needs.values { #expect(plan.position[dependency]! < index) }
        }
        #expect(plan.runs.count == 4 + 4 + 8)
    }

    @Test func idsAreTheHashOfTheCanonicalConfigAndTheEngine() throws {
        // Expected values computed independently: sha256(canonical + "\n" + identity)[:8] in hex.
        let config = JSONValue.object(["a": .array([.double(1), .string("x\"y")]), "b": .int(1), "c": .null])
        let engine = EngineSpec(identity: "mtl-engine")
        #expect(RunID(config: config, engine: engine).rawValue == "df8e5b08d27b42d2")
        let escaped = JSONValue.object(["s": .string("é\u{1}\t")])
        #expect(escaped.canonical == #"{"s":"é\u0001\t"}"#)
        #expect(RunID(config: escaped, engine: engine).rawValue == "a8e6acb6bba8ab82")
        // The bundled engine's version is part of its identity: a new version plans new runs.
        #expect(EngineSpec().identity == "mtl-engine \(BundledEngine.version)")

        let plan = try fixture.plan(Self.pipeline)
        for run in plan.runs { #expect(run.id == RunID(config: run.config, engine: plan.engine)) }
        // Same manifest, another directory: same ids (references, not paths).
        let elsewhere = try ManifestFixture().plan(Self.pipeline)
        #expect(elsewhere.runs.map(\.id) == plan.runs.map(\.id))
    }

    @Test func theEngineIdentityIsPartOfEveryId() throws {
        let own = try fixture.plan("groups: {g: {set: {x: 1}}}")
        let custom = try fixture.plan("""
            engine: {command: [python, train.py, --cfg, "{config}", --out, "{out}"]}
            groups: {g: {set: {x: 1}}}
            """)
        #expect(custom.engine.command == ["python", "train.py", "--cfg", "{config}", "--out", "{out}"])
        #expect(custom.engine.identity == "python train.py --cfg {config} --out {out}")
        #expect(own.runs[0].id != custom.runs[0].id)
        #expect(own.runs[0].config == custom.runs[0].config)
    }

    /// `engine: {blas_core: X}` pins OpenBLAS's kernels for every run: other kernels give other
    /// bits, so the pin is part of every id, and the runs get it in their environment.
    @Test func aPinnedBLASCoreIsPartOfEveryIdAndEnvironment() throws {
        let native = try fixture.plan("groups: {g: {set: {x: 1}}}")
        let pinned = try fixture.plan("engine: {blas_core: Haswell}\ngroups: {g: {set: {x: 1}}}")
        #expect(native.engine.blasCore == nil && native.engine.environment.isEmpty)
        #expect(pinned.engine.blasCore == "Haswell")
        #expect(pinned.engine.environment == ["OPENBLAS_CORETYPE": "Haswell", "MTL_BLAS_CORE": "Haswell"])
        #expect(pinned.runs[0].config == native.runs[0].config && pinned.runs[0].id != native.runs[0].id)
        // Unpinned ids are what they were before pins existed: the identity alone.
        #expect(native.engine.runIdentity == native.engine.identity)
        let error = try #require(fixture.error("engine: {blas_core: \"Has well\"}\ngroups: {g: {set: {x: 1}}}"))
        #expect(error.line == 1 && error.problem.contains("blas_core"))
    }

    @Test func identicalConfigsAreOneRunKeptAtTheFirstPlace() throws {
        let plan = try fixture.plan("""
            groups:
              references:
                rows:
                  - {label: Single Task, method: single_task, task: semseg}
              ablation:
                rows:
                  - {label: baseline, method: single_task, task: semseg}
                  - {label: mtlora, method: mtlora}
                grid: {r: [1]}
                exclude: [{method: single_task, r: 2}]
              again:
                grid: {method: [mtlora, mtlora]}
                set: {r: 1}
            tables:
              t:
                columns: [semseg]
                rows:
                  - {label: baseline, group: ablation}
                  - {label: Single Task, group: references}
            """)
        // "baseline" differs from "Single Task" by r; mtlora twice in `again` equals the ablation's.
        #expect(plan.runs.count == 3)
        #expect(plan.runs.map(\.group) == ["references", "ablation", "ablation"])
        let rows = plan.tables[0].rows
        #expect(rows[0].runs == [plan.runs[1].id])
        #expect(rows[1].runs == [plan.runs[0].id])
    }

    @Test func twoManifestsAskingForTheSameRunShareItsId() throws {
        let a = try fixture.plan("""
            defaults: {epochs: 10}
            groups: {x: {grid: {r: [4, 8]}}}
            """)
        let b = try ManifestFixture().plan("""
            groups:
              y:
                set: {r: 8, epochs: 10}
            """)
        #expect(a.runs[1].id == b.runs[0].id)
    }
}

/// Overrides, profiles, includes, executor, tables.
@Suite struct ManifestOptionsTests {
    let fixture = ManifestFixture()

    static let manifest = """
        defaults: {epochs: 10, optimizer: {lr: 0.001}}
        seeds: [0, 1, 2]
        executor: {kind: local, slots: 4, threads: 2, timeout: 1h30m, retries: 2, partition: cpu, cpus_per_task: 4, time: "1-00:00:00", mem: 4G, max_concurrent: 8, sbatch_args: [--qos=short], runs_per_task: 5}
        conditionals:
          - when: {method: faar}
            set: {epochs: 20}
        profiles:
          smoke: {epochs: 1, seeds: [0], executor.slots: 1}
        groups:
          g: {grid: {method: [mtlora, faar]}}
        """

    @Test func executorSettings() throws {
        let executor = try fixture.plan(Self.manifest).executor
        #expect(executor == ExecutorSettings(kind: .local, slots: 4, threadsPerRun: 2, timeoutSeconds: 5400, retries: 2,
                                             slurm: SlurmSettings(partition: "cpu", time: "1-00:00:00", cpusPerTask: 4, memory: "4G",
                                                                   maxConcurrent: 8, sbatchArguments: ["--qos=short"], runsPerTask: 5)))
    }

    @Test func configOverridesWinEvenOverConditionals() throws {
        let plan = try fixture.plan(Self.manifest, overrides: ["epochs=5", "optimizer.lr=1e-4", "+warmup=2", "seeds=[3]"])
        #expect(plan.runs.count == 2)
        #expect(plan.runs.allSatisfy { $0.config["epochs"] == .int(5) && $0.seed == 3 && $0.config["warmup"] == .int(2) })
        #expect(plan.runs[0].config["optimizer"] == .object(["lr": .double(0.0001)]))
    }

    @Test func aProfileAppliesItsOverridesAndNamesItselfInTheConfig() throws {
        let plan = try fixture.plan(Self.manifest, overrides: ["epochs=2"], profile: "smoke")
        #expect(plan.executor.slots == 1)
        #expect(plan.runs.count == 2)
        // The command line wins over the profile.
        #expect(plan.runs.allSatisfy { $0.config["profile"] == .string("smoke") && $0.config["epochs"] == .int(2) })
        let full = try fixture.plan(Self.manifest, overrides: ["epochs=2", "seeds=[0]"])
        #expect(full.runs[0].config["profile"] == nil)
        #expect(full.runs[0].id != plan.runs[0].id)
    }

    @Test func includedFilesMergeUnderneathAndKeepTheirPositions() throws {
        fixture.write("common/base.yaml", """
            defaults: {epochs: 10, image_size: 64}
            presets: {mtlora: {method: mtlora}}
            groups:
              pretrain: {set: {phase: pretrain}}
            """)
        let plan = try fixture.plan("""
            include: [common/base.yaml]
            defaults: {epochs: 3}
            groups:
              g: {rows: [{label: M, preset: mtlora}]}
            """)
        #expect(plan.runs.map(\.group) == ["pretrain", "g"])
        #expect(plan.runs[1].config["epochs"] == .int(3))
        #expect(plan.runs[1].config["image_size"] == .int(64))
        #expect(plan.runs[1].config["method"] == .string("mtlora"))
    }

    @Test func tablesSelectRunsAndCarryPublishedValues() throws {
        fixture.write("data/paper.yaml", """
            t1:
              source: "FAAR, Table 1"
              rows:
                Single Task: {semseg: 67.21, normals: 17.97}
                FAAR: {semseg: 72.02}
            """)
        let plan = try fixture.plan("""
            seeds: [0, 1]
            groups:
              st: {grid: {task: [semseg, normals], backbone: [tiny, base]}}
              ours:
                rows: [{label: FAAR (ours), method: faar}]
                grid: {backbone: [tiny, base]}
            tables:
              main:
                title: Main
                layout: transposed
                columns: [semseg, {key: normals, header: "Normals", direction: lower, precision: 1}, delta_m, extra.top1]
                reference: Single Task
                paper: {file: data/paper.yaml, table: t1}
                rows:
                  - {label: Single Task, group: st, where: {backbone: tiny}}
                  - {label: FAAR, group: ours, row: FAAR (ours), where: {backbone: tiny}, paper: {normals: 16.35}}
                  - {label: VPT-deep, paper_only: true, paper: {semseg: 64.35}, note: not implemented}
            """)
        let table = try #require(plan.tables.first)
        #expect(table.name == "main" && table.title == "Main" && table.layout == "transposed")
        #expect(table.columns.map(\.key) == ["semseg", "normals", "delta_m", "extra.top1"])
        #expect(table.columns[1] == ColumnSpec(key: "normals", header: "Normals", direction: .lower, precision: 1))
        #expect(table.columns[2].header == "Δm (%)" && table.columns[3].header == "top1")
        #expect(table.referenceRow == "Single Task" && table.paperSource == "FAAR, Table 1")
        #expect(table.rows.map(\.label) == ["Single Task", "FAAR", "VPT-deep"])
        #expect(table.rows[0].runs.count == 2 * 2)
        #expect(table.rows[0].runs.allSatisfy { plan.run($0)!.config["backbone"] == .string("tiny") })
        #expect(table.rows[1].runs.count == 2)
        #expect(table.rows[1].paper == ["semseg": PublishedValue(72.02, decimals: 2), "normals": PublishedValue(16.35, decimals: 2)])
        #expect(table.rows[2].paperOnly && table.rows[2].runs.isEmpty && table.rows[2].note == "not implemented")
    }

    @Test func publishedValuesKeepThePapersPrecisionAndMarks() throws {
        let plan = try fixture.plan("""
            groups:
              g: {rows: [{label: M, method: mtlora}]}
            tables:
              t:
                columns: [semseg, depth, delta_m, gmacs]
                reference: M
                rows:
                  - {label: M, group: g, paper: {semseg: 41, depth: 0.60, delta_m: +2.5, gmacs: "≈ 41"}}
                  - {label: P, paper_only: true, paper: {delta_m: "−0.12", depth: 1e-1}}
            """)
        let rows = try #require(plan.tables.first).rows
        #expect(rows[0].paper == ["semseg": PublishedValue(41, decimals: 0), "depth": PublishedValue(0.6, decimals: 2),
                                  "delta_m": PublishedValue(2.5, decimals: 1),
                                  "gmacs": PublishedValue(41, decimals: 0, approximate: true)])
        let marks = try fixture.plan("""
            groups:
              g: {rows: [{label: M, method: mtlora}]}
            tables:
              t:
                columns: [semseg, single_inference]
                rows:
                  - {label: M, group: g}
                  - {label: P, paper_only: true, paper: {single_inference: "✕"}}
                  - {label: Q, paper_only: "no rank given", paper: {single_inference: true}}
            """)
        let marked = try #require(marks.tables.first)
        #expect(marked.columns[1].header == "Single inf. (all tasks)")
        #expect(marked.rows[1].paper["single_inference"]?.value == 0 && marked.rows[2].paper["single_inference"]?.value == 1)
        let series = try fixture.plan("""
            groups:
              g: {rows: [{label: A, method: mtlora, lora_scale: 1.0}, {label: B, method: mtlora}]}
            tables:
              t:
                columns: [semseg]
                x_axis: LoRA scale alpha
                rows:
                  - {label: A, group: g, x: 1}
                  - {label: B, group: g, x: 4.0}
            """)
        #expect(series.tables[0].xAxis == "LoRA scale alpha" && series.tables[0].rows.map(\.x) == [1, 4])
        let grid = try fixture.plan("""
            groups:
              g: {rows: [{label: A, method: mtlora}, {label: B, method: lora}]}
            tables:
              t:
                layout: grid
                columns: [gmacs]
                rows:
                  - {label: A, group: g, grid: ["PASCAL, 4 tasks", shared]}
                  - {label: B, group: g, grid: ["PASCAL, 4 tasks", individual]}
            """)
        #expect(grid.tables[0].rows.map(\.gridPosition) == [GridPosition(line: "PASCAL, 4 tasks", column: "shared"),
                                                            GridPosition(line: "PASCAL, 4 tasks", column: "individual")])
        // paper_only: true means the engine does not implement the row; a string says why else there are no runs.
        #expect(marked.rows[1].paperOnly && marked.rows[1].paperOnlyReason == nil)
        #expect(marked.rows[2].paperOnly && marked.rows[2].paperOnlyReason == "no rank given")
        // The paper's typographic minus; a number in exponent form has no decimals to keep.
        #expect(rows[1].paper == ["delta_m": PublishedValue(-0.12, decimals: 2), "depth": PublishedValue(0.1)])
    }

    @Test func errorsReadLikeCompilerDiagnostics() {
        let error = fixture.error("""
            groups:
              g:
                gird: {r: [1]}
            """)
        #expect(error?.description == """
            \(fixture.directory.path)/manifest.yaml:3:5: groups.g.gird: unknown key 'gird' in group 'g'
              expected: one of description, set, grid, zip, rows, include, exclude, conditionals, seeds, needs, engine
              did you mean 'grid'?
            """)
    }
}

@Suite struct ManifestSectionOverrideTests {
    let fixture = ManifestFixture()

    @Test func anOverrideCanReachIntoAGroupsGrid() throws {
        let manifest = """
            groups:
              grid:
                grid: {r_init: [4, 16, 64], adapter: [lora, dora]}
            """
        let plan = try fixture.plan(manifest, overrides: ["groups.grid.grid.r_init=[8]", "engine.identity=v2"])
        #expect(plan.runs.map { $0.config["r_init"]! } == [.int(8), .int(8)])
        #expect(plan.engine.identity == "v2")
        let error = fixture.error(manifest, overrides: ["groups.grid.grid.r_init=[]"])
        #expect(error?.file == ManifestError.commandLine)
        #expect(error?.line == 1 && error?.column == 25)
        #expect(error?.problem.contains("empty axis 'r_init'") == true)
    }
}
