import NIOCore
import Tmem
import TmemHost
import TmemWire

/// How a connection reached the host, which decides how it authenticates (docs/PROTOCOL.md).
public enum Transport: Sendable, Equatable {
    /// TCP: the shared secret's proof is required.
    case tcp
    /// A Unix socket, with the peer's uid (SO_PEERCRED) if the kernel told it.
    case unix(peerUID: UInt32?)
}

/// Who may connect, and with what.
public struct AccessPolicy: Sendable {
    /// The shared secret (TCP proofs, and shared pools on either transport).
    public var secret: [UInt8]
    /// Peer uids accepted on the Unix socket.
    public var allowedUIDs: Set<UInt32>
    /// Peer uids on the Unix socket whose sessions may CONFIGURE the host.
    public var adminUIDs: Set<UInt32>

    public init(secret: [UInt8], allowedUIDs: Set<UInt32>, adminUIDs: Set<UInt32>) {
        self.secret = secret
        self.allowedUIDs = allowedUIDs
        self.adminUIDs = adminUIDs
    }
}

/// One connection's protocol logic, pure: frames in, reply bytes out, no channel.
///
/// The connection handler frames the bytes (``FrameParser``) and feeds each frame to ``handle(_:into:)``;
/// everything the protocol says about the handshake, isolation and replies is here, tested without a
/// socket. A thrown ``WireProtocolError`` means: log it and close the connection.
public struct SessionMachine {
    public enum Event: Sendable {
        /// The connection belongs to this session from now on.
        case opened(Session)
        /// Close the connection once the bytes written so far are sent (authentication failed).
        case close(String)
    }

    private enum State {
        case awaitingHello
        case awaitingAuth(Hello, Challenge)
        case open(Session)
    }

    let host: Host
    let access: AccessPolicy
    var transport: Transport
    private var state = State.awaitingHello
    /// One page of room for get replies (the machine's only buffer).
    let scratch: UnsafeMutableRawBufferPointer

    public init(host: Host, access: AccessPolicy, transport: Transport) {
        self.host = host
        self.access = access
        self.transport = transport
        scratch = .allocate(byteCount: Wire.pageSize, alignment: 16)
    }

    /// Frees the scratch page; the machine is unusable after.
    public func release() { scratch.deallocate() }

    /// The session, once authenticated.
    public var session: Session? {
        if case .open(let session) = state { return session }
        return nil
    }

    /// Handles one frame, appending its reply (if any) to `out`.
    public mutating func handle(_ frame: Frame, into out: inout ByteBuffer) throws(WireProtocolError) -> Event? {
        switch state {
        case .awaitingHello:
            guard frame.header.op == .hello else { throw WireProtocolError("\(frame.header.op) before HELLO") }
            let hello = try Hello.decode(frame)
            let challenge = Challenge.random(pageSize: Wire.pageSize, secretRequired: transport == .tcp)
            out.writeFrame(frame.header.reply(.ok).with(op: .challenge), payload: challenge.encode())
            state = .awaitingAuth(hello, challenge)
            return nil
        case .awaitingAuth(let hello, let challenge):
            guard frame.header.op == .auth else { throw WireProtocolError("\(frame.header.op) before AUTH") }
            return authenticate(frame, hello, challenge, into: &out)
        case .open(let session):
            try serve(frame, session, into: &out)
            return nil
        }
    }

    private mutating func authenticate(_ frame: Frame, _ hello: Hello, _ challenge: Challenge, into out: inout ByteBuffer) -> Event {
        func refuse(_ reason: String) -> Event {
            out.writeFrame(frame.header.reply(.authFailed).with(op: .welcome))
            return .close("client '\(hello.name)': \(reason)")
        }
        let proof = frame.payload.getBytes(at: frame.payload.readerIndex, length: frame.payload.readableBytes) ?? []
        let proved = proof.count == 32 && Authentication.verify(proof: proof, secret: access.secret, nonce: challenge.nonce, name: hello.name, join: hello.join)
        var admin = false
        switch transport {
        case .tcp:
            guard proved else { return refuse(proof.isEmpty ? "no proof of the secret on TCP" : "a wrong proof of the secret") }
        case .unix(let uid):
            guard let uid, access.allowedUIDs.contains(uid) else {
                return refuse("peer uid \(transport.peerDescription) is not allowed")
            }
            guard proof.isEmpty || proved else { return refuse("a wrong proof of the secret") }
            admin = access.adminUIDs.contains(uid)
        }
        let session: Session
        if let join = hello.join {
            guard let existing = host.session(id: join.id, token: TmemHost.SessionToken(low: join.token.bytes.1, high: join.token.bytes.0)), existing.name == hello.name
            else { return refuse("no session \(join.id) to join") }
            session = existing
        } else {
            session = host.openSession(name: hello.name, secretAuthenticated: proved, isAdmin: admin)
        }
        let welcome = Welcome(
            sessionID: session.id, token: TmemWire.SessionToken(session.token.high, session.token.low), pageSize: UInt32(Wire.pageSize),
            maxInFlight: UInt32(Wire.maxInFlight), maxBatchEntries: UInt16(Wire.maxBatchEntries))
        out.writeFrame(frame.header.reply(.ok).with(op: .welcome), payload: welcome.encode())
        state = .open(session)
        return .opened(session)
    }
}

extension Transport {
    var peerDescription: String {
        switch self {
        case .tcp: "tcp"
        case .unix(let uid): uid.map(String.init) ?? "unknown"
        }
    }
}

extension FrameHeader {
    /// The same header with another op (a handshake reply's op differs from its request's).
    func with(op: WireOp) -> FrameHeader {
        var header = self
        header.op = op
        return header
    }
}

extension WireStatus {
    /// The wire's form of a host decision (the two share their values).
    init(_ status: HostStatus) { self.init(rawValue: status.rawValue) }
}
