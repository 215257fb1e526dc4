// swift-tools-version: 6.2
import PackageDescription

// Numeric targets are optimised even in debug builds: a debug Tensors is tens of
// times slower, which would make gradient checks and engine tests crawl.
let numeric: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "sweep",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sweep", targets: ["sweep"]),
        .executable(name: "mtl-engine", targets: ["mtl-engine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // Tests only: property-based fuzzing of the manifest loader.
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // MARK: numerics and the engine
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // Real data sets' images: JPEG through libjpeg-turbo, PNG through libpng. CImageCodecs is
        // the C side that needs setjmp (both libraries report errors by longjmp, which Swift cannot
        // catch; libjpeg's default handler would exit the process).
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG"]),
        .target(name: "Tensors", dependencies: ["CBLAS", "CFFTW"], swiftSettings: numeric),
        .target(name: "RunContract"),
        // Pretrained/ holds the bundled backbones (BundledWeights.swift), read through Bundle.module.
        .target(name: "Engine", dependencies: [
            "Tensors", "RunContract", "CImageCodecs", .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.copy("Pretrained")], swiftSettings: numeric),
        .target(name: "EngineCLI", dependencies: [
            "Engine", "RunContract", "Tensors",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "mtl-engine", dependencies: ["EngineCLI"]),

        // MARK: the orchestrator: manifest -> plan -> ledger -> execute -> report
        .target(name: "SweepCore", dependencies: [
            "RunContract",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "SweepManifest", dependencies: [
            "SweepCore", "RunContract", .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "SweepLedger", dependencies: [
            "SweepCore", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "SweepExecute", dependencies: [
            "SweepCore", "SweepLedger", "RunContract",
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "SweepReport", dependencies: [
            "SweepCore", "RunContract",
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "CSV", package: "CSV.swift"),
        ]),
        .target(name: "SweepCLI", dependencies: [
            "SweepCore", "SweepManifest", "SweepLedger", "SweepExecute", "SweepReport", "RunContract",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "sweep", dependencies: ["SweepCLI"]),

        // MARK: tests (folders mirror Sources)
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"], swiftSettings: numeric),
        // Fixtures/: tiny PASCAL-Context and NYUD-v2 layouts (JPEG images) and damaged files.
        .testTarget(name: "EngineTests", dependencies: ["Engine", "EngineCLI"],
                    resources: [.copy("Fixtures")], swiftSettings: numeric),
        .testTarget(name: "SweepCoreTests", dependencies: ["SweepCore"]),
        .testTarget(name: "SweepManifestTests", dependencies: [
            "SweepManifest", .product(name: "PropertyBased", package: "swift-property-based"),
        ],
                    resources: [.copy("Malformed")]),
        .testTarget(name: "SweepLedgerTests", dependencies: ["SweepLedger"]),
        .testTarget(name: "SweepExecuteTests", dependencies: ["SweepExecute"]),
        .testTarget(name: "SweepCLITests", dependencies: ["SweepCLI", "SweepLedger", "SweepExecute"]),
        .testTarget(name: "SweepReportTests", dependencies: ["SweepReport"],
                    resources: [.copy("Golden")]),
        // Runs the built `sweep` and `mtl-engine` binaries end to end.
        // Depending on `sweep` makes `swift test` build the binary these tests run.
        .testTarget(name: "EndToEndTests", dependencies: ["SweepCore", "RunContract", "sweep"],
                    exclude: ["Fixtures"]),
    ]
)
