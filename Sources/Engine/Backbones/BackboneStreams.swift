/// Which streams run through the backbone and which stream's features each task's decoder reads.
public enum StreamLayout: Sendable, Equatable {
    /// One stream; every task reads the same features.
    case shared
    /// MTLoRA: the last block of each listed stage (0-based) splits into one stream per task;
    /// the task streams pass through the next stage's patch merging into the decoders, and the
    /// shared stream goes on. Other stages give every task the shared features.
    case taskBlocks(stages: Set<Int>)
    /// TGLoRA: one stream per task group and stage (the stage's `GroupedLinear`s run the group's
    /// modules); a group's stream starts from its parent group's merged output.
    case taskGroups([TaskPartition])
}

extension SwinBackbone {
    /// The four decoder features of each task ([task][level], levels as `forward`'s), and a
    /// pullback that takes their gradients (nil where a feature got none) and accumulates the
    /// backbone's parameter gradients.
    public func forward(_ images: Matrix, batch: Int, _ context: ForwardContext, layout: StreamLayout, taskCount: Int)
        -> (features: [[FeatureMap]], pullback: ([[Matrix?]]) -> Void)
    {
        switch layout {
        case .shared:
            let (features, pullback) = forward(images, batch: batch, context)
            return (Array(repeating: features, count: taskCount), { gradients in
                pullback(features.indices.map { level in sum(gradients.map { $0[level] }) })
            })
        case .taskBlocks(let stages):
            return forwardTaskBlocks(images, batch: batch, context, splitStages: stages, taskCount: taskCount)
        case .taskGroups(let partitions):
            // A group's stream leaves a stage through the next stage's patch merging, the stage's
            // feature; it leaves the last stage as it is.
            let groupStages = stages.indices.map { index in
                let next = index + 1 < stages.count ? stages[index + 1] : nil
                return GroupStreamStage(
                    entry: nil,
                    blocks: stages[index].blocks.map { block in { block.forward($0, batch: batch, $1) } },
                    exit: next.map { next in { next.downsample!.forward($0, batch: batch, side: next.inputSide, $1) } },
                    side: next?.side ?? stages[index].side)
            }
            let embedded = patchEmbedding.forward(images, batch: batch, size: imageSize, context)
            return forwardGroupStreams(groupStages, embedded: embedded, partitions: partitions, context)
        }
    }

    private func forwardTaskBlocks(_ images: Matrix, batch: Int, _ context: ForwardContext, splitStages: Set<Int>,
                                   taskCount: Int) -> (features: [[FeatureMap]], pullback: ([[Matrix?]]) -> Void) {
        struct StageRecord {
            var merge: Pullback?
            /// The next stage's patch merging of each task stream (this stage's task features).
            var taskMerges: [Pullback] = []
            var blocks: [Pullback] = []
            var split: ((Matrix?, [Matrix?]) -> Matrix)?
        }
        var records: [StageRecord] = []
        var features = Array(repeating: [FeatureMap](), count: taskCount)
        let (embedded, embedPullback) = patchEmbedding.forward(images, batch: batch, size: imageSize, context)
        var x = embedded
        var taskStreams: [Matrix]?
        for (index, stage) in stages.enumerated() {
            var record = StageRecord()
            if let downsample = stage.downsample {
                let (merged, mergePullback) = downsample.forward(x, batch: batch, side: stage.inputSide, context)
                x = merged
                record.merge = mergePullback
                for t in 0..<taskCount {
                    if let taskStreams {
                        let (mergedTask, taskPullback) = downsample.forward(taskStreams[t], batch: batch,
                                                                            side: stage.inputSide, context)
                        features[t].append(FeatureMap(values: mergedTask, height: stage.side, width: stage.side))
                        record.taskMerges.append(taskPullback)
                    } else {
                        features[t].append(FeatureMap(values: x, height: stage.side, width: stage.side))
                    }
                }
            }
            records.append(record)
            taskStreams = nil
            for (j, block) in stage.blocks.enumerated() {
                if j == stage.blocks.count - 1, splitStages.contains(index) {
                    let (shared, tasks, pullback) = block.forwardTaskStreams(x, batch: batch, taskCount: taskCount, context)
                    x = shared
                    taskStreams = tasks
                    records[index].split = pullback
                } else {
                    let (out, pullback) = block.forward(x, batch: batch, context)
                    x = out
                    records[index].blocks.append(pullback)
                }
            }
        }
        let last = stages.last!
        for t in 0..<taskCount {
            features[t].append(FeatureMap(values: taskStreams?[t] ?? x, height: last.side, width: last.side))
        }
        let lastLevel = features[0].count - 1
        let lastSplits = taskStreams != nil
        return (features, { gradients in
            // Gradients of the current stage's shared and task outputs, walking back.
            var dShared: Matrix? = lastSplits ? nil : sum(gradients.map { $0[lastLevel] })
            var dTasks: [Matrix?] = lastSplits ? gradients.map { $0[lastLevel] } : []
            for (index, record) in records.enumerated().reversed() {
                if let split = record.split, dShared != nil || dTasks.contains(where: { $0 != nil }) {
                    dShared = split(dShared, dTasks)
                }
                for pullback in record.blocks.reversed() { dShared = dShared.map(pullback) }
                guard let merge = record.merge else { continue }
                // This stage's merged input is the previous stage's feature, shared or per task.
                let level = index - 1
                if record.taskMerges.isEmpty {
                    dShared = sum([dShared] + gradients.map { $0[level] })
                    dTasks = []
                } else {
                    dTasks = record.taskMerges.indices.map { t in gradients[t][level].map(record.taskMerges[t]) }
                }
                dShared = dShared.map(merge)
            }
            if let dShared { _ = embedPullback(dShared) }
        })
    }
}

