// Prints sgemm peak and the Tensors building blocks at 1 and 2 threads.
// Built and run by bench/tensors.sh (no package target needed).
import Tensors

let batch = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 4 : 4
for threads in [1, 2] {
    print("threads \(threads): sgemm 1024^3 peak \((measureSgemmPeak(threads: threads) * 10).rounded() / 10) GFLOP/s")
    ComputeThreads.set(threads)
    for measurement in measureBuildingBlocks(batch: batch) { print("  \(measurement)") }
}
