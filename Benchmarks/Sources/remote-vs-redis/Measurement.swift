import TmemReplay

// remote-vs-redis: the phases, run the same way on either server over either transport. A
// `ServerDriver` only opens connections and reads the server's memory; the sequence, the page orders
// and the measurement are one function for both.
#if canImport(Glibc)
    import Glibc
#endif

/// The two transports; every figure exists once for each.
enum Transport: CaseIterable {
    case tcp, unix
    /// The JSON key suffix: TCP figures are unsuffixed.
    var suffix: String { self == .tcp ? "" : "_unix" }
    var label: String { self == .tcp ? "TCP (loopback, TCP_NODELAY)" : "Unix-domain socket" }
}

/// What every run does: how many pages, the seed of the get order, the concurrent shape.
struct RunPlan {
    var pages: Int
    var seed: UInt64
    /// Connections of the concurrent phase, and requests in flight on each. The JSON keys say 16x16.
    var connections = 16
    var depth = 16
}

/// What one server needs beyond the shared load generator: its connections and its memory figure.
protocol ServerDriver {
    associatedtype Wire: PageWire
    /// Opens `count` connections ready for the workload (sessions set up, pool created).
    ///
    /// - Returns: Them, and the most requests in flight the server allows per connection, if it says.
    func openLanes(_ count: Int, endpoint: Endpoint, name: String) throws -> (lanes: [Lane<Wire>], maxDepth: Int?)
    /// The server's own figure of its memory, asked on an idle connection.
    func reportedMemory(on lane: Lane<Wire>) throws -> (bytes: Int?, host: TmemHostMemory?)
    /// Empties the server between the single-connection and the concurrent phases.
    func reset(endpoint: Endpoint) throws
}

/// One server's figures over one transport.
struct SideFigures {
    var put1c: PhaseResult
    var get1c: PhaseResult
    var put16: PhaseResult
    var get16: PhaseResult
    var memory: MemoryFigures
    /// Requests in flight per connection in the concurrent phase (16 unless the server allows fewer).
    var depth16: Int

    var mismatches: Int { get1c.mismatches + get16.mismatches }
}

/// Runs the phases against one server.
struct Measurement {
    let corpus: PageCorpus
    let plan: RunPlan

    /// (1) one connection, one request at a time: put every page, read the server's memory, get every
    /// page in a seeded random order; (2) after a reset, `connections` x `depth` in flight: put all
    /// (dealt across connections), get all in another seeded order. Every get is verified.
    ///
    /// - Throws: `BenchError` naming the server, the phase and the server's state and output.
    func run<Driver: ServerDriver>(_ driver: Driver, on server: RunningServer, _ transport: Transport) throws
        -> SideFigures
    {
        let endpoint = transport == .tcp ? server.tcp : server.unix
        let generator = LoadGenerator<Driver.Wire>(corpus: corpus)
        let putOrder = Array(0..<plan.pages)
        func step<T>(_ what: String, _ body: () throws -> T) throws -> T {
            do {
                let value = try body()
                if server.process.hasExited { throw BenchError("it ended") }
                return value
            } catch {
                throw server.process.failure("\(what) over \(transport == .tcp ? "TCP" : "the Unix socket"): \(error)")
            }
        }

        var memory = MemoryFigures()
        let (put1c, get1c) = try step("1 connection") { () throws -> (PhaseResult, PhaseResult) in
            let (lanes, _) = try driver.openLanes(1, endpoint: endpoint, name: "bench-1c")
            memory.serverReportedBefore = try driver.reportedMemory(on: lanes[0]).bytes
            let rssBefore = residentBytes(of: server.process.pid)
            let put = try generator.run(.put, order: putOrder, lanes: lanes, depth: 1)
            let rssAfter = residentBytes(of: server.process.pid)
            (memory.serverReported, memory.tmemHost) = try driver.reportedMemory(on: lanes[0])
            if let before = rssBefore, let after = rssAfter { memory.rssGrowth = after - before }
            let get = try generator.run(
                .get, order: shuffledPages(count: plan.pages, seed: plan.seed), lanes: lanes, depth: 1)
            return (put, get)
        }
        try step("reset between phases") { try driver.reset(endpoint: endpoint) }
        let (put16, get16, depth) = try step("\(plan.connections) connections") {
            () throws -> (PhaseResult, PhaseResult, Int) in
            let (lanes, maxDepth) = try driver.openLanes(plan.connections, endpoint: endpoint, name: "bench-16x16")
            let depth = min(plan.depth, maxDepth ?? plan.depth)
            let put = try generator.run(.put, order: putOrder, lanes: lanes, depth: depth)
            let order = shuffledPages(count: plan.pages, seed: plan.seed &+ 1)
            let get = try generator.run(.get, order: order, lanes: lanes, depth: depth)
            return (put, get, depth)
        }
        return SideFigures(put1c: put1c, get1c: get1c, put16: put16, get16: get16, memory: memory, depth16: depth)
    }
}

/// tmemd: one session per phase; its further connections JOIN it and share its one persistent pool, so
/// all connections see one keyspace, as with Redis. Closing a phase's connections ends the session
/// and frees its pool: no reset is needed.
struct TmemDriver: ServerDriver {
    let secret: [UInt8]
    var clientCompression = false

    func openLanes(_ count: Int, endpoint: Endpoint, name: String) throws -> (lanes: [Lane<TmemWire>], maxDepth: Int?) {
        let (first, welcome) = try TmemSession.connect(to: endpoint, name: name, secret: secret)
        let pool = try TmemSession.createPool(on: first)
        var lanes = [Lane(socket: first, wire: try TmemWire(pool: pool, clientCompression: clientCompression))]
        for _ in 1..<max(count, 1) {
            let (socket, _) = try TmemSession.connect(to: endpoint, name: name, secret: secret, join: welcome)
            lanes.append(Lane(socket: socket, wire: try TmemWire(pool: pool, clientCompression: clientCompression)))
        }
        return (lanes, welcome.maxInFlight > 0 ? Int(welcome.maxInFlight) : nil)
    }

    func reportedMemory(on lane: Lane<TmemWire>) throws -> (bytes: Int?, host: TmemHostMemory?) {
        let host = TmemHostMemory(statsJSON: try TmemSession.stats(on: lane.socket))
        return (host.totalBytes, host)
    }

    func reset(endpoint: Endpoint) throws {}
}

/// redis-server: plain connections; FLUSHALL SYNC empties it between phases.
struct RedisDriver: ServerDriver {
    func openLanes(_ count: Int, endpoint: Endpoint, name: String) throws -> (lanes: [Lane<RedisWire>], maxDepth: Int?)
    {
        let lanes = try (0..<count).map { _ in Lane(socket: try Socket(connectingTo: endpoint), wire: RedisWire()) }
        return (lanes, nil)
    }

    func reportedMemory(on lane: Lane<RedisWire>) throws -> (bytes: Int?, host: TmemHostMemory?) {
        (try redisUsedMemory(lane.socket), nil)
    }

    func reset(endpoint: Endpoint) throws {
        let reply = try RESP.call(["FLUSHALL", "SYNC"], on: try Socket(connectingTo: endpoint))
        guard reply == .simple("OK") else { throw BenchError("redis-server answered FLUSHALL with \(reply)") }
    }
}
