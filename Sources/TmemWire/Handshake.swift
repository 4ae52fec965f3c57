import Crypto
import NIOCore

/// The 16 random bytes that name a session to a connection joining it (HELLO with JOIN).
public struct SessionToken: Sendable, Hashable {
    public var bytes: (UInt64, UInt64)

    public init(_ high: UInt64, _ low: UInt64) { bytes = (high, low) }

    /// A fresh random token.
    public static func random() -> SessionToken {
        var rng = SystemRandomNumberGenerator()
        return SessionToken(rng.next(), rng.next())
    }

    /// Constant-time comparison (a token is a secret).
    public func matches(_ other: SessionToken) -> Bool { (bytes.0 ^ other.bytes.0) | (bytes.1 ^ other.bytes.1) == 0 }

    public static func == (a: SessionToken, b: SessionToken) -> Bool { a.matches(b) }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.0)
        hasher.combine(bytes.1)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(bytes.0, endianness: .little)
        buffer.writeInteger(bytes.1, endianness: .little)
    }

    static func read(from buffer: inout ByteBuffer) -> SessionToken? {
        guard let high = buffer.readInteger(endianness: .little, as: UInt64.self),
            let low = buffer.readInteger(endianness: .little, as: UInt64.self)
        else { return nil }
        return SessionToken(high, low)
    }
}

/// What a further connection names to join its client's session: the session's id and token.
public struct SessionJoin: Sendable, Hashable {
    public var id: UInt64
    public var token: SessionToken

    public init(id: UInt64, token: SessionToken) {
        self.id = id
        self.token = token
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(id, endianness: .little)
        token.write(to: &buffer)
    }

    static func read(from buffer: inout ByteBuffer) -> SessionJoin? {
        guard let id = buffer.readInteger(endianness: .little, as: UInt64.self), let token = SessionToken.read(from: &buffer)
        else { return nil }
        return SessionJoin(id: id, token: token)
    }
}

/// HELLO's payload: who the client is, and the session it joins (if any).
public struct Hello: Sendable, Equatable {
    /// The client's name: what the host's weights and caps are configured by (1–64 bytes of
    /// `A-Za-z0-9._-`).
    public var name: String
    /// The session a further connection joins, or nil for a new session.
    public var join: SessionJoin?

    public init(name: String, join: SessionJoin? = nil) {
        self.name = name
        self.join = join
    }

    /// True for a name the protocol accepts.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return (1...64).contains(bytes.count) && bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
    }

    /// The whole HELLO frame.
    public func frame(requestID: UInt32 = 0) -> (header: FrameHeader, payload: ByteBuffer) {
        var payload = ByteBuffer()
        payload.writeInteger(UInt8(name.utf8.count))
        payload.writeString(name)
        join?.write(to: &payload)
        return (FrameHeader(op: .hello, flags: join == nil ? [] : .join, requestID: requestID), payload)
    }

    /// Reads a HELLO frame's payload.
    public static func decode(_ frame: Frame) throws(WireProtocolError) -> Hello {
        var payload = frame.payload
        guard let length = payload.readInteger(as: UInt8.self), let name = payload.readString(length: Int(length)),
            isValidName(name)
        else { throw WireProtocolError("a HELLO without a valid client name") }
        var join: SessionJoin?
        if frame.header.flags.contains(.join) {
            guard let named = SessionJoin.read(from: &payload) else { throw WireProtocolError("a JOIN without a session") }
            join = named
        }
        guard payload.readableBytes == 0 else { throw WireProtocolError("trailing bytes in HELLO") }
        return Hello(name: name, join: join)
    }
}

/// CHALLENGE's payload: the nonce the client's proof covers.
public struct Challenge: Sendable, Equatable {
    public var nonce: [UInt8]
    public var pageSize: UInt32
    /// True when AUTH must carry a proof (TCP); false when the peer's credentials sufficed (Unix socket).
    public var secretRequired: Bool

