import ArgumentParser
import Engine
import Foundation

/// Training throughput against the sgemm peak; compare with bench/torch_reference.py.
public struct BenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training throughput (images/s) and GFLOP/s against the sgemm peak.",
        discussion: """
            Examples:
              mtl-engine bench --backbone swin_mini --image-size 64 --batch 16 --threads 2
              mtl-engine bench --backbone swin_t --image-size 224 --batch 8 --steps 3 --threads 2
              mtl-engine bench --method full,lora,mtlora,tglora,faar    # one line per method, same process
            The same model in PyTorch: python bench/torch_reference.py --shape default --threads 2
            """)

    @Option(help: "Backbone shape: \(BackboneShape.named.map(\.name).joined(separator: ", ")).")
    public var backbone: String = "swin_mini"
    @Option(help: "Square input side.")
    public var imageSize: Int = 64
    @Option(help: "Images per step.")
    public var batch: Int = 16
    @Option(help: "Timed steps (after two warm-up steps).")
    public var steps: Int = 10
    @Option(help: "OpenBLAS threads.")
    public var threads: Int = 1
    @Option(help: ArgumentHelp("Methods, comma-separated, each with its paper's defaults: "
            + "\(Self.methods.map(\.rawValue).joined(separator: ", ")). TGLoRA's groups are 1-2-3-4 in task order."))
    public var method: String = "full"
    /// The methods training runs support.
    static let methods = MethodOptions.Method.allCases.filter { $0 != .adapter }

    public init() {}

    public func run() throws {
        guard let shape = BackboneShape.named(backbone) else {
            throw ValidationError("unknown backbone '\(backbone)'; expected one of "
                                  + BackboneShape.named.map(\.name).joined(separator: ", "))
        }
        for name in method.split(separator: ",").map(String.init) {
            guard let kind = MethodOptions.Method(rawValue: name), Self.methods.contains(kind) else {
                throw ValidationError("unknown method '\(name)'; expected a comma-separated list of "
                                      + Self.methods.map(\.rawValue).joined(separator: ", "))
            }
            var options = MethodOptions.defaults(for: kind)
            if kind == .tglora {
                // Cost does not depend on which tasks share a group, only on how many groups there are.
                let tasks = DatasetName.pascal.tasks.map(\.rawValue)
                options.taskGroups = try TaskGrouping.stages(groupsPerStage: TaskGrouping.defaultSchedule(taskCount: 4, stages: 4),
                                                             similarity: .unrelated(tasks: tasks))
            }
            try measure(options, shape: shape)
        }
    }

    private func measure(_ options: MethodOptions, shape: BackboneShape) throws {
        let result = ThroughputBenchmark(shape: shape, imageSize: imageSize, batch: batch, steps: steps,
                                         threads: threads, method: options).run()
        let fields: [(String, Any)] = [
            ("method", options.method.rawValue), ("backbone", backbone), ("image_size", imageSize), ("batch", batch), ("threads", threads),
            ("images_per_second", result.imagesPerSecond), ("seconds_per_step", result.secondsPerStep),
            ("cpu_seconds_per_step", result.cpuSecondsPerStep),
            ("forward_gmacs_per_image", result.forwardGMACs), ("achieved_gflops", result.achievedGFLOPS),
            ("sgemm_peak_gflops", result.sgemmPeakGFLOPS),
            ("fraction_of_peak", result.achievedGFLOPS / result.sgemmPeakGFLOPS),
        ]
        print("{" + fields.map { "\"\($0.0)\": " + ($0.1 is String ? "\"\($0.1)\"" : "\($0.1)") }
            .joined(separator: ", ") + "}")
    }
}
