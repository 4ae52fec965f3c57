// swift-tools-version:6.1
//
// Tmem: transcendent memory for Linux userspace. See README.md and ../shared/DESIGN.md for the map.
//
// Module graph (data flows down on store, up on load):
//
//   tmem (thin @main) ─► TmemCLI (the commands) ─► TmemReplay, TmemBench, TmemPaging, TmemZram, and for
//                        `tmem stat` / `tmem host-demo` TmemRemote, TmemHost, TmemServer (an in-process host)
//   TmemReplay ─► TmemFrontswap ─► Tmem (core: keys, pools, Backend, BackingDevice, Errno, RAM pool; no I/O)
//            └──► TmemSwapFile ─► Tmem (the backing device: a real file of slots; TemporaryDirectory)
//            └──► TmemZcache ─► TmemZPool (allocator) + TmemCompression ─► CLZ4, CZstd
//   TmemPaging ─► TmemFrontswap, TmemSwapFile, CUserfaultfd        TmemZram ─► Tmem
//   TmemTestKit ─► TmemFrontswap, Tmem: below the tools (TmemReplay, TmemBench, TmemCLI); TmemBench uses it
//
// The host (tmemd) and its client:
//   tmemd (thin @main) ─► TmemServer (SwiftNIO listeners, sessions, metrics, a ServiceLifecycle service)
//   TmemServer ─► TmemWire (the frame codec: pure, NIOCore buffers only) + TmemHost (clients, pools,
//                 policy, storage in Zcache: pure, no sockets)
//   TmemRemote (the remote backend, a client of tmemd) ─► TmemWire, Tmem
//
// C libraries come from the shared objects every Debian carries (liblz4.so.1, libzstd.so.1), linked by
// soname through shims of our own, so `swift build` needs no -dev package.
import PackageDescription

