import Dispatch

/// Runs `body` over `0..<count` split into one contiguous chunk per compute thread,
/// when there is enough work to pay for the hand-off (else in one call). Only for
/// loops whose every output element depends on its own inputs alone: then the split
/// cannot change a single bit of the result, at any thread count.
func forEachChunk(_ count: Int, minimumChunk: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
    let chunks = min(ComputeThreads.current, count / minimumChunk)
    guard chunks > 1 else { body(0..<count); return }
    withoutActuallyEscaping(body) { body in
        // Each chunk writes only its own elements, so sharing the loop body is safe.
        let shared = SharedLoopBody(run: body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            shared.run((chunk * count / chunks)..<((chunk + 1) * count / chunks))
        }
    }
}

private struct SharedLoopBody: @unchecked Sendable {
    let run: (Range<Int>) -> Void
}