/// One stage as TGLoRA's group streams run it, whatever the backbone: what each stream passes
/// through before the blocks (PVT-v2's downsampling), the blocks, and what it passes through
/// after them into its tasks' feature and the next stage (Swin: the next stage's patch merging;
/// PVT-v2: the stage's norm).
struct GroupStreamStage {
    typealias Layer = (Matrix, ForwardContext) -> (Matrix, Pullback)
    var entry: Layer?
    var blocks: [Layer]
    var exit: Layer?
    /// The side of the feature the stage's streams leave it as.
    var side: Int
}

/// TGLoRA: one stream per task group and stage. The embedding is one stream, as if a stage of
/// one group came before the first; group `g` of a stage continues its parent group's stream, in
/// a context whose `stream` is `g` (the group's modules in every `GroupedLinear`, the stream's own
/// masks), and its exit is its tasks' feature of the stage.
func forwardGroupStreams(_ stages: [GroupStreamStage], embedded: (Matrix, Pullback), partitions: [TaskPartition],
                         _ context: ForwardContext) -> (features: [[FeatureMap]], pullback: ([[Matrix?]]) -> Void)
{
    precondition(partitions.count == stages.count, "one task partition per stage")
    struct StageRecord {
        /// The stage's entry of each stream of the previous stage.
        var entries: [Pullback] = []
        /// For each group, the previous stage's stream it continues.
        var parents: [Int]
        var blocks: [[Pullback]] = []
        var exits: [Pullback] = []
    }
    let taskCount = partitions[0].taskCount
    var records: [StageRecord] = []
    var features = Array(repeating: [FeatureMap](), count: taskCount)
    var previous = TaskPartition.shared(taskCount: taskCount)
    var outputs = [embedded.0]
    for (index, stage) in stages.enumerated() {
        let partition = partitions[index]
        precondition(partition.refines(previous), "task groups may only split going deeper")
        var record = StageRecord(parents: partition.groups.map { previous.group(of: $0[0]) })
        let inputs = stage.entry.map { entry in
            outputs.map { output in
                let (entered, pullback) = entry(output, context)
                record.entries.append(pullback)
                return entered
            }
        } ?? outputs
        let streams = record.parents.enumerated().map { group, parent in
            var streamContext = context
            streamContext.stream = group
            var x = inputs[parent]
            var pullbacks: [Pullback] = []
            for block in stage.blocks {
                let (out, pullback) = block(x, streamContext)
                x = out
                pullbacks.append(pullback)
            }
            return (x, pullbacks)
        }
        outputs = streams.map { output, pullbacks in
            record.blocks.append(pullbacks)
            guard let exit = stage.exit else { return output }
            let (left, exitPullback) = exit(output, context)
            record.exits.append(exitPullback)
            return left
        }
        for t in 0..<taskCount {
            features[t].append(FeatureMap(values: outputs[partition.group(of: t)], height: stage.side, width: stage.side))
        }
        records.append(record)
        previous = partition
    }
    return (features, { gradients in
        // Gradients of the current stage's group streams as they leave it, walking back.
        var dOutputs = [Matrix?](repeating: nil, count: partitions.last!.count)
        for (index, record) in records.enumerated().reversed() {
            let partition = partitions[index]
            let parentPartition = index == 0 ? TaskPartition.shared(taskCount: taskCount) : partitions[index - 1]
            var dInputs = [Matrix?](repeating: nil, count: parentPartition.count)
            for (group, parent) in record.parents.enumerated() {
                // A stream's exit is also its tasks' feature.
                var dOutput = sum([dOutputs[group]] + partition.groups[group].map { gradients[$0][index] })
                if !record.exits.isEmpty { dOutput = dOutput.map(record.exits[group]) }
                let dInput = record.blocks[group].reversed().reduce(dOutput) { d, pullback in d.map(pullback) }
                dInputs[parent] = sum([dInputs[parent], dInput])
            }
            dOutputs = record.entries.isEmpty ? dInputs
                : dInputs.enumerated().map { parent, d in d.map(record.entries[parent]) }
        }
        if let dEmbedded = dOutputs[0] { _ = embedded.1(dEmbedded) }
    })
}

/// The sum of the gradients present, nil when none is.
func sum(_ gradients: [Matrix?]) -> Matrix? {
    gradients.reduce(nil) { total, g in
        guard let g else { return total }
        return total.map { $0 + g } ?? g
    }
}