let package = Package(
    name: "Tmem",
    products: [
        .library(name: "Tmem", targets: ["Tmem"]),
        .library(name: "TmemFrontswap", targets: ["TmemFrontswap"]),
        .library(name: "TmemSwapFile", targets: ["TmemSwapFile"]),
        .library(name: "TmemZPool", targets: ["TmemZPool"]),
        .library(name: "TmemCompression", targets: ["TmemCompression"]),
        .library(name: "TmemZcache", targets: ["TmemZcache"]),
        .library(name: "TmemZram", targets: ["TmemZram"]),
        .library(name: "TmemPaging", targets: ["TmemPaging"]),
        .library(name: "TmemReplay", targets: ["TmemReplay"]),
        .library(name: "TmemBench", targets: ["TmemBench"]),
        .library(name: "TmemTestKit", targets: ["TmemTestKit"]),
        .library(name: "TmemWire", targets: ["TmemWire"]),
        .library(name: "TmemHost", targets: ["TmemHost"]),
        .library(name: "TmemServer", targets: ["TmemServer"]),
        .library(name: "TmemRemote", targets: ["TmemRemote"]),
        .library(name: "TmemCleancache", targets: ["TmemCleancache"]),
        .library(name: "TmemSQLite", targets: ["TmemSQLite"]),
        .library(name: "TmemSQLiteWorkload", targets: ["TmemSQLiteWorkload"]),
        // The programs `tmem run` is tested and benchmarked with, and a sampler of a process tree's memory.
        .library(name: "TmemRunWorkloads", targets: ["TmemRunWorkloads"]),
        // `tmem run`'s preload library (LD_PRELOAD into the program; docs/RUN.md): libTmemRunPreload.so.
        .library(name: "TmemRunPreload", type: .dynamic, targets: ["CTmemRunPreload"]),
        .library(name: "TmemRun", targets: ["TmemRun"]),
        .executable(name: "tmem", targets: ["tmem"]),
        .executable(name: "tmemd", targets: ["tmemd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // Core: no I/O, no Foundation.
        .target(name: "Tmem"),
        .target(name: "TmemFrontswap", dependencies: ["Tmem"]),
        .target(name: "TmemSwapFile", dependencies: ["Tmem"]),

        // Compressed RAM.
        .target(name: "CLZ4", linkerSettings: [.linkedLibrary(":liblz4.so.1")]),
        .target(name: "CZstd", linkerSettings: [.linkedLibrary(":libzstd.so.1")]),
        .target(name: "TmemCompression", dependencies: ["CLZ4", "CZstd"]),
        .target(name: "TmemZPool"),
        .target(name: "TmemZcache", dependencies: ["Tmem", "TmemZPool", "TmemCompression"]),

        // Paging: userfaultfd regions paged through frontswap.
        .target(name: "CUserfaultfd", cSettings: [.define("_GNU_SOURCE")]),
        .target(
            name: "TmemPaging",
            dependencies: [
                "Tmem", "TmemFrontswap", "TmemSwapFile", "CUserfaultfd",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),

        // `tmem run`: the monitor's C calls and the protocol it shares with the preload library, and the
        // preload library itself (C, so that it loads into any program without a Swift runtime).
        .target(name: "CTmemRun", cSettings: [.define("_GNU_SOURCE")]),
        .target(
            name: "CTmemRunPreload", dependencies: ["CTmemRun"], cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("pthread")]
        ),
        .target(
            name: "TmemRun",
            dependencies: [
                "Tmem", "TmemFrontswap", "TmemSwapFile", "TmemPaging", "CTmemRun", "CUserfaultfd",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),

        // The kernel's zram, driven as the side-by-side baseline in benchmarks.
        .target(name: "TmemZram", dependencies: ["Tmem"]),

        // Tools.
        .target(
            name: "TmemBench",
            dependencies: [
                "Tmem", "TmemZcache", "TmemCompression", "TmemZram", "TmemReplay", "TmemTestKit",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "TmemReplay",
            dependencies: ["Tmem", "TmemFrontswap", "TmemSwapFile", "TmemZcache", "TmemCompression", "TmemRemote", "TmemWire"]
        ),
        .target(name: "TmemTestKit", dependencies: ["Tmem", "TmemFrontswap", "TmemSwapFile", "TmemCleancache"]),
        .target(
            name: "TmemCLI",
            dependencies: [
                "Tmem", "TmemFrontswap", "TmemSwapFile", "TmemZcache", "TmemCompression", "TmemReplay", "TmemZram",
                "TmemBench", "TmemPaging", "TmemWire", "TmemRemote", "TmemHost", "TmemServer",
                "TmemCleancache", "TmemSQLite", "TmemSQLiteWorkload", "TmemRun",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "tmem", dependencies: ["TmemCLI"]),

        // The host and its client.
        .target(
            name: "TmemWire",
            dependencies: [
                "Tmem", .product(name: "NIOCore", package: "swift-nio"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(name: "TmemHost", dependencies: ["Tmem", "TmemZcache", "TmemCompression"]),
        .target(name: "TmemCleancache", dependencies: ["Tmem"]),
        .target(name: "CSQLite", linkerSettings: [.linkedLibrary(":libsqlite3.so.0")]),
        .target(name: "TmemSQLite", dependencies: ["Tmem", "TmemCleancache", "CSQLite"]),
        .target(name: "TmemSQLiteWorkload", dependencies: ["Tmem", "TmemSQLite"]),
        .target(name: "TmemRunWorkloads", dependencies: ["CTmemRun"]),
        .target(
            name: "TmemServer",
            dependencies: [
                "Tmem", "TmemWire", "TmemHost", "TmemZcache",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "TmemRemote",
            dependencies: [
                "Tmem", "TmemWire", "TmemCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tmemd",
            dependencies: [
                "Tmem", "TmemServer", "TmemHost", "TmemWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .testTarget(name: "TmemTests", dependencies: ["Tmem", "TmemTestKit"]),
        .testTarget(
            name: "TmemFrontswapTests", dependencies: ["Tmem", "TmemFrontswap", "TmemSwapFile", "TmemTestKit"]),
        .testTarget(name: "TmemSwapFileTests", dependencies: ["Tmem", "TmemSwapFile", "TmemTestKit"]),
        .testTarget(name: "TmemZPoolTests", dependencies: ["TmemZPool", "Tmem", "TmemTestKit"]),
        .testTarget(name: "TmemCompressionTests", dependencies: ["TmemCompression", "Tmem", "TmemTestKit"]),
        .testTarget(
            name: "TmemZcacheTests",
            dependencies: ["TmemZcache", "Tmem", "TmemFrontswap", "TmemSwapFile", "TmemTestKit", "TmemCompression"]
        ),
        .testTarget(name: "TmemZramTests", dependencies: ["TmemZram", "Tmem"]),
        .testTarget(
            name: "TmemPagingTests",
            dependencies: [
                "TmemPaging", "Tmem", "TmemFrontswap", "TmemSwapFile", "TmemZcache", "TmemReplay", "TmemTestKit",
                "TmemCompression", "CUserfaultfd",
            ]
        ),
        .testTarget(
            name: "TmemCLITests",
            dependencies: [
                "TmemCLI", "Tmem", "TmemReplay", "TmemSwapFile", "TmemTestKit", "TmemHost", "TmemRemote", "TmemWire",
                "TmemCleancache",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "TmemWireTests",
            dependencies: [
                "TmemWire", "Tmem", "TmemTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "TmemCleancacheTests", dependencies: ["TmemCleancache", "Tmem", "TmemZcache", "TmemSwapFile", "TmemTestKit"]),
        .testTarget(
            name: "TmemSQLiteTests",
            dependencies: ["TmemSQLite", "TmemCleancache", "Tmem", "TmemZcache", "TmemCompression", "TmemSwapFile", "TmemTestKit"]
        ),
        .testTarget(
            name: "TmemHostTests",
            dependencies: ["TmemHost", "Tmem", "TmemZcache", "TmemCompression", "TmemTestKit"]
        ),
        .testTarget(
            name: "TmemServerTests",
            dependencies: [
                "TmemServer", "TmemRemote", "TmemHost", "TmemWire", "Tmem", "TmemFrontswap", "TmemSwapFile",
                "TmemTestKit", "TmemCompression", "TmemCleancache",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "TmemRunTests", dependencies: ["CTmemRun", "TmemRun", "TmemRunWorkloads", "Tmem", "TmemTestKit", "TmemSwapFile"]),
        .testTarget(
            name: "TmemReplayTests",
            dependencies: ["TmemReplay", "Tmem", "TmemTestKit", "TmemFrontswap", "TmemSwapFile", "TmemZcache"]
        ),
    ]
)
