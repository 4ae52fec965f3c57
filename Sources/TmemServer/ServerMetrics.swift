import Prometheus
import Synchronization
import TmemHost
import TmemWire

/// The host's Prometheus metrics (swift-prometheus), in base units under `tmem_*` names: request
/// latency histograms by op, connections, protocol errors, and, refreshed at each scrape from the
/// host's statistics, pages, bytes, refusals by client and reason, evictions and shrink notices, and
/// cleancache's counters on ephemeral pools (`tmem_cleancache_*` host-wide since it started,
/// `tmem_client_cleancache_*` per session), under the kernel's names: `succ_gets`, `failed_gets`, `puts`,
/// `invalidates`, `evicted_pages`. They only grow while their session lives, but are gauges set from the
/// host's own counts at each scrape, as the other figures are (a counter could only be incremented).
public final class ServerMetrics: Sendable {
    /// The registry scraped at `/metrics` (also what `MetricsSystem` may be bootstrapped with).
    public let registry = PrometheusCollectorRegistry()
    let connections: Gauge
    let protocolErrors: Counter
    private let latencies: [UInt8: DurationHistogram]
    /// The per-session gauges of the last scrape: those of sessions that ended since are unregistered,
    /// so `/metrics` never shows a gone session's last figures. Held while a scrape refreshes.
    private let sessionGauges = Mutex<[Gauge]>([])

    public init() {
        connections = registry.makeGauge(descriptor: Self.descriptor("tmem_connections", "Open client connections"))
        protocolErrors = registry.makeCounter(
            descriptor: Self.descriptor("tmem_protocol_errors_total", "Connections closed for breaking the protocol"))
        let buckets: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000, 100_000].map { .microseconds($0) }
        var latencies: [UInt8: DurationHistogram] = [:]
        for op in [WireOp.put, .get, .flushPage, .flushObject, .flushPool, .batch, .createPool, .destroyPool] {
            latencies[op.rawValue] = registry.makeDurationHistogram(
                descriptor: Self.descriptor("tmem_request_duration_seconds", "Time the host spent on a request, from its frame to its reply"),
                labels: [("op", op.description.lowercased())], buckets: buckets)
        }
        self.latencies = latencies
    }

    func record(_ op: WireOp, nanoseconds: UInt64) {
        latencies[op.rawValue]?.recordNanoseconds(Int64(nanoseconds))
    }

    /// The text exposition, after refreshing the host's figures.
    public func exposition(of host: Host) -> [UInt8] {
        sessionGauges.withLock { previous in
            let stats = host.statistics()
            gauge("tmem_capacity_bytes", "The host's capacity now").set(Double(stats.capacityBytes))
            gauge("tmem_used_bytes", "Host memory holding pages (compressed) and their metadata").set(Double(stats.usedBytes))
            gauge("tmem_stored_pages", "Pages the host holds").set(Double(stats.pages))
            gauge("tmem_stored_bytes", "Bytes the host's pages take as stored (compressed)").set(Double(stats.storedBytes))
            gauge("tmem_memory_bytes", "Memory the host's store spends (allocator spans, tables)").set(Double(stats.memoryBytes))
            gauge("tmem_evicted_pages", "Ephemeral pages the host dropped to make room").set(Double(stats.evictedPages))
            gauge("tmem_sessions", "Open client sessions").set(Double(stats.clients.count))
            for (name, value) in stats.cleancache.namedValues {
                gauge("tmem_cleancache_\(name)", Self.cleancacheHelp(name, of: "every session, since the host started"))
                    .set(Double(value))
            }
            var current: [Gauge] = []
            func set(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Int) {
                let made = gauge(name, help, labels)
                made.set(Double(value))
                current.append(made)
            }
            for client in stats.clients {
                let labels = [("client", client.name), ("session", String(client.session))]
                set("tmem_client_stored_pages", "Pages a client's session holds", labels, client.storedPages)
                set("tmem_client_original_bytes", "Bytes of a client's pages before compression", labels, client.originalBytes)
                set("tmem_client_stored_bytes", "Host memory a client's pages take, compressed", labels, client.compressedBytes)
                set("tmem_client_share_bytes", "A client's weighted share of the capacity", labels, client.share)
                set("tmem_client_weight", "A client's weight", labels, client.weight)
                set("tmem_client_cap_bytes", "A client's cap (0: none)", labels, client.cap ?? 0)
                set("tmem_client_evicted_pages", "Ephemeral pages of a client the host evicted", labels, client.evictedPages)
                set("tmem_client_shrink_notices", "Shrink notices sent to a client", labels, client.shrinkNotices)
                for (name, value) in client.cleancache.namedValues {
                    set("tmem_client_cleancache_\(name)", Self.cleancacheHelp(name, of: "a client's session"), labels, value)
                }
                for status in RefusalCounts.reported {
                    set("tmem_client_refusals", "Puts refused, by client and reason", labels + [("reason", status.name)],
                        client.refusals[status])
                }
            }
            for old in previous where !current.contains(where: { $0 === old }) { registry.unregisterGauge(old) }
            previous = current
            return registry.emitToBuffer()
        }
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
    }

    /// The help text of one cleancache counter (by its kernel name) of `whose` ephemeral pools.
    private static func cleancacheHelp(_ name: String, of whose: String) -> String {
        let what = switch name {
        case "succ_gets": "Gets that returned a page"
        case "failed_gets": "Gets that returned no page"
        case "puts": "Puts stored"
        case "invalidates": "Page, object and pool flushes"
        default: "Pages dropped to make room"
        }
        return "\(what), in the ephemeral pools of \(whose)"
    }

    /// A whole metric name (already in base units) as swift-prometheus describes one.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
