// Reductions accumulate in Double, in a fixed order: deterministic and accurate
// for the million-element sums of a loss.

extension Tensor {
    /// Sum of all elements, as a scalar tensor.
    public func sum() -> Tensor { scaledTotal(1) }

    /// Mean of all elements, as a scalar tensor.
    public func mean() -> Tensor { scaledTotal(1 / Float(count)) }

    private func scaledTotal(_ factor: Float) -> Tensor {
        // Four interleaved partial sums: vectorisable, and still one fixed order.
        var lanes = (0.0, 0.0, 0.0, 0.0)
        let px = data, body = count - count % 4
        for i in stride(from: 0, to: body, by: 4) {
            lanes.0 += Double(px[i]); lanes.1 += Double(px[i + 1])
            lanes.2 += Double(px[i + 2]); lanes.3 += Double(px[i + 3])
        }
        var total = (lanes.0 + lanes.1) + (lanes.2 + lanes.3)
        for i in body..<count { total += Double(px[i]) }
        let y = Tensor(scalar: Float(total) * factor)
        let n = count
        y.record(self) { y in
            let g = y.grad![0] * factor
            if let gx = self.gradSink() { for i in 0..<n { gx[i] += g } }
        }
        return y
    }

    /// Sum along `axis`, which is removed from the shape.
    public func sum(axis: Int) -> Tensor { reduced(axis: axis, mean: false) }

    /// Mean along `axis`, which is removed from the shape (global average pooling:
    /// `x.reshaped([n, c, -1]).mean(axis: 2)`).
    public func mean(axis: Int) -> Tensor { reduced(axis: axis, mean: true) }

    private func reduced(axis: Int, mean: Bool) -> Tensor {
        let a = normalizedAxis(axis)
        let outer = shape[..<a].reduce(1, *), length = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape.remove(at: a)
        let factor = mean ? 1 / Double(length) : 1
        let y = Tensor(uninitialized: outShape)
        let px = data, py = y.data
        var column = [Double](repeating: 0, count: inner)
        for o in 0..<outer {
            for j in 0..<inner { column[j] = 0 }
            for r in 0..<length {
                let row = px + (o * length + r) * inner
                for j in 0..<inner { column[j] += Double(row[j]) }
            }
            for j in 0..<inner { py[o * inner + j] = Float(column[j] * factor) }
        }
        let f = Float(factor)
        y.record(self) { y in
            let gy = y.grad!
            guard let gx = self.gradSink() else { return }
            for o in 0..<outer {
                for r in 0..<length {
                    let row = gx + (o * length + r) * inner, g = gy + o * inner
                    for j in 0..<inner { row[j] += f * g[j] }
                }
            }
        }
        return y
    }
}
