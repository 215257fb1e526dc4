import Foundation
import RunContract

/// A model with its data, loss and evaluation, as the training loop drives it. Pretraining
/// (classification) and dense multi-task fine-tuning are the two objectives; the adapter methods
/// change the model inside the dense one.
public protocol TrainingObjective: AnyObject {
    /// Trainable parameters in a fixed order, as flat buffers for the optimizer.
    func trainableSlots() -> [ParameterSlot]
    func zeroGradients()
    /// Forward and backward on training batch `step` of `epoch`, leaving gradients in the slots.
    /// Returns the (weighted, summed) loss. Throws when a sample cannot be read (real data sets).
    func trainStep(epoch: Int, step: Int) throws -> Double
    /// Called after each epoch's last step; returns the adapters' current ranks (empty without adapters).
    func epochEnded(epoch: Int) -> [String: Int]
    /// Metrics on the validation set, in the papers' units.
    func evaluate() throws -> (tasks: [String: TaskMetric], extra: [String: Double])
    /// Everything that changes during training besides the optimizer: parameters, BatchNorm statistics.
    func state() -> [String: StoredTensor]
    func restore(_ state: [String: StoredTensor]) throws
    var parameterCounts: ParameterCounts { get }
    /// Forward multiply-accumulates for one image, in G.
    func forwardGMACs() -> Double
    /// Writes the run's artifacts into `directory`; returns them by name, as relative paths.
    func writeArtifacts(to directory: URL) throws -> [String: String]
}

/// An objective whose state is exactly a list of parameters (every objective of this issue):
/// slots, gradient reset, checkpoint state and restore follow from the list.
public protocol ParameterizedObjective: TrainingObjective {
    /// Every parameter of the model, BatchNorm statistics included, in a fixed order.
    var modelParameters: [Parameter] { get }
}

extension ParameterizedObjective {
    public func trainableSlots() -> [ParameterSlot] { modelParameters.compactMap(\.slot) }
    public func zeroGradients() { for parameter in modelParameters { parameter.zeroGradient() } }
    public func state() -> [String: StoredTensor] { modelParameters.state }
    public func restore(_ state: [String: StoredTensor]) throws { try modelParameters.restore(from: state) }
    public func epochEnded(epoch: Int) -> [String: Int] { [:] }
}
