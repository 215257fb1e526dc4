// Swin's token rearrangements. Each is a fixed permutation of rows (a token's C
// channels), so each is `gatherRows` with an index map: the gradient is the
// scatter `gatherRows` already knows.

/// Splits channels-last `x` [B, H, W, C] into windows [B * nH * nW, window^2, C]
/// after a cyclic shift by `-shift` on both spatial axes (torch.roll(x, (-shift, -shift),
/// (1, 2)), as a shifted Swin block does). Windows are ordered (b, row, column).
public func windowPartition(_ x: Tensor, window: Int, shift: Int = 0) -> Tensor {
    precondition(x.rank == 4, "windowPartition needs [B, H, W, C], got \(x.shape)")
    let map = WindowMap(batch: x.shape[0], height: x.shape[1], width: x.shape[2], window: window, shift: shift)
    let c = x.shape[3]
    return gatherRows(x.reshaped([-1, c]), map.sourceRows).reshaped([map.windowCount, window * window, c])
}

/// The inverse of `windowPartition`: windows [B * nH * nW, window^2, C] back to
/// [B, H, W, C], undoing the shift (torch.roll by +shift).
public func windowReverse(_ windows: Tensor, batch: Int, height: Int, width: Int,
                          window: Int, shift: Int = 0) -> Tensor {
    let map = WindowMap(batch: batch, height: height, width: width, window: window, shift: shift)
    let c = windows.shape.last!
    precondition(windows.count == batch * height * width * c, "windowReverse: \(windows.shape) into \([batch, height, width, c])")
    var destination = [Int](repeating: 0, count: map.sourceRows.count)
    for (k, row) in map.sourceRows.enumerated() { destination[row] = k }
    return gatherRows(windows.reshaped([-1, c]), destination).reshaped([batch, height, width, c])
}

/// Swin's shifted-window attention mask [nW, window^2, window^2]: 0 where two tokens
/// of a window came from the same region of the rolled image, -100 where the roll
/// brought them together from opposite edges. Added to the attention logits of
/// every image's windows (broadcast over batch and heads).
public func shiftedWindowMask(height: Int, width: Int, window: Int, shift: Int) -> Tensor {
    precondition(height % window == 0 && width % window == 0, "\(height)x\(width) is not a multiple of window \(window)")
    // Region 0, 1, 2 along an axis: before the last window, in it before the shift, in the shift.
    func region(_ i: Int, _ size: Int) -> Int { i < size - window ? 0 : (i < size - shift ? 1 : 2) }
    let nW = (height / window) * (width / window), tokens = window * window
    let mask = Tensor.zeros([nW, tokens, tokens])
    var labels = [Int](repeating: 0, count: tokens)
    for wy in 0..<(height / window) {
        for wx in 0..<(width / window) {
            for i in 0..<window {
                for j in 0..<window {
                    labels[i * window + j] = 3 * region(wy * window + i, height) + region(wx * window + j, width)
                }
            }
            let base = mask.data + (wy * (width / window) + wx) * tokens * tokens
            for a in 0..<tokens {
                for b in 0..<tokens where labels[a] != labels[b] { base[a * tokens + b] = -100 }
            }
        }
    }
    return mask
}

/// Swin's patch merging gather: [B, H, W, C] -> [B, H/2, W/2, 4C] where the four C
/// blocks are the pixels (0,0), (1,0), (0,1), (1,1) of each 2x2 cell (row offset
/// first varying), timm's order, so its `reduction` weights apply unchanged.
public func patchMergeGather(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4 && x.shape[1] % 2 == 0 && x.shape[2] % 2 == 0,
                 "patchMergeGather needs [B, H, W, C] with even H and W, got \(x.shape)")
    let b = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3]
    var rows: [Int] = []
    rows.reserveCapacity(b * h * w)
    for image in 0..<b {
        for i in 0..<(h / 2) {
            for j in 0..<(w / 2) {
                for (dy, dx) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    rows.append((image * h + 2 * i + dy) * w + 2 * j + dx)
                }
            }
        }
    }
    return gatherRows(x.reshaped([-1, c]), rows).reshaped([b, h / 2, w / 2, 4 * c])
}

/// For every token of every window (in partition order), the row of the
/// [B * H * W, C] image it comes from. The engine's Swin blocks permute their rows by it.
public struct WindowMap: Sendable {
    public let sourceRows: [Int]
    public let windowCount: Int

    public init(batch: Int, height: Int, width: Int, window: Int, shift: Int) {
        precondition(height % window == 0 && width % window == 0, "\(height)x\(width) is not a multiple of window \(window)")
        let rowsOfWindows = height / window, columnsOfWindows = width / window
        var rows: [Int] = []
        rows.reserveCapacity(batch * height * width)
        for b in 0..<batch {
            for wy in 0..<rowsOfWindows {
                for wx in 0..<columnsOfWindows {
                    for i in 0..<window {
                        let y = (wy * window + i + shift) % height
                        for j in 0..<window {
                            let x = (wx * window + j + shift) % width
                            rows.append((b * height + y) * width + x)
                        }
                    }
                }
            }
        }
        sourceRows = rows
        windowCount = batch * rowsOfWindows * columnsOfWindows
    }
}
