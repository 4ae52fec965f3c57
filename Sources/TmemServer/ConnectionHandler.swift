import Logging
import NIOCore
import Synchronization
import Tmem
import TmemHost
import TmemWire

/// The host's per-connection SwiftNIO handler: it only frames. Bytes are cut into frames by
/// ``FrameParser`` (every limit checked from the header, so a hostile peer costs at most one frame of
/// buffer), each frame goes to the connection's pure ``SessionMachine``, and replies are written in
/// order, flushed once per read.
///
/// Back-pressure: when the peer does not read its replies (the channel stops being writable, past
/// NIO's write-buffer high watermark), the handler stops parsing and turns off reading until the
/// channel drains, so a slow client makes the host buffer a bounded amount, never more.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Replies are written out once this many bytes are pending, within a read's frames.
    static let flushBytes = 256 * 1024

    private var parser = FrameParser(direction: .toHost)
    private var machine: SessionMachine
    private var input = ByteBuffer()
    private var out = ByteBuffer()
    private var paused = false
    private var closing = false
    private let server: ServerContext

    init(server: ServerContext, transport: Transport) {
        self.server = server
        machine = SessionMachine(host: server.host, access: server.access, transport: transport)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        out = context.channel.allocator.buffer(capacity: Self.flushBytes)
        server.metrics.connections.increment()
    }

    func channelActive(context: ChannelHandlerContext) {
        if case .unix = machine.transport {
            // The peer's credentials, from the kernel (SO_PEERCRED); AUTH comes after they are known.
            machine.transport = .unix(peerUID: peerUID(of: context.channel))
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input.readableBytes == 0 {
            input = bytes
        } else {
            input.writeBuffer(&bytes)
        }
        process(context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush(context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, paused {
            paused = false
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            process(context)
            flush(context)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.metrics.connections.decrement()
        if let session = machine.session { server.sessions.remove(session, context.channel) }
        machine.release()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        server.logger.info("connection \(peer(context)) failed: \(error)")
        context.close(promise: nil)
    }

    /// Serves every whole frame received, until the peer stops reading replies.
    private func process(_ context: ChannelHandlerContext) {
        while !closing {
            guard context.channel.isWritable else {
                paused = true
                try? context.channel.syncOptions?.setOption(.autoRead, value: false)
                return
            }
            let frame: Frame
            do throws(WireProtocolError) {
                guard let next = try parser.parse(&input) else { break }
                frame = next
            } catch {
                return protocolError(context, error.reason)
            }
            let started = monotonicNanoseconds()
            let event: SessionMachine.Event?
            do throws(WireProtocolError) {
                event = try machine.handle(frame, into: &out)
            } catch {
                return protocolError(context, error.reason)
            }
            server.metrics.record(frame.header.op, nanoseconds: monotonicNanoseconds() - started)
            switch event {
            case .opened(let session):
                parser.authenticated = true
                server.sessions.add(session, context.channel)
                server.logger.debug("session \(session.id) of '\(session.name)' on \(peer(context))")
            case .close(let reason):
                server.logger.notice("closing \(peer(context)): \(reason)")
                closing = true
                flush(context)
                context.close(promise: nil)
                return
            case nil: break
            }
            if out.readableBytes >= Self.flushBytes { flush(context) }
        }
        if input.readerIndex > 64 * 1024 { input.discardReadBytes() }
    }

    private func flush(_ context: ChannelHandlerContext) {
        guard out.readableBytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        out.clear()
    }

    private func protocolError(_ context: ChannelHandlerContext, _ reason: String) {
        server.metrics.protocolErrors.increment()
        server.logger.notice("closing \(peer(context)): protocol error: \(reason)")
        closing = true
        flush(context)
        context.close(promise: nil)
    }

    private func peer(_ context: ChannelHandlerContext) -> String {
        if let session = machine.session { return "session \(session.id) ('\(session.name)')" }
        return context.channel.remoteAddress.map { "\($0)" } ?? "a Unix-socket peer"
    }
}
