/// How many runs go at once and how many threads each gets, so that slots x threads <= cores
/// unless the user asked for more explicitly.
public struct ResourceBudget: Sendable, Equatable, CustomStringConvertible {
    public var slots: Int
    public var threadsPerRun: Int
    public var cores: Int

    public init(slots: Int, threadsPerRun: Int, cores: Int) {
        self.slots = slots; self.threadsPerRun = threadsPerRun; self.cores = cores
    }

    /// Derives what the user left open. With neither given, a grid wider than the machine runs
    /// one single-threaded run per core (independent runs scale better than threads inside one),
    /// and a narrow one gives each run a share of the cores. `runs` is how many runs may launch.
    public init(slots: Int?, threadsPerRun: Int?, cores: Int, runs: Int) {
        let cores = max(1, cores)
        switch (slots, threadsPerRun) {
        case let (slots?, threads?):
            self.init(slots: max(1, slots), threadsPerRun: max(1, threads), cores: cores)
        case let (slots?, nil):
            self.init(slots: max(1, slots), threadsPerRun: max(1, cores / max(1, slots)), cores: cores)
        case let (nil, threads?):
            let threads = max(1, threads)
            self.init(slots: max(1, min(cores / threads, runs)), threadsPerRun: threads, cores: cores)
        case (nil, nil):
            let slots = max(1, min(cores, runs))
            self.init(slots: slots, threadsPerRun: max(1, cores / slots), cores: cores)
        }
    }

    /// The user asked for more threads in total than there are cores.
    public var isOversubscribed: Bool { slots * threadsPerRun > cores }

    public var description: String {
        "\(slots) slot\(slots == 1 ? "" : "s") x \(threadsPerRun) thread\(threadsPerRun == 1 ? "" : "s") on \(cores) core\(cores == 1 ? "" : "s")"
    }
}
