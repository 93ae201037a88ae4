import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Serves the guest image folder over HTTP on 127.0.0.1 (a port the system picks), so `lunar up`
/// registers its template the way any user does: `registerTemplate url=http://...`, downloaded by
/// the server into secondary storage. A service of `lunar up`'s group.
enum UpImageServer {
    static func make(folder: String, logger: Logger, listening: AsyncStream<Int>.Continuation) -> some Service {
        let router = Router()
        router.add(middleware: FileMiddleware(folder, searchForIndexHtml: false, logger: logger))
        return Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: "lunar-images"),
            onServerRunning: { channel in
                listening.yield(channel.localAddress?.port ?? 0)
                listening.finish()
            }, logger: logger
        )
    }
}
