import Foundation

/// A listening TCP socket on 127.0.0.1 with a port the system picks, for tests that play a
/// server by hand (a SAN that resets, an image server).
enum LoopbackListener {
    static func open(backlog: Int32 = 8) throws -> (socket: Int32, port: Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 } }
        guard bound, listen(listener, backlog) == 0 else {
            close(listener)
            throw POSIXError(.EADDRINUSE)
        }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }
}
