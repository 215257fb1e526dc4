/// FAAR's TS-PD in front of the decoders: for each task and each decoder input resolution, the
/// channel-wise spectral filter adapts the features; then XT-Cons (when on) moves each task's
/// filtered features toward the spectral consensus of the other tasks' filtered features at the
/// same resolution; the task's head decodes the result.
///
/// Features arrive channels-last ([batch * H * W, C]); the spectral layers work on channel planes.
public final class TaskSpectralInputs {
    public let tasks: [TaskName]
    let filters: [[SpectralFilter]]
    let consensus: [[CrossTaskConsensus]]?

    public init(tasks: [TaskName], features: [(channels: Int, side: Int)], crossTaskConsensus: Bool,
                lowCutoff: Double, highCutoff: Double) {
        self.tasks = tasks
        filters = tasks.map { task in
            features.enumerated().map { index, feature in
                SpectralFilter(name: "decoders.\(task.rawValue).ts_pd.\(index)", channels: feature.channels,
                               height: feature.side, width: feature.side)
            }
        }
        consensus = crossTaskConsensus && tasks.count > 1 ? tasks.map { task in
            features.enumerated().map { index, feature in
                CrossTaskConsensus(name: "decoders.\(task.rawValue).xt_cons.\(index)", channels: feature.channels,
                                   height: feature.side, width: feature.side, lowCutoff: lowCutoff, highCutoff: highCutoff)
            }
        } : nil
    }

    public var parameters: [Parameter] {
        filters.flatMap { $0.flatMap(\.parameters) } + (consensus ?? []).flatMap { $0.flatMap(\.parameters) }
    }

    /// Each task's decoder inputs from the features it reads ([task][level]: one backbone's
    /// shared features repeated, or MTLoRA's and TGLoRA's per-task streams); the pullback takes
    /// every task's input gradients and returns those of each task's features. The FFTs and the
    /// rest count into the context's MACs.
    public func forward(_ features: [[FeatureMap]], batch: Int, _ context: ForwardContext)
        -> (perTask: [[FeatureMap]], pullback: ([[Matrix]]) -> [[Matrix]]) {
        let taskCount = tasks.count
        precondition(features.count == taskCount, "one feature list per task")
        var outputs = Array(repeating: [FeatureMap](), count: taskCount)
        var filterPasses = Array(repeating: [SpectralFilter.Pass](), count: taskCount)
        var consensusPasses = Array(repeating: [CrossTaskConsensus.Pass](), count: taskCount)
        for index in features[0].indices {
            let feature = features[0][index]
            let plane = feature.height * feature.width
            let filtered = (0..<taskCount).map { t in
                filters[t][index].forward(toPlanes(features[t][index].values, batch: batch, plane: plane), images: batch)
            }
            for t in 0..<taskCount {
                filterPasses[t].append(filtered[t].pass)
                context.count(filters[t][index].multiplyAccumulates(images: batch))
                var output = filtered[t].output
                if let consensus {
                    context.count(consensus[t][index].multiplyAccumulates(images: batch, others: taskCount - 1))
                    let others = (0..<taskCount).filter { $0 != t }.map { filtered[$0].output }
                    let (aligned, pass) = consensus[t][index].forward(main: output, others: others, images: batch)
                    output = aligned
                    consensusPasses[t].append(pass)
                }
                outputs[t].append(FeatureMap(values: fromPlanes(output, batch: batch, plane: plane, channels: feature.channels),
                                             height: feature.height, width: feature.width))
            }
        }
        return (outputs, { gradients in
            let perLevel = features[0].indices.map { index in
                let feature = features[0][index]
                let plane = feature.height * feature.width
                var dFiltered = (0..<taskCount).map { toPlanes(gradients[$0][index], batch: batch, plane: plane) }
                if let consensus = self.consensus {
                    var routed = dFiltered.map { [Float](repeating: 0, count: $0.count) }
                    for t in 0..<taskCount {
                        let (dMain, dOthers) = consensus[t][index].backward(consensusPasses[t][index], outputGradient: dFiltered[t])
                        for k in dMain.indices { routed[t][k] += dMain[k] }
                        for (u, dOther) in zip((0..<taskCount).filter { $0 != t }, dOthers) {
                            for k in dOther.indices { routed[u][k] += dOther[k] }
                        }
                    }
                    dFiltered = routed
                }
                return (0..<taskCount).map { t in
                    let d = self.filters[t][index].backward(filterPasses[t][index], outputGradient: dFiltered[t])
                    return fromPlanes(d, batch: batch, plane: plane, channels: feature.channels)
                }
            }
            return (0..<taskCount).map { t in perLevel.map { $0[t] } }
        })
    }
}

/// Channels-last rows [batch * plane, C] -> channel planes [batch, C, plane].
func toPlanes(_ x: Matrix, batch: Int, plane: Int) -> [Float] {
    let c = x.columns
    var out = [Float](repeating: 0, count: x.values.count)
    for b in 0..<batch {
        for p in 0..<plane {
            for channel in 0..<c { out[(b * c + channel) * plane + p] = x.values[(b * plane + p) * c + channel] }
        }
    }
    return out
}

/// Channel planes [batch, C, plane] -> channels-last rows [batch * plane, C].
func fromPlanes(_ x: [Float], batch: Int, plane: Int, channels c: Int) -> Matrix {
    var out = Matrix(zeros: batch * plane, c)
    for b in 0..<batch {
        for p in 0..<plane {
            for channel in 0..<c { out.values[(b * plane + p) * c + channel] = x[(b * c + channel) * plane + p] }
        }
    }
    return out
}
