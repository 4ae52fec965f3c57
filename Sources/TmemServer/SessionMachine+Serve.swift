import NIOCore
import Tmem
import TmemHost
import TmemWire

/// The authenticated session's requests: pools, pages, batches, barriers, stats, configuration.
extension SessionMachine {
    func serve(_ frame: Frame, _ session: Session, into out: inout ByteBuffer) throws(WireProtocolError) {
        let header = frame.header
        let quiet = header.flags.contains(.quiet)
        switch header.op {
        case .createPool:
            var uuid: PoolUUID?
            if header.flags.contains(.shared) {
                // The uuid's 16 bytes as PoolUUID writes them (low half first), as RemoteBackend sends them.
                guard let named = PoolUUID(bytes: frame.payload.readableBytesView) else {
                    return reply(header, .badRequest, into: &out)
                }
                uuid = named
            } else if frame.payload.readableBytes != 0 {
                return reply(header, .badRequest, into: &out)
            }
            let (status, pool) = host.createPool(session, ephemeral: header.flags.contains(.ephemeral) || uuid != nil, sharedUUID: uuid)
            var answer = header.reply(WireStatus(status))
            answer.pool = pool
            out.writeFrame(answer)
        case .destroyPool:
            // Destroying an unknown pool does nothing, and is answered ok (docs/PROTOCOL.md).
            let status = host.destroyPool(session, pool: header.pool)
            reply(header, status == .noSuchPool ? .ok : WireStatus(status), quiet: quiet, into: &out)
        case .put:
            let status = put(session, pool: header.pool, object: header.object, index: header.index, frame.payload,
                             checksum: header.checksum, compressed: header.flags.contains(.compressed))
            reply(header, status, quiet: quiet, into: &out)
        case .get:
            writeGet(session, header, into: &out)
        case .flushPage:
            let (status, held) = host.flushPage(session, pool: header.pool, object: header.object, index: header.index)
            guard !(quiet && status == .ok) else { return }
            var answer = header.reply(WireStatus(status))
            answer.index = held ? 1 : 0
            out.writeFrame(answer)
        case .flushObject:
            let (status, dropped) = host.flushObject(session, pool: header.pool, object: header.object)
            guard !(quiet && status == .ok) else { return }
            var answer = header.reply(WireStatus(status))
            answer.index = UInt32(clamping: dropped)
            out.writeFrame(answer)
        case .flushPool:
            let (status, dropped) = host.flushPool(session, pool: header.pool)
            guard !(quiet && status == .ok) else { return }
            var answer = header.reply(WireStatus(status))
            answer.index = UInt32(clamping: dropped)
            out.writeFrame(answer)
        case .batch:
            serveBatch(frame, session, into: &out)
        case .usage:
            guard let usage = host.usage(session, pool: header.pool) else { return reply(header, .noSuchPool, into: &out) }
            var payload = ByteBuffer()
            for value in [usage.pages, usage.originalBytes, usage.storedBytes, host.evictedPages(session)] {
                payload.writeInteger(UInt64(max(0, value)), endianness: .little)
            }
            out.writeFrame(header.reply(.ok), payload: payload)
        case .barrier, .ping:
            out.writeFrame(header.reply(.ok))
        case .stats:
            writeStats(header, into: &out)
        case .configure:
            guard session.isAdmin else { return reply(header, .notAllowed, into: &out) }
            reply(header, configure(String(buffer: frame.payload)) ? .ok : .badRequest, into: &out)
        case .hello, .auth, .challenge, .welcome, .shrink, .goAway:
            throw WireProtocolError("\(header.op) in an open session")
        }
    }

    private func reply(_ header: FrameHeader, _ status: WireStatus, quiet: Bool = false, into out: inout ByteBuffer) {
        guard !(quiet && status == .ok) else { return }
        out.writeFrame(header.reply(status))
    }

