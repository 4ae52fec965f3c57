import NIOCore
import Synchronization
import Tmem
import TmemWire

/// The client's one session with its host, over ``RemoteConfiguration/connections`` connections:
/// the handshake (HELLO, CHALLENGE, AUTH, WELCOME; further connections JOIN), reconnection, and the
/// session's *epoch*, which changes when the session ends (every connection gone), because the host
/// then freed every pool of it: what the client stored before is lost.
final class RemoteSession: Sendable {
    private struct State {
        var connections: [RemoteConnection] = []
        var welcome: Welcome?
        var epoch: UInt64 = 1
        var next = 0
        var connecting = false
        var lastAttempt: UInt64 = 0
    }

    let configuration: RemoteConfiguration
    let counters: RemoteCounters
    private let state = Mutex(State())
    /// The host's shrink notice in force: the most persistent pages to keep (-1: none).
    let shrinkTarget = Atomic<Int>(-1)
    let shrinkDeadline = Atomic<UInt64>(0)

    init(configuration: RemoteConfiguration, counters: RemoteCounters) {
        self.configuration = configuration
        self.counters = counters
    }

    /// A live connection and the session's epoch, reconnecting if none is left (at most once per
    /// ``RemoteConfiguration/reconnectIntervalNanoseconds``).
    ///
    /// - Throws: ``TmemError`` retryable when the host cannot be reached now; invalid argument when it
    ///   refused the client's credentials.
    func connection() throws(TmemError) -> (RemoteConnection, UInt64) {
        enum Next { case use(RemoteConnection, UInt64); case connect(Welcome?) ; case wait }
        let next: Next = state.withLock { s in
            s.connections.removeAll { !$0.isAlive }
            if !s.connections.isEmpty {
                s.next &+= 1
                return .use(s.connections[s.next % s.connections.count], s.epoch)
            }
            let now = monotonicNanoseconds()
            guard !s.connecting, s.lastAttempt == 0 || now - s.lastAttempt >= configuration.reconnectIntervalNanoseconds
            else { return .wait }
            s.connecting = true
            s.lastAttempt = now
            return .connect(s.welcome)
        }
        switch next {
        case .use(let connection, let epoch): return (connection, epoch)
        case .wait: throw .unavailable("the host at \(configuration.address) is unreachable (retrying)")
        case .connect:
            defer { state.withLock { $0.connecting = false } }
            return try open()
        }
    }

    /// Opens the session's connections (a new session: the old one, if any, ended with its last
    /// connection).
    private func open() throws(TmemError) -> (RemoteConnection, UInt64) {
        let first = try dial()
        let welcome: Welcome
        do throws(TmemError) {
            welcome = try handshake(first, join: nil)
        } catch {
            first.close()
            throw error
        }
        var all = [first]
        for _ in 1..<max(1, configuration.connections) {
            guard let more = try? dial() else { break }
            if (try? handshake(more, join: SessionJoin(id: welcome.sessionID, token: welcome.token))) != nil { all.append(more) } else { more.close() }
        }
        let reconnected = state.withLock { s -> Bool in
            let again = s.welcome != nil || s.epoch > 1
            s.connections = all
            s.welcome = welcome
            return again
        }
        if reconnected { counters.reconnects.add(1, ordering: .relaxed) }
        return state.withLock { s in (first, s.epoch) }
    }

    private func dial() throws(TmemError) -> RemoteConnection {
        try RemoteConnection.connect(
            to: configuration.address, timeoutNanoseconds: configuration.connectTimeoutNanoseconds,
            onNotice: { [weak self] notice in self?.received(notice) },
            onClose: { [weak self] in self?.connectionClosed() })
    }

    private func handshake(_ connection: RemoteConnection, join: SessionJoin?) throws(TmemError) -> Welcome {
        let deadline = monotonicNanoseconds() + configuration.connectTimeoutNanoseconds
        let hello = Hello(name: configuration.name, join: join)
        guard case .reply(let reply) = connection.request(deadline: deadline, { buffer, id in
            let (header, payload) = hello.frame(requestID: id)
            buffer.writeFrame(header, payload: payload)
        }), reply.header.op == .challenge, reply.header.status == .ok,
            let challenge = try? Challenge.decode(reply.payload)
        else { throw .unavailable("the host at \(configuration.address) did not answer HELLO") }
        var proof: [UInt8] = []
        if let secret = configuration.secret {
            proof = Authentication.proof(secret: secret, nonce: challenge.nonce, name: configuration.name, join: join)
        } else if challenge.secretRequired {
            throw .invalidArgument("the host at \(configuration.address) wants the shared secret (--secret-file)")
        }
        guard case .reply(let answer) = connection.request(deadline: deadline, { buffer, id in
            proof.withUnsafeBytes { buffer.writeFrame(FrameHeader(op: .auth, requestID: id), payload: $0) }
        }), answer.header.op == .welcome
        else { throw .unavailable("the host at \(configuration.address) did not answer AUTH") }
        guard answer.header.status == .ok, let welcome = try? Welcome.decode(answer.payload) else {
            throw .invalidArgument("the host at \(configuration.address) refused the client '\(configuration.name)': \(answer.header.status)")
        }
        guard welcome.pageSize == UInt32(pageSize) else {
            throw .invalidArgument("the host's pages are \(welcome.pageSize) bytes, this client's \(pageSize)")
        }
        return welcome
    }

    private func received(_ notice: HostNotice) {
        switch notice {
        case .shrink(let target, let deadline):
            counters.shrinkNotices.add(1, ordering: .relaxed)
            shrinkDeadline.store(deadline, ordering: .relaxed)
            shrinkTarget.store(target, ordering: .releasing)
        case .goAway:
            counters.goAways.add(1, ordering: .relaxed)
        }
    }

    /// A connection is gone: when it was the session's last, the session ended and its epoch moves on.
    private func connectionClosed() {
        state.withLock { s in
            s.connections.removeAll { !$0.isAlive }
            guard s.connections.isEmpty, s.welcome != nil else { return }
            s.welcome = nil
            s.epoch += 1
            counters.sessionsLost.add(1, ordering: .relaxed)
        }
        shrinkTarget.store(-1, ordering: .releasing)
    }

    /// The current epoch (a pool made in an older one is gone from the host).
    var epoch: UInt64 { state.withLock { $0.epoch } }

    /// Closes every connection (the host then frees the session's pools).
    func shutdown() {
        // The session ends here, under the lock: a caller that reconnects right after makes a new
        // session in a new epoch (the host frees this one's pools), never one that inherits this epoch.
        let connections = state.withLock { s -> [RemoteConnection] in
            defer {
                s.connections = []
                s.lastAttempt = 0  // a call after close() reconnects at once
                if s.welcome != nil {
                    s.welcome = nil
                    s.epoch += 1
                    counters.sessionsLost.add(1, ordering: .relaxed)
                }
            }
            return s.connections
        }
        shrinkTarget.store(-1, ordering: .releasing)
        for connection in connections { connection.close() }
    }
}
