import NIOCore
import Testing
import TmemWire

/// HELLO, CHALLENGE and WELCOME payloads, and the HMAC proof of AUTH (docs/PROTOCOL.md, "Ops" and
/// "Sessions and authentication").
@Suite struct HandshakeTests {
    static let token = SessionToken(0x0102_0304_0506_0708, 0x1112_1314_1516_1718)
    static let join = SessionJoin(id: 0x2122_2324_2526_2728, token: token)

    /// A HELLO as the host's parser hands it over.
    static func received(_ header: FrameHeader, payload: [UInt8]) throws -> Frame {
        var bytes = Frame.single(header, payload: payload).encoded
        return try #require(try FrameParser(direction: .toHost).parse(&bytes))
    }

    @Test(arguments: ["a", "vm-01.example_A", "0123456789", String(repeating: "x", count: 64)])
    func validNamesAreAccepted(_ name: String) throws {
        #expect(Hello.isValidName(name))
        for join in [nil, Self.join] {
            let hello = Hello(name: name, join: join)
            let (header, payload) = hello.frame(requestID: 7)
            #expect(header.flags == (join == nil ? [] : .join))
            #expect(payload.readableBytes == 1 + name.utf8.count + (join == nil ? 0 : 24))
            #expect(try Hello.decode(Self.received(header, payload: Array(payload.readableBytesView))) == hello)
        }
    }

