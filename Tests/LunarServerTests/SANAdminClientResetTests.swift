import Foundation
import LunarClient
import Testing

/// A connection the SAN resets after the request was sent (a pooled connection the SAN closed as
/// it stopped): a read is asked again and then tells "unreachable"; a change stays "unknown".
struct SANAdminClientResetTests {
    /// Listens on 127.0.0.1, resets the first connection once it has read a request, then stops
    /// listening, so any later connect is refused. Returns the port.
    static func resettingListener() throws -> Int {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 } }
        guard bound, listen(listener, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
        let port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 4_096)
            _ = recv(connection, &buffer, buffer.count, 0)
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(connection, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            close(listener)
            close(connection)
        }
        return port
    }

    @Test func aReadOnAResetConnectionIsAskedAgainAndFindsTheSANUnreachable() async throws {
        let client = SANAdminClient(baseURL: "http://127.0.0.1:\(try Self.resettingListener())", token: "t")
        await #expect {
            _ = try await client.volume("v1")
        } throws: { error in
            guard case LunarClientError.unreachable = error else { return false }
            return true
        }
    }

    @Test func aChangeOnAResetConnectionIsReportedAsUnknownNotRetried() async throws {
        let client = SANAdminClient(baseURL: "http://127.0.0.1:\(try Self.resettingListener())", token: "t")
        await #expect {
            _ = try await client.createVolume(name: "v1", size: "1G")
        } throws: { error in
            guard case LunarClientError.transport = error else { return false }
            return true
        }
    }
}
