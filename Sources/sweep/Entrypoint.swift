import SweepCLI

@main
enum Entrypoint {
    static func main() async {
        await SweepCommand.main()
    }
}
