import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// A Hummingbird child channel (here HTTP with the agents' WebSocket upgrade) with the connection
/// guards added: `HTTPGuardHandler` first in the pipeline and `HTTPRequestGuardHandler` straight after
/// NIO's HTTP decoder, where it sees the first request, and its parser errors, before the upgrade
/// handler does. Hummingbird's `additionalChannelHandlers` come too late for that: they are added only
/// once the first request is known not to be an upgrade.
struct GuardedHTTPChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let maximumBodyBytes: Int
    let headerTimeout: TimeAmount?
    let gate: ConnectionGate

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let maximumBodyBytes = self.maximumBodyBytes
        do {
            try channel.pipeline.syncOperations.addHandler(HTTPGuardHandler(gate: gate, headerTimeout: headerTimeout), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(HTTPRequestGuardHandler(maximumBodyBytes: maximumBodyBytes), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
