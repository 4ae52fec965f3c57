import NIOCore
import Tmem
import TmemWire

/// Random frames that obey every rule for one kind of reader: the round trips' inputs and the fuzz
/// test's corpus.
struct RandomFrames {
    let reader: Reader
    /// The most payload of one frame or entry (at most the reader's limit); smaller keeps the fuzz fast.
    var maxPayload: Int
    /// The most entries of a BATCH.
    var maxEntries = Wire.maxBatchEntries

    init(_ reader: Reader, maxPayload: Int? = nil) {
        self.reader = reader
        self.maxPayload = min(maxPayload ?? reader.maxPayload, reader.maxPayload)
    }

    /// The ops this reader accepts.
    var ops: [WireOp] {
        switch reader {
        case .hostBeforeAuth: [.hello, .auth]
        case .hostAfterAuth: authenticatedRequestOps
        case .client: WireOp.allCases.filter { !$0.isHandshake }
        }
    }

    func frame(using rng: inout some RandomNumberGenerator) -> Frame {
        let op = ops.randomElement(using: &rng)!
        let header = FrameHeader(
            op: op, flags: flags(for: op, using: &rng), status: status(using: &rng),
            requestID: UInt32.random(in: .min ... .max, using: &rng),
            pool: UInt32.random(in: .min ... .max, using: &rng),
            object: rng.next(), index: UInt32.random(in: .min ... .max, using: &rng))
        guard op == .batch else { return Frame.single(header, payload: payload(using: &rng)) }
        let entries = (0..<Int.random(in: 1...maxEntries, using: &rng)).map { _ in
            let entryOp = [WireOp.put, .get, .flushPage].randomElement(using: &rng)!
            return BatchEntry(
                op: entryOp,
                flags: randomSubset(of: entryOp.allowedRequestFlags.intersection(.compressed), using: &rng),
                status: status(using: &rng), index: UInt32.random(in: .min ... .max, using: &rng), object: rng.next(),
                payload: ByteBuffer(bytes: payload(using: &rng)))
        }
        return Frame.batch(header, entries)
    }

    private func flags(for op: WireOp, using rng: inout some RandomNumberGenerator) -> WireFlags {
        // A client accepts any flag a host may set; the host only those its request may carry.
        let allowed = reader == .client ? WireFlags(rawValue: 0b1001_1111) : op.allowedRequestFlags
        return randomSubset(of: allowed, using: &rng)
    }

    private func status(using rng: inout some RandomNumberGenerator) -> WireStatus {
        reader == .client ? WireStatus(rawValue: UInt8.random(in: 0...0x40, using: &rng)) : .ok
    }

    /// Empty, whole, or any length up to ``maxPayload``, a third of the time each.
    private func payload(using rng: inout some RandomNumberGenerator) -> [UInt8] {
        let count =
            switch rng.next() % 3 {
            case 0: 0
            case 1: maxPayload
            default: Int.random(in: 0...maxPayload, using: &rng)
            }
        return randomBytes(count, using: &rng)
    }
}
