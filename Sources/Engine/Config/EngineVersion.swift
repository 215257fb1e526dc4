import RunContract

/// The engine's version, recorded in every metrics.json and checkpoint.
public enum EngineVersion {
    public static let current = BundledEngine.version
}
