import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepReport

@Suite struct FigureTests {
    @Test func averageRankIsOverAdaptersThenSeeds() throws {
        let rows = [(label: "FAAR", runs: [Fixture.records[Fixture.id("faar-0")]!.metrics!]),
                    (label: "MTLoRA", runs: [Fixture.records[Fixture.id("mt-0")]!.metrics!,
                                             Fixture.records[Fixture.id("mt-1")]!.metrics!])]
        let chart = try #require(Figures.averageRanks(rows: rows, title: "t"))
        #expect(chart.series.map(\.name) == ["FAAR", "MTLoRA"])
        #expect(chart.series[0].points.map(\.y) == [8, 5, 10.0 / 3])
        #expect(chart.series[0].points.map(\.x) == [1, 2, 3])
        #expect(chart.series[1].points.map(\.y) == [6, 6, 6])
    }

    @Test func adapterRanksAreColouredByRole() throws {
        let chart = try #require(Figures.adapterRanks(Fixture.records[Fixture.id("faar-0")]!.metrics!, title: "t"))
        #expect(chart.series.map(\.name) == ["stage4.fc1.normals", "stage4.fc1.semseg", "stage4.fc1.shared"])
        #expect(chart.series.map(\.group) == ["normals", "semseg", "shared"])
        #expect(chart.series[2].points.map(\.y) == [8, 6, 5])
    }

    @Test func epochTimesAreMeansOverSeeds() throws {
        let runs = [Fixture.metrics([:], epochs: [10, 12, 9]), Fixture.metrics([:], epochs: [12, 10])]
        let chart = try #require(Figures.epochTimes(rows: [(label: "FAAR", runs: runs)], title: "t"))
        #expect(chart.series[0].points.map(\.y) == [11, 11, 9])
    }

    /// Every adapter of a small model: more lines than a legend can name, coloured by role.
    @Test func crowdedRankChartGolden() throws {
        var ranks: [String: [Int]] = [:]
        for stage in 1...3 {
            for layer in ["qkv", "proj", "fc1", "fc2"] {
                for (offset, role) in ["shared", "semseg", "normals"].enumerated() {
                    let start = 32 >> (offset == 0 ? 0 : 1)
                    ranks["stage\(stage).\(layer).\(role)"] = (0..<12).map { epoch in
                        max(1 + stage, start - epoch * (stage + offset + layer.count % 3))
                    }
                }
            }
        }
        var chart = try #require(Figures.adapterRanks(Fixture.metrics([:], ranks: ranks), title: "Rank of every adapter per epoch"))
        chart.subtitle = "36 adapters, coloured by role"
        #expect(chart.series.count == 36 && chart.series.count > LineChart.legendLimit)
        try GoldenTests.expectGolden(chart.svg, named: "adapter-ranks.svg")
    }

    /// A whole model's adapters (FAAR Fig. 4): banded by stage, shared before the tasks.
    @Test func rankMapBandsByStageAndRole() throws {
        var ranks: [String: [Int]] = [:]
        for stage in 0..<3 {
            for layer in ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"] {
                for (offset, role) in ["shared", "task.semseg", "task.normals"].enumerated() {
                    ranks["layers.\(stage).blocks.1.\(layer).\(role)"] = (0..<12).map { epoch in
                        max(1 + 2 * stage + offset, 16 - epoch * (3 - stage) - layer.count % 3)
                    }
                }
            }
        }
        let map = RankMap(title: "Rank of every adapter per epoch", subtitle: "36 adapters in 3 stages",
                          adapters: ranks.map { RankMap.Adapter(name: $0.key, ranks: $0.value) })
        #expect(map.adapters.map(\.stage) == (0..<3).flatMap { Array(repeating: $0, count: 12) })
        #expect(map.adapters.prefix(4).allSatisfy { $0.role == "shared" })
        #expect(map.adapters[4].name == "layers.0.blocks.1.attn.proj.task.normals")
        #expect(map.roles == ["shared", "normals", "semseg"])
        #expect(map.adapters[0].shortName == "blocks.1.attn.proj.shared")
        #expect(RankMap.shade(0, of: 16) == "#F7FBFF" && RankMap.shade(16, of: 16) == "#08306B")
        try GoldenTests.expectGolden(map.svg, named: "rank-map.svg")
        #expect(RankMap(title: "none", adapters: []).svg.hasPrefix("<svg"))