    @Test(arguments: [
        "", String(repeating: "x", count: 65), "a b", "a/b", "a:b", "caf\u{E9}", "tab\t", "nul\u{0}", "\u{1F600}",
    ])
    func invalidNamesAreRefused(_ name: String) throws {
        #expect(!Hello.isValidName(name))
        let payload = [UInt8(name.utf8.count)] + Array(name.utf8)
        #expect(throws: WireProtocolError.self) {
            try Hello.decode(Self.received(FrameHeader(op: .hello), payload: payload))
        }
    }

    @Test func malformedHelloPayloadsAreRefused() throws {
        let name = Array("vm".utf8)
        let token = Array(Self.join.helloBytes)
        let cases: [(String, WireFlags, [UInt8])] = [
            ("empty", [], []),
            ("zero-length name", [], [0]),
            ("name longer than the payload", [], [5] + name),
            ("trailing bytes", [], [2] + name + [0]),
            ("a name that is not UTF-8", [], [2, 0xC3, 0x28]),
            ("a session without JOIN", [], [2] + name + token),
            ("JOIN without a session", .join, [2] + name),
            ("JOIN with a short session", .join, [2] + name + token.dropLast()),
            ("JOIN with a long session", .join, [2] + name + token + [0]),
        ]
        for (what, flags, payload) in cases {
            #expect(throws: WireProtocolError.self, "\(what)") {
                try Hello.decode(Self.received(FrameHeader(op: .hello, flags: flags), payload: payload))
            }
        }
        let join = try Hello.decode(Self.received(FrameHeader(op: .hello, flags: .join), payload: [2] + name + token))
        #expect(join == Hello(name: "vm", join: Self.join))
    }

    @Test func challengeRoundTripsAndRefusesAWrongLength() throws {
        let challenge = Challenge(nonce: page(3, count: 32), pageSize: 4096, secretRequired: true)
        let bytes = challenge.encode()
        #expect(bytes.readableBytes == 37)
        #expect(bytes.getInteger(at: 32, endianness: .little, as: UInt32.self) == 4096)
        #expect(bytes.getInteger(at: 36, as: UInt8.self) == 1)
        #expect(try Challenge.decode(bytes) == challenge)
        let unix = Challenge(nonce: page(4, count: 32), pageSize: 8192, secretRequired: false)
        #expect(try Challenge.decode(unix.encode()) == unix)
        for length in [0, 32, 36, 38] {
            var payload = ByteBuffer(bytes: page(1, count: min(length, 37)))
            if length > 37 { payload.writeRepeatingByte(0, count: length - 37) }
            #expect(throws: WireProtocolError.self, "\(length) bytes") { try Challenge.decode(payload) }
        }
        let fresh = Challenge.random(pageSize: 4096, secretRequired: true)
        #expect(fresh.nonce.count == 32)
        #expect(fresh.nonce != Challenge.random(pageSize: 4096, secretRequired: true).nonce)
    }

    @Test func welcomeRoundTripsAndRefusesAWrongLength() throws {
        let welcome = Welcome(
            sessionID: 0xDEAD_BEEF_0000_0001, token: Self.token, pageSize: 4096, maxInFlight: 256, maxBatchEntries: 64)
        let bytes = welcome.encode()
        #expect(bytes.readableBytes == 8 + 16 + 4 + 4 + 2)
        #expect(try Welcome.decode(bytes) == welcome)
        for length in [0, 8, 24, 33, 35] {
            var payload = ByteBuffer(bytes: Array(bytes.readableBytesView.prefix(length)))
            if length > 34 { payload.writeInteger(UInt8(0)) }
            #expect(throws: WireProtocolError.self, "\(length) bytes") { try Welcome.decode(payload) }
        }
    }

    @Test func sessionTokensCompareByValue() {
        #expect(Self.token == SessionToken(0x0102_0304_0506_0708, 0x1112_1314_1516_1718))
        #expect(Self.token != SessionToken(0x0102_0304_0506_0708, 0x1112_1314_1516_1719))
        #expect(!Self.token.matches(SessionToken(0, 0x1112_1314_1516_1718)))
        #expect(SessionToken.random() != SessionToken.random())
    }

    /// The proof is HMAC-SHA256(secret, "tmem-auth-1" ‖ nonce ‖ name ‖ join), as the document says:
    /// values computed with Python's `hmac` from the document's text alone.
    @Test func proofIsTheDocumentedHMAC() {
        let secret = (0..<32).map { UInt8($0) }
        let nonce = [UInt8](repeating: 0xA5, count: 32)
        #expect(
            hex(Authentication.proof(secret: secret, nonce: nonce, name: "client-1", join: nil))
                == "7f22b19d53465e0f447c45836bb15c58649243c51c8d1828b96f6cf0e7b14754")
        #expect(
            hex(Authentication.proof(secret: secret, nonce: nonce, name: "client-1", join: Self.join))
                == "d4c5cfc47b2843df862736862057baaf884ce466d4fc850b48aab94fd349101b")
    }

    @Test(arguments: [nil, HandshakeTests.join] as [SessionJoin?])
    func proofVerifiesOnlyWithTheSameSecretNonceNameAndToken(_ join: SessionJoin?) {
        let secret = page(1, count: 32)
        let nonce = page(2, count: 32)
        let proof = Authentication.proof(secret: secret, nonce: nonce, name: "vm-01", join: join)
        #expect(proof.count == 32)
        #expect(Authentication.verify(proof: proof, secret: secret, nonce: nonce, name: "vm-01", join: join))

        var otherSecret = secret
        otherSecret[31] ^= 1
        #expect(!Authentication.verify(proof: proof, secret: otherSecret, nonce: nonce, name: "vm-01", join: join))
        #expect(
            !Authentication.verify(
                proof: proof, secret: Array(secret.prefix(31)), nonce: nonce, name: "vm-01", join: join))
        var otherNonce = nonce
        otherNonce[0] ^= 0x80
        #expect(!Authentication.verify(proof: proof, secret: secret, nonce: otherNonce, name: "vm-01", join: join))
        #expect(!Authentication.verify(proof: proof, secret: secret, nonce: nonce, name: "vm-02", join: join))
        #expect(!Authentication.verify(proof: proof, secret: secret, nonce: nonce, name: "vm-0", join: join))
        let otherToken: SessionJoin? = join == nil ? Self.join : SessionJoin(id: join!.id, token: SessionToken(join!.token.bytes.0, join!.token.bytes.1 ^ 1))
        #expect(!Authentication.verify(proof: proof, secret: secret, nonce: nonce, name: "vm-01", join: otherToken))
        if join != nil {
            #expect(!Authentication.verify(proof: proof, secret: secret, nonce: nonce, name: "vm-01", join: nil))
        }
        var damaged = proof
        damaged[17] ^= 4
        #expect(!Authentication.verify(proof: damaged, secret: secret, nonce: nonce, name: "vm-01", join: join))
        #expect(
            !Authentication.verify(
                proof: Array(proof.prefix(31)), secret: secret, nonce: nonce, name: "vm-01", join: join))
        #expect(!Authentication.verify(proof: [], secret: secret, nonce: nonce, name: "vm-01", join: join))
    }

    func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

extension SessionJoin {
    /// The session's 24 bytes as HELLO carries them.
    var helloBytes: [UInt8] {
        let (header, payload) = Hello(name: "x", join: self).frame()
        precondition(header.flags == .join)
        return Array(payload.readableBytesView.suffix(24))
    }
}