    /// A put's checks that belong to the wire (checksum, length), then the host's decision. A put that
    /// fails a check still flushes the key, as every refused put does.
    private func put(
        _ session: Session, pool: UInt32, object: UInt64, index: UInt32, _ payload: ByteBuffer, checksum: UInt32,
        compressed: Bool
    ) -> WireStatus {
        let length = payload.readableBytes
        var failed: WireStatus?
        if !payload.matches(checksum: checksum) {
            failed = .checksumMismatch
        } else if compressed ? !(1..<Wire.pageSize).contains(length) : length != Wire.pageSize {
            failed = .badRequest
        }
        if let failed {
            _ = host.flushPage(session, pool: pool, object: object, index: index)
            return failed
        }
        return payload.withUnsafeReadableBytes { bytes in
            WireStatus(host.put(session, pool: pool, object: object, index: index, payload: bytes, compressed: compressed))
        }
    }

    /// The host's answer to a get, as a status and the payload left in `scratch`.
    private func get(_ session: Session, pool: UInt32, object: UInt64, index: UInt32, acceptCompressed: Bool)
        -> (status: WireStatus, length: Int, compressed: Bool)
    {
        switch host.get(session, pool: pool, object: object, index: index, into: scratch, acceptCompressed: acceptCompressed) {
        case .page: (.ok, Wire.pageSize, false)
        case .compressed(let length): (.ok, length, true)
        case .miss: (.miss, 0, false)
        case .failed(let status): (WireStatus(status), 0, false)
        }
    }

    private func writeGet(_ session: Session, _ header: FrameHeader, into out: inout ByteBuffer) {
        let (status, length, compressed) = get(
            session, pool: header.pool, object: header.object, index: header.index, acceptCompressed: header.flags.contains(.compressed))
        out.writeFrame(header.reply(status, flags: compressed ? .compressed : []), payload: UnsafeRawBufferPointer(rebasing: scratch[0..<length]))
    }

    private func serveBatch(_ frame: Frame, _ session: Session, into out: inout ByteBuffer) {
        let header = frame.header
        let start = out.writerIndex
        var answer = header.reply(.ok)
        answer.count = header.count
        out.writeFrameHeader(answer)
        var silent = header.flags.contains(.quiet)
        for entry in frame.entries {
            switch entry.op {
            case .put:
                let status = put(session, pool: header.pool, object: entry.object, index: entry.index, entry.payload,
                                 checksum: entry.checksum, compressed: entry.flags.contains(.compressed))
                if status != .ok { silent = false }
                out.writeBatchEntry(op: .put, status: status, object: entry.object, index: entry.index)
            case .get:
                silent = false
                let (status, length, compressed) = get(
                    session, pool: header.pool, object: entry.object, index: entry.index, acceptCompressed: entry.flags.contains(.compressed))
                out.writeBatchEntry(
                    op: .get, flags: compressed ? .compressed : [], status: status, object: entry.object, index: entry.index,
                    payload: UnsafeRawBufferPointer(rebasing: scratch[0..<length]))
            default:
                let (status, held) = host.flushPage(session, pool: header.pool, object: entry.object, index: entry.index)
                let answer = status == .ok ? (held ? WireStatus.ok : .miss) : WireStatus(status)
                // A miss is an outcome QUIET never hides (docs/PROTOCOL.md, "Flags").
                if answer != .ok { silent = false }
                out.writeBatchEntry(op: .flushPage, status: answer, object: entry.object, index: entry.index)
            }
        }
        if silent { out.moveWriterIndex(to: start) }
    }

    /// The STATS JSON, cut into frames of at most a page (MORE on all but the last).
    private func writeStats(_ header: FrameHeader, into out: inout ByteBuffer) {
        let json = Array(host.statisticsJSON().utf8)
        var offset = 0
        repeat {
            let end = min(json.count, offset + Wire.pageSize)
            json[offset..<end].withUnsafeBytes { chunk in
                out.writeFrame(header.reply(.ok, flags: end < json.count ? .more : []), payload: chunk)
            }
            offset = end
        } while offset < json.count
    }

    /// CONFIGURE's text: `capacity=SIZE`, or `NAME:weight=W,cap=SIZE`.
    private func configure(_ text: String) -> Bool {
        if text.hasPrefix("capacity=") {
            guard let setting = try? CapacitySetting.parse(String(text.dropFirst("capacity=".count))) else { return false }
            return (try? host.setCapacity(setting)) != nil
        }
        guard let (name, policy) = try? ClientPolicy.parse(text) else { return false }
        host.configure(client: name, policy: policy)
        return true
    }
}
