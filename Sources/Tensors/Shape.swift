// Shape ops. Only `reshaped` shares storage; permutes, slices and concats
// materialise, so every tensor stays contiguous and every kernel stays a plain loop.

extension Tensor {
    /// The same elements under a new shape (one dimension may be -1). Shares storage:
    /// writing through either tensor's `data` changes both.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let hole = newShape.firstIndex(of: -1) {
            let known = newShape.filter { $0 != -1 }.reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[hole] = count / known
        }
        precondition(resolved.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        let y = Tensor(shape: resolved, sharing: storage)
        let n = count
        y.record(self) { y in
            let gy = y.grad!
            if let gx = self.gradSink() { for i in 0..<n { gx[i] += gy[i] } }
        }
        return y
    }

    /// Dimensions reordered: output dimension d is input dimension `order[d]` (torch.permute).
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.sorted() == Array(0..<rank), "permutation \(order) for shape \(shape)")
        let outShape = order.map { shape[$0] }
        var inStrides = [Int](repeating: 0, count: rank)
        var s = 1
        for d in stride(from: rank - 1, through: 0, by: -1) { inStrides[d] = s; s *= shape[d] }
        let strides = order.map { inStrides[$0] }  // input stride along each output dimension
        let zeros = [Int](repeating: 0, count: rank)
        let y = Tensor(uninitialized: outShape)
        guard count > 0 else { return y }
        let len = outShape.last ?? 1, step = strides.last ?? 1
        let px = data, py = y.data
        forEachRow(shape: outShape, strides, zeros) { o, i, _ in
            for j in 0..<len { py[o + j] = px[i + j * step] }
        }
        y.record(self) { y in
            let gy = y.grad!
            guard let gx = self.gradSink() else { return }
            forEachRow(shape: outShape, strides, zeros) { o, i, _ in
                for j in 0..<len { gx[i + j * step] += gy[o + j] }
            }
        }
        return y
    }

    /// Swaps two dimensions (materialised).
    public func transposed(_ first: Int, _ second: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(normalizedAxis(first), normalizedAxis(second))
        return permuted(order)
    }

    /// Elements `range` along `axis` (channels of NCHW: axis 1).
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a], "slice \(range) of axis \(a) in \(shape)")
        var outShape = shape
        outShape[a] = range.count
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        let inBlock = shape[a] * inner, outBlock = range.count * inner, start = range.lowerBound * inner
        let y = Tensor(uninitialized: outShape)
        for o in 0..<outer {
            (y.data + o * outBlock).update(from: data + o * inBlock + start, count: outBlock)
        }
        y.record(self) { y in
            let gy = y.grad!
            guard let gx = self.gradSink() else { return }
            for o in 0..<outer {
                let src = gy + o * outBlock, dst = gx + o * inBlock + start
                for i in 0..<outBlock { dst[i] += src[i] }
            }
        }
        return y
    }
}

/// Joins tensors along `axis`; all other dimensions must agree.
public func concat(_ parts: [Tensor], axis: Int) -> Tensor {
    precondition(!parts.isEmpty, "concat of nothing")
    let first = parts[0]
    let a = first.normalizedAxis(axis)
    for p in parts {
        precondition(p.rank == first.rank && (0..<p.rank).allSatisfy { $0 == a || p.shape[$0] == first.shape[$0] },
                     "concat along \(a): \(p.shape) does not match \(first.shape)")
    }
    let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
    let total = parts.reduce(0) { $0 + $1.shape[a] }
    var outShape = first.shape
    outShape[a] = total
    let blocks = parts.map { $0.shape[a] * inner }
    let outBlock = total * inner
    var starts: [Int] = []
    var running = 0
    for b in blocks { starts.append(running); running += b }

    let y = Tensor(uninitialized: outShape)
    for (p, part) in parts.enumerated() {
        for o in 0..<outer {
            (y.data + o * outBlock + starts[p]).update(from: part.data + o * blocks[p], count: blocks[p])
        }
    }
    y.record(inputs: parts) { y in
        let gy = y.grad!
        for (p, part) in parts.enumerated() {
            guard let gx = part.gradSink() else { continue }
            for o in 0..<outer {
                let src = gy + o * outBlock + starts[p], dst = gx + o * blocks[p]
                for i in 0..<blocks[p] { dst[i] += src[i] }
            }
        }
    }
    return y
}

/// Rows of `table` [T, D] picked by `indices` -> [indices.count, D]; the gradient
/// scatters back (adding where an index repeats). Relative position bias uses this.
public func gatherRows(_ table: Tensor, _ indices: [Int]) -> Tensor {
    precondition(table.rank == 2, "gatherRows needs a [T, D] table, got \(table.shape)")
    let rows = table.shape[0], width = table.shape[1]
    let y = Tensor(uninitialized: [indices.count, width])
    for (r, index) in indices.enumerated() {
        precondition(index >= 0 && index < rows, "row \(index) of a table with \(rows) rows")
        (y.data + r * width).update(from: table.data + index * width, count: width)
    }
    y.record(table) { y in
        let gy = y.grad!
        guard let gt = table.gradSink() else { return }
        for (r, index) in indices.enumerated() {
            let src = gy + r * width, dst = gt + index * width
            for j in 0..<width { dst[j] += src[j] }
        }
    }
    return y
}
