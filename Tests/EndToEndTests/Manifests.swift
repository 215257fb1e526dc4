/// Manifests for the end-to-end tests. Every run uses the engine stand-in (Fixtures/engine.sh,
/// copied beside the manifest); configs hold no paths, so the same manifest in two scratch
/// folders plans the same run ids.
enum Manifests {
    /// One pretraining run and a grid of `rows` labelled rows x `seeds` seeds that needs it,
    /// with one table over the rows.
    static func grid(name: String = "e2e", rows: Int = 4, seeds: Int = 2, epochs: Int = 3, epochSeconds: Double = 0.1,
                     slots: Int = 2, retries: Int = 1) -> String {
        let rowLines = (0 ..< rows).map { "      - {label: \"R\($0)\", score: \(40 + 5 * $0)}" }.joined(separator: "\n")
        let tableRows = (0 ..< rows).map { "      - {label: \"R\($0)\", group: grid}" }.joined(separator: "\n")
        return header(name: name, slots: slots, retries: retries) + """
            defaults:
              epochs: \(epochs)
              epoch_seconds: \(epochSeconds)
            seeds: [\((0 ..< seeds).map(String.init).joined(separator: ", "))]
            profiles:
              quick: {epochs: 1}
            groups:
              pretrain:
                seeds: [0]
                set: {score: 10}
              grid:
                rows:
            \(rowLines)
                needs:
                  pretrain: {group: pretrain}
                set: {needs_file: "${needs.pretrain}/weights.bin"}
            tables:
              main:
                title: "End-to-end grid"
                columns:
                  - {key: semseg, header: "SemSeg mIoU"}
                  - {key: normals, header: "Normals", direction: lower}
                  - params.trainable
                rows:
            \(tableRows)

            """
    }

    /// Two pretraining runs (backbones a and b; b fails with "CUDA out of memory") and a grid
    /// of two methods on each backbone that needs the matching pretraining.
    static func failingDependency(slots: Int = 2, retries: Int = 1) -> String {
        header(name: "e2e-failure", slots: slots, retries: retries) + """
        defaults:
          epochs: 2
          epoch_seconds: 0.05
        groups:
          pretrain:
            rows:
              - {label: "A", backbone: a}
              - {label: "B", backbone: b, fail: "CUDA out of memory"}
          grid:
            grid:
              backbone: [a, b]
              method: [lora, mtlora]
            needs:
              pretrain: {group: pretrain, match: [backbone]}
            set: {needs_file: "${needs.pretrain}/weights.bin"}

        """
    }

    /// The sweep's name, the engine stand-in as its engine, and the executor settings.
    private static func header(name: String, slots: Int, retries: Int) -> String {
        """
        name: \(name)
        engine:
          command: [./engine.sh, --config, "{config}", --out, "{out}"]
        executor:
          slots: \(slots)
          threads: 1
          retries: \(retries)

        """
    }
}