        // The table's figure is this grid past 16 adapters, lines below.
        var records = Fixture.records
        records[Fixture.id("faar-0")]!.metrics!.ranks = ranks
        let table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: records)
        let figures = Figures.all(for: table, spec: Fixture.table(), records: records)
        #expect(figures.first { $0.slug == "ranks-faar-1-2" }?.svg.contains("stage 3") == true)
        #expect(figures.first { $0.slug == "ranks-mtlora-r-64" }?.svg.contains("<polyline") == true)
    }

    /// MTLoRA's layout leaves the last block's shared fc2 adapter without a gradient (PDRS holds
    /// it at rank 1): the rank figures leave it out and say so; other layouts keep every adapter.
    @Test func rankFiguresLeaveOutTheUntrainedSharedAdapter() throws {
        var ranks: [String: [Int]] = [:]
        for stage in 0..<2 {
            for layer in ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"] {
                ranks["layers.\(stage).blocks.1.\(layer).shared"] = [8, 6, 6]
                if layer != "attn.qkv" { ranks["layers.\(stage).blocks.1.\(layer).task.semseg"] = [8, 7, 7] }
            }
        }
        ranks["layers.1.blocks.1.mlp.fc2.shared"] = [1, 1, 1]
        #expect(Figures.untrainedAdapters(in: ranks.keys) == ["layers.1.blocks.1.mlp.fc2.shared"])
        #expect(Figures.untrainedAdapters(in: ranks.keys.filter { !$0.contains(".task.") }).isEmpty)   // plain LoRA
        #expect(Figures.untrainedAdapters(in: ["stage4.fc2.shared", "stage4.fc2.semseg"]).isEmpty)

        var records = Fixture.records
        records[Fixture.id("faar-0")]!.metrics!.ranks = ranks
        let table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: records)
        let figures = Figures.all(for: table, spec: Fixture.table(), records: records)
        let average = try #require(figures.first { $0.slug == "ranks" }?.svg)
        let perAdapter = try #require(figures.first { $0.slug == "ranks-faar-1-2" }?.svg)
        #expect(average.contains("no gradient") && perAdapter.contains("no gradient"))
        // 14 adapters, one left out: 13 lines in the per-adapter chart.
        let kept = Figures.withoutUntrainedAdapters(records[Fixture.id("faar-0")]!.metrics!).ranks!
        #expect(kept.count == ranks.count - 1 && kept["layers.1.blocks.1.mlp.fc2.shared"] == nil)
    }

    @Test func paretoFrontKeepsTheUnbeatenPoints() {
        let points = [ParetoChart.Point(label: "big", x: 10, y: 5), .init(label: "small", x: 1, y: 2),
                      .init(label: "dominated", x: 5, y: 1), .init(label: "middle", x: 3, y: 4),
                      .init(label: "tie", x: 3, y: 4)]
        #expect(ParetoChart.front(points).map(\.label) == ["small", "middle", "tie", "big"])
    }

    @Test func paretoPointsComeFromTheTable() throws {
        let table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: Fixture.records)
        let chart = try #require(Figures.pareto(table))
        let ours = chart.points.filter { !$0.fromPaper }
        #expect(ours.map(\.label) == ["Single Task", "MTLoRA (r=64)", "FAAR_1+2"])
        #expect(ours.map(\.x) == [3, 2, 1.234567])
        // No published parameter counts in the fixture: no paper points.
        #expect(chart.points.allSatisfy { !$0.fromPaper })
        #expect(chart.xLabel == "Params (M)" && chart.yLabel == "Δm (%)")

        // The trivial row (here: the single-task row named so) is left out.
        var spec = Fixture.table()
        spec.trivialRow = "Single Task"
        let withoutTrivial = try #require(Figures.pareto(try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records)))
        #expect(withoutTrivial.points.map(\.label) == ["MTLoRA (r=64)", "FAAR_1+2"])
    }

    @Test func similarityFromExtrasIsSymmetricWithAUnitDiagonal() throws {
        let extras = [["similarity.semseg.normals": 0.2, "similarity.semseg.depth": -0.4, "top1": 3],
                      ["similarity.semseg.normals": 0.4, "similarity.normals.depth": 0.1]]
        let map = try #require(Figures.similarity(extras, title: "t"))
        #expect(map.labels == ["depth", "normals", "semseg"])
        #expect(map.values[2][1] == 0.30000000000000004 && map.values[1][2] == map.values[2][1])
        #expect(map.values[0][2] == -0.4 && map.values[1][0] == 0.1)
        #expect(map.values.indices.allSatisfy { map.values[$0][$0] == 1 })
        #expect(Figures.similarity([["top1": 3]], title: "t") == nil)
    }

    @Test func heatMapGolden() throws {
        // TGLoRA-like similarities on PASCAL's four tasks, one pair unreported.
        let extras = [["similarity.semseg.human_parts": 0.62, "similarity.semseg.saliency": 0.35,
                       "similarity.semseg.normals": -0.12, "similarity.human_parts.saliency": 0.28,
                       "similarity.human_parts.normals": 0.05]]
        let map = try #require(Figures.similarity(extras, title: "TGLoRA: task similarity"))
        try GoldenTests.expectGolden(map.svg, named: "similarity.svg")
    }

    /// MTLoRA Fig. 2: Δm against what the rows vary, with the spread over seeds as error bars.
    @Test func deltaMAgainstTheTablesXAxis() throws {
        var spec = Fixture.table()
        spec.xAxis = "LoRA scale alpha"
        (spec.rows[1].x, spec.rows[2].x) = (8, 0.5)
        let table = try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records)
        let chart = try #require(Figures.deltaMAgainstX(table, spec: spec))
        #expect(chart.title == "Δm (%) against LoRA scale alpha" && chart.xLabel == "LoRA scale alpha")
        // Sorted by x; FAAR's one seed has no bar, MTLoRA's two seeds have one.
        let points = chart.series[0].points
        #expect(points.map(\.x) == [0.5, 8] && abs(points[0].y - 5) < 1e-9 && points[0].spread == nil)
        #expect(abs(points[1].y - 3.5) < 1e-9 && abs(points[1].spread! - 9.19) < 0.01)
        // The bar reaches below the axis' zero, which the frame must show.
        #expect(chart.frame().y.lower <= 3.5 - 9.19)
        let figures = Figures.all(for: table, spec: spec, records: Fixture.records)
        #expect(figures.contains { $0.slug == "delta-m" })
        // Without an x axis there is no such figure.
        #expect(Figures.deltaMAgainstX(table, spec: Fixture.table()) == nil)
    }

    /// TGLoRA Fig. 4: the similarity run's heat map with the groups of the runs that need it.
    @Test func similarityHeatMapShowsTheGroupsOfTheRunsBuiltOnIt() throws {
        let similarity = RunRecord(id: Fixture.id("sim"), status: .succeeded, attempts: 1, exitCode: 0, metrics: Fixture.metrics(
            [:], ranks: nil).withExtra(["similarity.semseg.normals": -0.2, "similarity.semseg.depth": 0.5,
                                        "similarity.depth.normals": 0.1]))
        func tglora(_ name: String, _ stage2: [String: Double], status: RunStatus = .succeeded) -> RunRecord {
            var extra = ["groups.stage1.semseg": 0.0, "groups.stage1.depth": 0, "groups.stage1.normals": 0]
            for (task, group) in stage2 { extra["groups.stage2.\(task)"] = group }
            return RunRecord(id: Fixture.id(name), status: status, attempts: 1, exitCode: 0,
                             metrics: Fixture.metrics([:]).withExtra(extra))
        }
        let similar = ["semseg": 0.0, "depth": 0, "normals": 1], swapped = ["semseg": 0.0, "normals": 0, "depth": 1]
        let records = [similarity.id: similarity, Fixture.id("tg-1"): tglora("tg-1", swapped),
                       Fixture.id("tg-2"): tglora("tg-2", similar), Fixture.id("tg-3"): tglora("tg-3", similar),
                       Fixture.id("tg-4"): tglora("tg-4", swapped, status: .failed)]
        let needsSimilarity = ["similarity": similarity.id]
        let plan = Plan(name: "tglora", runs: [PlannedRun(id: similarity.id, group: "similarity", seed: 0, config: .object([:]))]
            + (1...4).map { PlannedRun(id: Fixture.id("tg-\($0)"), group: "tglora", seed: $0, config: .object([:]), needs: needsSimilarity) }
            + [PlannedRun(id: Fixture.id("other"), group: "x", seed: 0, config: .object([:]))])
        let groups = try #require(Figures.taskGroups(builtOn: [similarity.id], plan: plan, records: records,
                                                     tasks: ["depth", "normals", "semseg"]))
        // Two of the three succeeded runs group depth with semseg at stage 2; the failed one does not count.
        #expect(groups.stages == [[0, 0, 0], [0, 1, 0]] && groups.agreeing == 2 && groups.runs == 3)
        #expect(Figures.taskGroups(builtOn: [Fixture.id("other")], plan: plan, records: records, tasks: ["depth"]) == nil)

        let spec = TableSpec(name: "tg-f4", title: "TGLoRA Fig. 4", layout: "rows",
                             columns: [ColumnSpec(key: "extra.similarity.semseg.depth", header: "semseg/depth")],
                             rows: [RowSpec(label: "NYUD-v2", runs: [similarity.id])])
        let table = try Table(spec: spec, plan: plan, records: records)
        let figure = try #require(Figures.all(for: table, spec: spec, records: records, plan: plan).first)
        #expect(figure.slug == "similarity-nyud-v2" && figure.svg.contains("2 of the 3 runs that group by this similarity build these;"))
        // The task names sit beside the groups, not only across the heat map.
        #expect(figure.svg.components(separatedBy: ">normals<").count == 4)
        #expect(Figures.groupsCaption(agreeing: 30, runs: 30)[2] == "All 30 runs that group by this similarity build these groups.")
        try GoldenTests.expectGolden(figure.svg, named: "similarity-groups.svg")
    }

    @Test func heatMapColoursDivergeFromWhite() {
        #expect(HeatMap.color(0) == "#FFFFFF")
        #expect(HeatMap.color(1) == "#B2182B")
        #expect(HeatMap.color(-1) == "#2166AC")
        #expect(HeatMap.color(7) == HeatMap.color(1))
    }

    @Test func axesTickAtRoundNumbers() {
        let axis = Axis(values: [0.3, 9.2])
        #expect(axis.ticks == [0, 2, 4, 6, 8, 10])
        #expect(axis.label(4) == "4")
        let small = Axis(values: [-0.031, 0.047], targetTicks: 5)
        #expect(small.ticks.first! <= -0.031 && small.ticks.last! >= 0.047)
        #expect(small.decimals == 2)
    }

    @Test func countsNeverGoBelowZero() {
        // Padding a positive range must not push an axis that includes 0 below it.
        let axis = Axis(values: [0.45, 9.2], includeZero: true, padded: true)
        #expect(axis.lower == 0 && axis.upper >= 9.2)
        let negative = Axis(values: [-2.1, 1.3], includeZero: true, padded: true)
        #expect(negative.lower < -2.1 && negative.upper > 1.3)
    }

    @Test func logarithmicAxisTicksAtOneTwoFive() {
        let axis = Axis(logarithmicValues: [0.45, 9.2])
        #expect(axis.ticks == [0.2, 0.5, 1, 2, 5, 10, 20])
        #expect(axis.ticks.map(axis.label) == ["0.2", "0.5", "1", "2", "5", "10", "20"])
        #expect(abs(axis.scale(1, from: 0, to: 100) - 100 * log10(1 / 0.2) / log10(20 / 0.2)) < 1e-9)
        // Past three decades only the powers of ten.
        let wide = Axis(logarithmicValues: [0.03, 112])
        #expect(wide.ticks == [0.01, 0.1, 1, 10, 100, 1000])
    }

    @Test func paretoAxisIsLogarithmicOnlyAcrossADecade() {
        func chart(_ xs: [Double]) -> ParetoChart {
            ParetoChart(title: "t", xLabel: "x", yLabel: "y", points: xs.map { .init(label: "\($0)", x: $0, y: 1) })
        }
        #expect(chart([0.5, 9.2]).xAxis.logarithmic)
        #expect(!chart([0.5, 0.64]).xAxis.logarithmic)
        #expect(chart([0.5, 0.64]).xAxis.lower == 0)
    }

    /// The labels of a crowded chart: none overlaps another or a marker, and all stay in the plot.
    @Test func paretoLabelsDoNotCollide() throws {
        let points = (0..<9).map { ParetoChart.Point(label: "row number \($0)", x: 0.5 + Double($0 % 3) * 0.02,
                                                     y: 1 + Double($0 / 3) * 0.05) }
            + [.init(label: "Single Task", x: 9.2, y: 0), .init(label: "Single Task", x: 112, y: 0, fromPaper: true)]
        let chart = ParetoChart(title: "t", xLabel: "x", yLabel: "y", points: points)
        let frame = PlotFrame(title: "t", xLabel: "x", yLabel: "y", x: chart.xAxis,
                              y: chart.yAxis)
        let (numbered, spots) = chart.labels(in: frame)
        let placement = LabelPlacement(bounds: .init(left: 0, top: 0, right: 0, bottom: 0), markers: [], radius: 0,
                                       fontSize: ParetoChart.labelSize)
        let boxes = spots.map { placement.box(of: $0.text, at: $0.spot) }
        let markers = points.map { point in
            LabelPlacement.Box(left: frame.px(point.x) - 4.5, top: frame.py(point.y) - 4.5,
                               right: frame.px(point.x) + 4.5, bottom: frame.py(point.y) + 4.5)
        }
        // Nine long labels in a 40-pixel cluster cannot all sit beside their points: numbers instead.
        // Our point and the paper's of one row share its number.
        #expect(numbered && spots.map(\.text) == (1...10).map(String.init) + ["10"])
        for (index, box) in boxes.enumerated() {
            #expect(!boxes[(index + 1)...].contains(where: box.overlaps), "label \(index + 1) overlaps a later one")
            #expect(!markers.contains(where: box.overlaps), "label \(index + 1) covers a marker")
        }
        #expect(chart.svg.components(separatedBy: ">10  Single Task</text>").count == 2)
    }

    @Test func paretoKeepsNamesWhenTheyFit() throws {
        let table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: Fixture.records)
        let chart = try #require(Figures.pareto(table))
        #expect(!chart.svg.contains("1  Single Task"))
        #expect(chart.svg.contains(">MTLoRA (r=64)</text>"))
    }

    @Test func costOverTrainingStacksRankTimeAndGMACs() throws {
        var faar = Fixture.metrics([:], epochs: [10, 9, 8], ranks: ["a.shared": [8, 6, 4], "a.semseg": [8, 4, 2]])
        faar.epochGMACs = [4.5, 4.25, 4]
        var faarSeed1 = faar
        faarSeed1.epochSeconds = [12, 11, 10]
        faarSeed1.epochGMACs = [4.75, 4.25, 4.5]
        var mtlora = Fixture.metrics([:], epochs: [11, 11, 11])
        mtlora.epochGMACs = [4.9, 4.9, 4.9]
        let chart = try #require(Figures.costOverTraining(
            rows: [(label: "FAAR", runs: [faar, faarSeed1]), (label: "MTLoRA", runs: [mtlora])], title: "Cost over training"))
        #expect(chart.panels.map(\.yLabel) == ["average rank", "epoch time (s)", "GMACs per image"])
        #expect(chart.panels[0].series.map(\.name) == ["FAAR"])        // MTLoRA logs no ranks
        #expect(chart.panels[0].series[0].points.map(\.y) == [8, 5, 3])
        #expect(chart.panels[1].series[0].points.map(\.y) == [11, 10, 9])
        #expect(chart.panels[2].series.map { $0.points.map(\.y) } == [[4.625, 4.25, 4.25], [4.9, 4.9, 4.9]])
        // Without GMACs per epoch (an older engine) there is no such figure.
        #expect(Figures.costOverTraining(rows: [(label: "MTLoRA", runs: [Fixture.metrics([:])])], title: "t") == nil)
        try GoldenTests.expectGolden(chart.svg, named: "cost.svg")
    }

    @Test func aCostTableDrawsTheStackedFigureInsteadOfTheTimes() throws {
        var spec = Fixture.table()
        spec.columns = [ColumnSpec(key: "gmacs", header: "GMACs"), ColumnSpec(key: "epoch_seconds", header: "Epoch (s)")]
        var records = Fixture.records
        for id in records.keys where records[id]?.metrics != nil { records[id]!.metrics!.epochGMACs = [4.5, 4.5] }
        let table = try Table(spec: spec, plan: Fixture.demoPlan, records: records)
        #expect(Figures.all(for: table, spec: spec, records: records).map(\.slug).contains("cost"))
        #expect(!Figures.all(for: table, spec: spec, records: records).map(\.slug).contains("epoch-seconds"))
        #expect(Figures.all(for: table, spec: spec, records: Fixture.records).map(\.slug).contains("epoch-seconds"))
    }

    @Test func svgEscapesLabels() {
        let chart = ParetoChart(title: "A & B <x>", xLabel: "x", yLabel: "y",
                                points: [.init(label: "\"q\"", x: 1, y: 1)])
        #expect(chart.svg.contains("A &amp; B &lt;x&gt;"))
        #expect(chart.svg.contains("&quot;q&quot;"))
    }

    @Test func slugs() {
        #expect(Figures.slugged("MTLoRA (r=64)") == "mtlora-r-64")
        #expect(Figures.slugged("ρ = 0.95") == "0-95")
        #expect(Figures.slugged("†") == "row")
    }
}

extension RunMetrics {
    func withExtra(_ extra: [String: Double]) -> RunMetrics {
        var copy = self
        copy.extra = extra
        return copy
    }
}
