// Swin's token rearrangements, as index maps and masks the engine's Swin blocks apply to their rows.

/// Swin's shifted-window attention mask [nW, window^2, window^2]: 0 where two tokens
/// of a window came from the same region of the rolled image, -100 where the roll
/// brought them together from opposite edges. Added to the attention logits of
/// every image's windows (broadcast over batch and heads).
public func shiftedWindowMask(height: Int, width: Int, window: Int, shift: Int) -> [Float] {
    precondition(height % window == 0 && width % window == 0, "\(height)x\(width) is not a multiple of window \(window)")
    // Region 0, 1, 2 along an axis: before the last window, in it before the shift, in the shift.
    func region(_ i: Int, _ size: Int) -> Int { i < size - window ? 0 : (i < size - shift ? 1 : 2) }
    let nW = (height / window) * (width / window), tokens = window * window
    var mask = [Float](repeating: 0, count: nW * tokens * tokens)
    var labels = [Int](repeating: 0, count: tokens)
    for wy in 0..<(height / window) {
        for wx in 0..<(width / window) {
            for i in 0..<window {
                for j in 0..<window {
                    labels[i * window + j] = 3 * region(wy * window + i, height) + region(wx * window + j, width)
                }
            }
            let base = (wy * (width / window) + wx) * tokens * tokens
            for a in 0..<tokens {
                for b in 0..<tokens where labels[a] != labels[b] { mask[base + a * tokens + b] = -100 }
            }
        }
    }
    return mask
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
