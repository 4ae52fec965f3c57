// swift-tools-version:6.1
//
// Benchmarks for Tmem: their own package, so `swift test` in the project never builds them.
// Run as root from this folder:  swift run -c release paging-vs-kernel ../../shared/corpus/dev-pages.bin.zst
// (add --host to also page through a tmemd against the kernel on a disk swap file: build tmemd first)
// tmemd vs redis-server, 4 KiB put/get over TCP and a Unix socket (build tmemd first: `swift build -c release`
// in the root; redis-server is optional, `apt-get install redis-server`):
//                                 swift run -c release remote-vs-redis ../../shared/corpus/dev-pages.bin.zst
// Unmodified programs (python3, sort, sqlite3, perl) under `tmem run` vs the kernel's memory cgroup with zram
// swap, at a quarter of each program's peak (build tmem first: `swift build -c release` in the root):
//                                 swift run -c release run-vs-kernel
// SQLite point lookups on a 1 GiB database at a 256 MiB budget, kernel page cache vs tmem VFS over cleancache:
//                                 swift run -c release cleancache-vs-pagecache
import PackageDescription

let package = Package(
    name: "TmemBenchmarks",
    dependencies: [
        .package(name: "Tmem", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        .target(name: "BenchProcess"),
        .executableTarget(
            name: "paging-vs-kernel",
            dependencies: [
                "BenchProcess",
                .product(name: "Tmem", package: "Tmem"),
                .product(name: "TmemFrontswap", package: "Tmem"),
                .product(name: "TmemZcache", package: "Tmem"),
                .product(name: "TmemZram", package: "Tmem"),
                .product(name: "TmemReplay", package: "Tmem"),
                .product(name: "TmemPaging", package: "Tmem"),
                .product(name: "TmemTestKit", package: "Tmem"),
                .product(name: "TmemRemote", package: "Tmem"),
                .product(name: "TmemWire", package: "Tmem"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "CRemoteBench", cSettings: [.define("_GNU_SOURCE")]),
        .executableTarget(
            name: "remote-vs-redis",
            dependencies: [
                "BenchProcess",
                .product(name: "TmemSQLiteWorkload", package: "Tmem"),
                "CRemoteBench",
                .product(name: "Tmem", package: "Tmem"),
                .product(name: "TmemReplay", package: "Tmem"),
                .product(name: "TmemCompression", package: "Tmem"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "run-vs-kernel",
            dependencies: [
                "BenchProcess",
                .product(name: "TmemRunWorkloads", package: "Tmem"),
                .product(name: "TmemZram", package: "Tmem"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "cleancache-vs-pagecache",
            dependencies: [
                "BenchProcess",
                .product(name: "Tmem", package: "Tmem"),
                .product(name: "TmemCleancache", package: "Tmem"),
                .product(name: "TmemZcache", package: "Tmem"),
                .product(name: "TmemCompression", package: "Tmem"),
                .product(name: "TmemSQLite", package: "Tmem"),
                .product(name: "TmemSQLiteWorkload", package: "Tmem"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ]
)
