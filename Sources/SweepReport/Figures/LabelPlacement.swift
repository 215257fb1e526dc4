import Foundation

/// Puts text labels beside points so that no label covers another label, a marker, or leaves
/// the plot: each label takes the first free spot of a fixed list around its point, nearest
/// first. Greedy and deterministic, so the same points always give the same picture.
struct LabelPlacement {
    struct Box: Equatable {
        var left, top, right, bottom: Double

        func overlaps(_ other: Box) -> Bool {
            left < other.right && other.left < right && top < other.bottom && other.top < bottom
        }

        func inside(_ other: Box) -> Bool {
            left >= other.left && right <= other.right && top >= other.top && bottom <= other.bottom
        }
    }

    /// Where one label went: its text's anchor point (the baseline) and alignment. Beyond the
    /// first ring around its point a label needs a leader line to say whose it is.
    struct Spot: Equatable {
        var x: Double
        var y: Double
        var anchor: SVGCanvas.Anchor
        var ring = 0
    }

    let bounds: Box
    let fontSize: Double
    private(set) var taken: [Box]

    /// `markers`: the points' centres, each kept clear within `radius`.
    init(bounds: Box, markers: [(Double, Double)], radius: Double, fontSize: Double) {
        self.bounds = bounds
        self.fontSize = fontSize
        taken = markers.map { Box(left: $0.0 - radius, top: $0.1 - radius, right: $0.0 + radius, bottom: $0.1 + radius) }
    }

    /// Keeps labels off the segment from `a` to `b` (a line drawn in the plot), as small boxes
    /// every few pixels along it.
    mutating func avoid(_ a: (Double, Double), _ b: (Double, Double)) {
        let length = ((b.0 - a.0) * (b.0 - a.0) + (b.1 - a.1) * (b.1 - a.1)).squareRoot()
        let steps = max(1, Int((length / 4).rounded(.up)))
        for step in 0...steps {
            let t = Double(step) / Double(steps)
            let (x, y) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
            taken.append(Box(left: x - 1.5, top: y - 1.5, right: x + 1.5, bottom: y + 1.5))
        }
    }

    /// A generous estimate of a Helvetica label's width: overlapping by a pixel reads worse than
    /// a little extra room.
    func width(of text: String) -> Double { Double(text.count) * fontSize * 0.6 }

    func box(of text: String, at spot: Spot) -> Box {
        let width = width(of: text)
        let left = switch spot.anchor {
        case .start: spot.x
        case .middle: spot.x - width / 2
        case .end: spot.x - width
        }
        return Box(left: left, top: spot.y - fontSize * 0.8, right: left + width, bottom: spot.y + fontSize * 0.25)
    }

    /// Candidate spots around (x, y): right, above right, below right, left, above left, below
    /// left, above, below; then the same in two rings further out.
    func candidates(x: Double, y: Double) -> [Spot] {
        let middle = fontSize * 0.3
        return [7.0, 20, 34].enumerated().flatMap { ring, d -> [Spot] in
            [Spot(x: x + d, y: y + middle, anchor: .start), Spot(x: x + d, y: y - d + 2, anchor: .start),
             Spot(x: x + d, y: y + d + fontSize * 0.6, anchor: .start), Spot(x: x - d, y: y + middle, anchor: .end),
             Spot(x: x - d, y: y - d + 2, anchor: .end), Spot(x: x - d, y: y + d + fontSize * 0.6, anchor: .end),
             Spot(x: x, y: y - d - 1, anchor: .middle), Spot(x: x, y: y + d + fontSize * 0.8, anchor: .middle)]
                .map { spot in var spot = spot; spot.ring = ring; return spot }
        }
    }

    /// A leader from the edge of the marker at (x, y) to the nearest point of the label's box.
    func leader(for text: String, at spot: Spot, from x: Double, _ y: Double, radius: Double)
        -> (x1: Double, y1: Double, x2: Double, y2: Double) {
        let box = box(of: text, at: spot)
        let (tx, ty) = (min(max(x, box.left), box.right), min(max(y, box.top), box.bottom))
        let length = max(((tx - x) * (tx - x) + (ty - y) * (ty - y)).squareRoot(), 1e-9)
        return (x + (tx - x) / length * radius, y + (ty - y) / length * radius, tx, ty)
    }

    /// The first free spot for `text` beside (x, y), now taken; nil when every spot collides.
    mutating func place(_ text: String, x: Double, y: Double) -> Spot? {
        for spot in candidates(x: x, y: y) {
            let box = box(of: text, at: spot)
            if box.inside(bounds), !taken.contains(where: box.overlaps) {
                taken.append(box)
                return spot
            }
        }
        return nil
    }
}
