import Foundation
import LunarClient
import Testing

/// A connection the SAN resets after the request was sent (a pooled connection the SAN closed as
/// it stopped): a read is asked again and then tells "unreachable"; a change stays "unknown".
struct SANAdminClientResetTests {
    /// Listens on 127.0.0.1, resets the first connection once it has read a request, then stops
    /// listening, so any later connect is refused. Returns the port.
    static func resettingListener() throws -> Int {
        let (listener, port) = try LoopbackListener.open(backlog: 4)
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
