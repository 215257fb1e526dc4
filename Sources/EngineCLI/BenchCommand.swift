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
              mtl-engine bench --decoders hrnet,segformer,aspp --threads 1
              mtl-engine bench --methods full,lora,mtlora,tglora,faar
            Each method and decoder pair prints one line, with ratios against the first pair measured
            in the same process (time of the whole step, of the heads alone, and decoder parameters).
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
    @Option(help: "Decoder heads to measure, comma-separated: \(DecoderKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    public var decoders: String = "hrnet"
    @Option(help: ArgumentHelp("Methods, comma-separated, each with its paper's defaults: "
            + "\(Self.methods.map(\.rawValue).joined(separator: ", ")). TGLoRA's groups are 1-2-3-4 in task order."))
    public var methods: String = "full"
    static let methods = MethodOptions.Method.allCases

    public init() {}

    public func run() throws {
        guard let shape = BackboneShape.named(backbone) else {
            throw ValidationError("unknown backbone '\(backbone)'; expected one of "
                                  + BackboneShape.named.map(\.name).joined(separator: ", "))
        }
        let kinds = try decoders.split(separator: ",").map { name in
            guard let kind = DecoderKind(rawValue: String(name)) else {
                throw ValidationError("unknown decoder '\(name)'; expected one of "
                                      + DecoderKind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return kind
        }
        let methodOptions = try methods.split(separator: ",").map { name in
            guard let method = MethodOptions.Method(rawValue: String(name)), Self.methods.contains(method) else {
                throw ValidationError("unknown method '\(name)'; expected one of " + Self.methods.map(\.rawValue).joined(separator: ", "))
            }
            var options = MethodOptions.defaults(for: method)
            if method == .tglora {
                // Cost depends on how many groups each stage has, not on which tasks share one.
                options.taskGroups = try TaskGrouping.stages(
                    groupsPerStage: TaskGrouping.defaultSchedule(taskCount: 4, stages: 4),
                    similarity: .unrelated(tasks: DatasetName.pascal.tasks.map(\.rawValue)))
            }
            return options
        }
        var reference: (label: String, result: ThroughputBenchmark.Result)?
        for (options, kind) in methodOptions.flatMap({ options in kinds.map { (options, $0) } }) {
            let result = ThroughputBenchmark(shape: shape, imageSize: imageSize, batch: batch, steps: steps,
                                             threads: threads, decoder: kind, method: options).run()
            var fields: [(String, Any)] = [
                ("backbone", backbone), ("method", options.method.rawValue), ("decoder", kind.rawValue),
                ("image_size", imageSize), ("batch", batch),
                ("threads", threads),
                ("images_per_second", result.imagesPerSecond), ("seconds_per_step", result.secondsPerStep),
                ("median_images_per_second", Double(batch) / result.medianSecondsPerStep),
                ("median_seconds_per_step", result.medianSecondsPerStep),
                ("cpu_seconds_per_step", result.cpuSecondsPerStep),
                ("forward_gmacs_per_image", result.forwardGMACs), ("achieved_gflops", result.achievedGFLOPS),
                ("sgemm_peak_gflops", result.sgemmPeakGFLOPS),
                ("fraction_of_peak", result.achievedGFLOPS / result.sgemmPeakGFLOPS),
                ("decoder_seconds_per_step", result.decoderSecondsPerStep),
                ("decoder_cpu_seconds_per_step", result.decoderCPUSecondsPerStep),
                ("decoder_gmacs_per_image", result.decoderGMACs),
                ("decoder_parameters", result.parameters.decoder), ("total_parameters", result.parameters.total),
            ]
            if let (first, reference) = reference {
                fields += [
                    ("seconds_per_step_vs_\(first)", result.secondsPerStep / reference.secondsPerStep),
                    ("cpu_seconds_per_step_vs_\(first)", result.cpuSecondsPerStep / reference.cpuSecondsPerStep),
                    ("decoder_seconds_vs_\(first)", result.decoderSecondsPerStep / reference.decoderSecondsPerStep),
                    ("decoder_cpu_seconds_vs_\(first)", result.decoderCPUSecondsPerStep / reference.decoderCPUSecondsPerStep),
                    ("decoder_parameters_vs_\(first)", Double(result.parameters.decoder) / Double(reference.parameters.decoder)),
                ]
            } else {
                let label = [methodOptions.count > 1 ? options.method.rawValue : nil,
                             kinds.count > 1 || methodOptions.count == 1 ? kind.rawValue : nil]
                reference = (label.compactMap { $0 }.joined(separator: "_"), result)
            }
            print("{" + fields.map { "\"\($0.0)\": " + ($0.1 is String ? "\"\($0.1)\"" : "\($0.1)") }
                .joined(separator: ", ") + "}")
        }
    }
}
