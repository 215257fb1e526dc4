import Testing

/// Every end-to-end test runs the built `sweep` with the engine stand-in. They run one at a
/// time: each starts several processes, and the kill test needs the machine's attention.
@Suite(.serialized) struct EndToEnd {}
