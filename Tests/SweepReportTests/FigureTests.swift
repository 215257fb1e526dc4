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
