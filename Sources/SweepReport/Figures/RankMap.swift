import Foundation

/// Every adapter's rank per epoch as a grid: one row per adapter, one column per epoch, the
/// rank as the shade (FAAR's Fig. 4). Rows are banded by backbone stage and, within a stage, by
/// role (shared first, then each task), so the paper's two observations read off the picture:
/// task-specific adapters and deeper stages keep larger ranks. A line per adapter stops being
/// readable past a dozen adapters; a model has dozens.
public struct RankMap: Sendable {
    public struct Adapter: Sendable, Equatable {
        public var name: String
        public var ranks: [Int]
        public init(name: String, ranks: [Int]) { self.name = name; self.ranks = ranks }

        /// `layers.2.blocks.1.mlp.fc1.task.normals` -> 2 (shown as stage 3); nil without `layers.N`.
        var stage: Int? {
            let parts = name.split(separator: ".")
            guard let index = parts.firstIndex(of: "layers"), index + 1 < parts.count else { return nil }
            return Int(parts[index + 1])
        }

        /// The last dotted part: `shared` or the task.
        var role: String { name.split(separator: ".").last.map(String.init) ?? name }

        /// The name without the stage prefix, for the row's label.
        var shortName: String {
            guard let stage else { return name }
            let prefix = "layers.\(stage)."
            return name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
        }
    }

    public var title: String
    public var subtitle: String?
    public var adapters: [Adapter]

    /// Sorts the adapters into bands: by stage, then shared before the tasks, then by name.
    public init(title: String, subtitle: String? = nil, adapters: [Adapter]) {
        self.title = title
        self.subtitle = subtitle
        self.adapters = adapters.sorted { a, b in
            let roleA = a.role == "shared" ? "" : a.role, roleB = b.role == "shared" ? "" : b.role
            return (a.stage ?? -1, roleA, a.name) < (b.stage ?? -1, roleB, b.name)
        }
    }

    /// The roles in band order, for the colour strip and its legend.
    var roles: [String] {
        var roles: [String] = []
        for adapter in adapters where !roles.contains(adapter.role) { roles.append(adapter.role) }
        return roles.sorted { ($0 == "shared" ? "" : $0) < ($1 == "shared" ? "" : $1) }
    }

    /// White at rank 0 to dark blue at the largest rank.
    static func shade(_ rank: Int, of largest: Int) -> String {
        let t = largest > 0 ? Double(rank) / Double(largest) : 0
        let (r, g, b) = (247 - t * (247 - 8), 251 - t * (251 - 48), 255 - t * (255 - 107))
        return String(format: "#%02X%02X%02X", Int(r.rounded()), Int(g.rounded()), Int(b.rounded()))
    }

    public var svg: String {
        let epochs = adapters.map(\.ranks.count).max() ?? 0
        let largest = adapters.flatMap(\.ranks).max() ?? 1
        let rowHeight = max(4, min(14, (900 / Double(max(1, adapters.count))).rounded(.down)))
        let labelled = rowHeight >= 9
        let longest = labelled ? Double(adapters.map(\.shortName.count).max() ?? 0) * 5.6 : 0
        let left = 60 + longest + 22, top = 92.0
        let columnWidth = max(6, min(40, 460 / Double(max(1, epochs))))
        let gridWidth = Double(epochs) * columnWidth
        let height = top + Double(adapters.count) * rowHeight
        let legendX = left + gridWidth + 30
        let width = max(legendX + 170, Double(max(title.count, subtitle?.count ?? 0)) * 6.6 + 40)
        let roles = roles
        let steps = 8
        let rolesTop = top + 12 + Double(steps + 1) * 14 + 24
        var canvas = SVGCanvas(width: width, height: max(height + 20, rolesTop + 10 + Double(roles.count) * 18 + 20))
        canvas.text(title, width / 2, 22, size: 15, anchor: .middle, weight: "bold")
        if let subtitle { canvas.text(subtitle, width / 2, 40, size: 12, anchor: .middle, fill: "#555") }

        // Epoch numbers over the columns, thinned to about ten.
        let every = max(1, Int((Double(epochs) / 10).rounded(.up)))
        canvas.text("epoch", left + gridWidth / 2, top - 24, size: 12, anchor: .middle)
        for epoch in stride(from: 0, to: epochs, by: every) {
            canvas.text(String(epoch + 1), left + (Double(epoch) + 0.5) * columnWidth, top - 6, size: 10, anchor: .middle)
        }
        for (row, adapter) in adapters.enumerated() {
            let y = top + Double(row) * rowHeight
            canvas.rect(left - 14, y, 10, rowHeight, fill: Palette.color(roles.firstIndex(of: adapter.role) ?? 0))
            if labelled {
                canvas.text(adapter.shortName, left - 18, y + rowHeight - 2.5, size: rowHeight - 2, anchor: .end)
            }
            for (epoch, rank) in adapter.ranks.enumerated() {
                canvas.rect(left + Double(epoch) * columnWidth, y, columnWidth, rowHeight, fill: Self.shade(rank, of: largest))
            }
        }
        // Stage bands: a bracket and a separating line where the stage changes.
        var start = 0
        for row in 1..<(adapters.count + 1) where row == adapters.count || adapters[row].stage != adapters[start].stage {
            let y0 = top + Double(start) * rowHeight, y1 = top + Double(row) * rowHeight
            if let stage = adapters[start].stage {
                canvas.line(18, y0 + 1, 18, y1 - 1, stroke: "#555")
                canvas.text("stage \(stage + 1)", 12, (y0 + y1) / 2, size: 11, anchor: .middle, rotation: -90)
            }
            if row < adapters.count { canvas.line(left - 14, y1, left + gridWidth, y1, stroke: "#000", width: 1.5) }
            start = row
        }
        // Legends: the shade's scale, then the roles' colours.
        canvas.text("rank", legendX, top + 4, size: 12, weight: "bold")
        for step in 0...steps {
            let rank = Int((Double(largest) * Double(steps - step) / Double(steps)).rounded())
            canvas.rect(legendX, top + 12 + Double(step) * 14, 18, 14, fill: Self.shade(rank, of: largest))
            if step % 2 == 0 { canvas.text(String(rank), legendX + 24, top + 23 + Double(step) * 14, size: 11) }
        }
        canvas.text("adapter", legendX, rolesTop, size: 12, weight: "bold")
        for (index, role) in roles.enumerated() {
            let y = rolesTop + 10 + Double(index) * 18
            canvas.rect(legendX, y, 10, 12, fill: Palette.color(index))
            canvas.text(role, legendX + 16, y + 10, size: 12)
        }
        return canvas.document
    }
}
