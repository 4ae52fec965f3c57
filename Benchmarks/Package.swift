// swift-tools-version:6.1
//
// Benchmarks for Tmem: their own package, so `swift test` in the project never builds them.
// Run as root from this folder:  swift run -c release paging-vs-kernel ../../shared/corpus/dev-pages.bin.zst
import PackageDescription

let package = Package(
    name: "TmemBenchmarks",
    dependencies: [
        .package(name: "Tmem", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .executableTarget(
            name: "paging-vs-kernel",
            dependencies: [
                .product(name: "Tmem", package: "Tmem"),
                .product(name: "TmemFrontswap", package: "Tmem"),
                .product(name: "TmemZcache", package: "Tmem"),
                .product(name: "TmemZram", package: "Tmem"),
                .product(name: "TmemReplay", package: "Tmem"),
                .product(name: "TmemPaging", package: "Tmem"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        )
    ]
)
