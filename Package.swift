// swift-tools-version: 6.1
// efthf — EFT fits on published HistFactory statistical models.
import PackageDescription

let package = Package(
    name: "efthf",
    platforms: [.macOS(.v14)],
    products: [
        // The one library EFT global fits link against; it re-exports the concept modules.
        .library(name: "EFTHF", targets: ["EFTHF"]),
        .executable(name: "efthf", targets: ["EFTHFCLI"]),
        // The C interface (include/efthf.h) as a shared library, libEFTHFC.so; the Python package loads it.
        .library(name: "EFTHFC", type: .dynamic, targets: ["EFTHFC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        // JSON values with exact number provenance, JSON Pointer/Patch, Python-compatible dumps.
        .target(name: "EFTJSON"),
        // The HistFactory model of pyhf 0.7.6: workspace spec, validation, likelihood and gradient.
        .target(
            name: "HistFactory",
            dependencies: ["EFTJSON", "_CKernels", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // efthf's extension of the schema (Specs/eft-extension.md, Specs/event-database.md): the
        // `morphing` and `event_database` modifier types, registered through `ModifierSet.efthf`,
        // and what reads or writes them (exports to pyhf, POPxf, reinterpretation).
        .target(name: "EFTModifiers", dependencies: ["HistFactory", "Morphing", "EventDatabase", "EFTJSON"]),
        // The AVX inner loops of the likelihood kernel and of the smoothed per-event kernel, in C
        // (runtime dispatch, no compiler flags).
        .target(name: "_CKernels"),
        // Polynomial morphing in Wilson coefficients: term sets, evaluation with gradient,
        // benchmark-point inversion, STXS parametrisations. Pure maths, no HistFactory dependency.
        .target(name: "Morphing", dependencies: ["EFTJSON"]),
        // NLopt (Debian libnlopt-dev) behind its own shim; only Inference imports it.
        .systemLibrary(name: "CNLopt", pkgConfig: "nlopt", providers: [.apt(["libnlopt-dev"])]),
        // Fits, uncertainties, profile scans, test statistics, CLs, toys.
        .target(name: "Inference", dependencies: ["HistFactory", "CNLopt"]),
        .target(name: "EFTHF", dependencies: ["EFTJSON", "EventDatabase", "HistFactory", "Morphing", "EFTModifiers", "Inference", "_Inflate"]),
        // The C interface over the task layer: opaque handles, arrays, JSON strings (include/efthf.h).
        .target(name: "EFTHFC", dependencies: ["EFTHF"]),
        .executableTarget(
            name: "EFTHFCLI",
            dependencies: ["EFTHF", "EventDatabase", "EFTHFService", "Plots", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // `efthf serve`: uploads, export/patch-set/fit/scan jobs in a bounded queue, results over HTTP
        // (Hummingbird), and the workspace explorer page (Explorer/, plain HTML + JavaScript + SVG).
        .target(
            name: "EFTHFService",
            dependencies: ["EFTHF", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Explorer")]
        ),
        .testTarget(
            name: "EFTHFServiceTests",
            dependencies: ["EFTHFService", .product(name: "HummingbirdTesting", package: "hummingbird")]
        ),
        .executableTarget(name: "HistFactoryBenchmark", dependencies: ["HistFactory", "EFTJSON"], path: "Benchmarks/HistFactory", exclude: ["run.py"]),
        .executableTarget(name: "MorphingBenchmark", dependencies: ["Morphing"], path: "Benchmarks/Morphing"),
        .testTarget(name: "EFTJSONTests", dependencies: ["EFTJSON"]),
        .testTarget(name: "EFTHFTests", dependencies: ["EFTHF"]),
        .testTarget(name: "HistFactoryTests", dependencies: ["HistFactory", "EFTModifiers", "EFTJSON", "_SeededRandom"]),
        .testTarget(name: "MorphingTests", dependencies: ["Morphing", "EFTJSON", "_SeededRandom"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "HistFactory", "EFTModifiers", "Morphing", "EFTJSON"]),
        .executableTarget(name: "InferenceBenchmark", dependencies: ["Inference", "HistFactory"], path: "Benchmarks/inference", exclude: ["bench_pyhf.py"]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .target(name: "EventDatabase", dependencies: ["CHDF5", "_Inflate", "Morphing", "EFTJSON", "_CKernels"]),
        .testTarget(name: "EventDatabaseTests", dependencies: ["EventDatabase", "Morphing", "_SeededRandom"]),
        .executableTarget(name: "EventDatabaseBenchmark", dependencies: ["EventDatabase", "_SeededRandom"], path: "Benchmarks/EventDatabase"),
        .target(name: "Plots", dependencies: ["HistFactory", "Inference"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots", "EFTHF"]),
        .testTarget(name: "CLITests", dependencies: ["EFTHFCLI", "EFTHF", "Plots"], exclude: ["Snapshots"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .executableTarget(name: "MakeExampleData", dependencies: ["EventDatabase", "Morphing", "_SeededRandom"], path: "Data/generator"),
        // A reproducible random stream shared by the tests, the benchmarks and the example-data generator.
        .target(name: "_SeededRandom"),
        .target(name: "_Inflate", dependencies: ["CZlib"]),
    ],
    swiftLanguageModes: [.v6]
)
