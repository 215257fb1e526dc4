/// The engine's version, recorded in every metrics.json.
public enum EngineVersion {
    public static let current = "0.1.0"
}
