import EngineCLI

@main
enum Entrypoint {
    static func main() { EngineCommand.main() }
}