    public init(nonce: [UInt8], pageSize: UInt32, secretRequired: Bool) {
        self.nonce = nonce
        self.pageSize = pageSize
        self.secretRequired = secretRequired
    }

    /// A challenge with a fresh random 32-byte nonce.
    public static func random(pageSize: Int, secretRequired: Bool) -> Challenge {
        var rng = SystemRandomNumberGenerator()
        return Challenge(nonce: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }, pageSize: UInt32(pageSize), secretRequired: secretRequired)
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(nonce)
        buffer.writeInteger(pageSize, endianness: .little)
        buffer.writeInteger(UInt8(secretRequired ? 1 : 0))
        return buffer
    }

    public static func decode(_ payload: ByteBuffer) throws(WireProtocolError) -> Challenge {
        var payload = payload
        guard let nonce = payload.readBytes(length: 32), let pageSize = payload.readInteger(endianness: .little, as: UInt32.self),
            let required = payload.readInteger(as: UInt8.self), payload.readableBytes == 0
        else { throw WireProtocolError("a malformed CHALLENGE") }
        return Challenge(nonce: nonce, pageSize: pageSize, secretRequired: required != 0)
    }
}

/// WELCOME's payload: the session, and the host's limits.
public struct Welcome: Sendable, Equatable {
    public var sessionID: UInt64
    public var token: SessionToken
    public var pageSize: UInt32
    public var maxInFlight: UInt32
    public var maxBatchEntries: UInt16

    public init(sessionID: UInt64, token: SessionToken, pageSize: UInt32, maxInFlight: UInt32, maxBatchEntries: UInt16) {
        self.sessionID = sessionID
        self.token = token
        self.pageSize = pageSize
        self.maxInFlight = maxInFlight
        self.maxBatchEntries = maxBatchEntries
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(sessionID, endianness: .little)
        token.write(to: &buffer)
        buffer.writeInteger(pageSize, endianness: .little)
        buffer.writeInteger(maxInFlight, endianness: .little)
        buffer.writeInteger(maxBatchEntries, endianness: .little)
        return buffer
    }

    public static func decode(_ payload: ByteBuffer) throws(WireProtocolError) -> Welcome {
        var payload = payload
        guard let id = payload.readInteger(endianness: .little, as: UInt64.self), let token = SessionToken.read(from: &payload),
            let pageSize = payload.readInteger(endianness: .little, as: UInt32.self),
            let inFlight = payload.readInteger(endianness: .little, as: UInt32.self),
            let batch = payload.readInteger(endianness: .little, as: UInt16.self), payload.readableBytes == 0
        else { throw WireProtocolError("a malformed WELCOME") }
        return Welcome(sessionID: id, token: token, pageSize: pageSize, maxInFlight: inFlight, maxBatchEntries: batch)
    }
}

/// The challenge-response of docs/PROTOCOL.md:
/// `HMAC-SHA256(secret, "tmem-auth-1" ‖ nonce ‖ name ‖ join)`, with `join` the 24 bytes of a JOIN.
public enum Authentication {
    /// The proof a client sends in AUTH.
    public static func proof(secret: [UInt8], nonce: [UInt8], name: String, join: SessionJoin?) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message(nonce: nonce, name: name, join: join), using: SymmetricKey(data: secret)))
    }

    /// True if `proof` is the proof for these values (compared in constant time).
    public static func verify(proof: [UInt8], secret: [UInt8], nonce: [UInt8], name: String, join: SessionJoin?) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: message(nonce: nonce, name: name, join: join), using: SymmetricKey(data: secret))
    }

    private static func message(nonce: [UInt8], name: String, join: SessionJoin?) -> [UInt8] {
        var bytes = Array("tmem-auth-1".utf8) + nonce + Array(name.utf8)
        if let join {
            var buffer = ByteBuffer()
            join.write(to: &buffer)
            bytes += buffer.readBytes(length: buffer.readableBytes)!
        }
        return bytes
    }
}
