/// Where a map's channels sit in memory: `outer` blocks of `channels` runs of `inner`
/// contiguous values. NCHW is (N, C, H W); channels-last rows are (rows, C, 1). The kernels
/// that take a layout (BatchNorm, the task losses) serve NCHW maps and the
/// engine's channels-last matrices alike.
public struct ChannelLayout: Sendable, Equatable {
    public var outer: Int, channels: Int, inner: Int

    public init(outer: Int, channels: Int, inner: Int) { self.outer = outer; self.channels = channels; self.inner = inner }

    /// An NCHW tensor's layout, [N, C, H, W] or [N, C].
    public init(nchw shape: [Int]) {
        precondition(shape.count >= 2, "an NCHW layout needs [N, C, ...], got \(shape)")
        self.init(outer: shape[0], channels: shape[1], inner: shape.dropFirst(2).reduce(1, *))
    }

    /// Channels-last rows: one row of `channels` values per pixel (or token).
    public init(rows: Int, channels: Int) { self.init(outer: rows, channels: channels, inner: 1) }

    /// Values per channel: the pixels of the map.
    public var pixels: Int { outer * inner }
    public var count: Int { outer * channels * inner }

    /// Calls `body(channel, offset)` for every run of one channel's values, in memory order.
    @inline(__always)
    func forEachRun(_ body: (Int, Int) -> Void) {
        for b in 0..<outer { for ch in 0..<channels { body(ch, (b * channels + ch) * inner) } }
    }

    /// Calls `body(pixel, offset)` for every pixel in order (N, H, W for NCHW, row order for
    /// channels-last), with the offset of its channel 0; channel c is `inner` values further per step.
    @inline(__always)
    func forEachPixel(_ body: (Int, Int) -> Void) {
        for b in 0..<outer { for p in 0..<inner { body(b * inner + p, b * channels * inner + p) } }
    }
}
