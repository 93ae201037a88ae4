import Foundation
import ISCSI
import Logging
import NIOCore
import Testing

/// The Swift initiator against the Swift target on 127.0.0.1, across the negotiation choices
/// that change how write data travels (immediate, unsolicited, R2T-solicited).
struct InitiatorTests {
    static let target = "iqn.2026-11.org.lunar:initiator-test"
    static let initiator = "iqn.2026-11.org.example:initiator"
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func withTarget<T>(limits: ISCSITargetLimits = ISCSITargetLimits(), _ body: (Int) async throws -> T) async throws -> T {
        let file = NSTemporaryDirectory() + "lunar-initiator-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let device = try FileBlockDevice(path: file, sizeBytes: 64 << 20)
        let catalog = ISCSIStaticCatalog([
            Self.target: .init(unit: SCSILogicalUnit(device: device, serial: "initiator-test", naa: 0x42), allowedInitiators: [Self.initiator])
        ])
        let server = try await ISCSITargetServer.start(host: "127.0.0.1", port: 0, catalog: catalog, limits: limits, logger: quiet)
        do {
            let result = try await body(server.port)
            try await server.shutdown()
            return result
        } catch {
            try await server.shutdown()
            throw error
        }
    }

    static func pattern(_ bytes: Int, seed: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        var state = seed
        for _ in 0..<(bytes / 8) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            buffer.writeInteger(state)
        }
        return buffer
    }

    /// Every way data can travel, at sizes around the burst limits.
    @Test(arguments: [(false, true), (true, true), (false, false), (true, false)])
    func writesRoundTripUnderEveryNegotiation(initialR2T: Bool, immediateData: Bool) async throws {
        try await Self.withTarget { port in
            var configuration = ISCSIInitiatorSession.Configuration(initiatorName: Self.initiator, targetName: Self.target)
            configuration.initialR2T = initialR2T
            configuration.immediateData = immediateData
            configuration.firstBurstLength = 65_536
            configuration.maxBurstLength = 262_144
            let session = try await ISCSIInitiatorSession.login(host: "127.0.0.1", port: port, configuration: configuration, logger: Self.quiet)
            #expect(session.negotiated.initialR2T == initialR2T)
            #expect(session.negotiated.immediateData == immediateData)
            try await session.clearUnitAttentions()
            var lba: UInt64 = 0
            for size in [512, 4096, 65_536, 65_536 + 512, 262_144, 1 << 20, 3 << 20] {
                let data = Self.pattern(size, seed: UInt64(size))
                try await session.write(lba: lba, data: data)
                #expect(try await session.read(lba: lba, blocks: UInt32(size / 512)) == data, "\(size) bytes")
                lba += UInt64(size / 512) + 8
            }
            await session.logout()
        }
    }

    @Test func manyCommandsInFlightStayWithinTheWindow() async throws {
        var limits = ISCSITargetLimits()
        limits.commandWindow = 8  // far fewer than the initiator issues at once
        try await Self.withTarget(limits: limits) { port in
            let session = try await ISCSIInitiatorSession.login(
                host: "127.0.0.1", port: port, configuration: .init(initiatorName: Self.initiator, targetName: Self.target), logger: Self.quiet
            )
            try await session.clearUnitAttentions()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let data = ByteBuffer(repeating: UInt8(index & 0xFF), count: 4096)
                        try await session.write(lba: UInt64(index * 8), data: data)
                        let back = try await session.read(lba: UInt64(index * 8), blocks: 8)
                        #expect(back == data)
                    }
                }
                try await group.waitForAll()
            }
            await session.logout()
        }
    }

    @Test func discoveryAndRefusals() async throws {
        try await Self.withTarget { port in
            let discovery = try await ISCSIInitiatorSession.login(
                host: "127.0.0.1", port: port, configuration: .init(initiatorName: Self.initiator, targetName: nil), logger: Self.quiet
            )
            let targets = try await discovery.sendTargets()
            #expect(targets.map(\.name) == [Self.target])
            #expect(targets.first?.addresses == ["127.0.0.1:\(port),1"])
            await discovery.logout()

            await #expect(throws: ISCSIInitiatorError.self) {
                _ = try await ISCSIInitiatorSession.login(
                    host: "127.0.0.1", port: port, configuration: .init(initiatorName: "iqn.2026-11.org.example:stranger", targetName: Self.target),
                    logger: Self.quiet
                )
            }
            await #expect(throws: ISCSIInitiatorError.self) {
                _ = try await ISCSIInitiatorSession.login(
                    host: "127.0.0.1", port: port, configuration: .init(initiatorName: Self.initiator, targetName: "iqn.2026-11.org.lunar:nosuch"),
                    logger: Self.quiet
                )
            }
        }
    }

    @Test func commandsFailWhenTheConnectionDrops() async throws {
        let port = try await Self.withTarget { port in
            let session = try await ISCSIInitiatorSession.login(
                host: "127.0.0.1", port: port, configuration: .init(initiatorName: Self.initiator, targetName: Self.target), logger: Self.quiet
            )
            try await session.clearUnitAttentions()
            try await session.channel.close()
            await #expect(throws: ISCSIInitiatorError.connectionClosed) { _ = try await session.read(lba: 0, blocks: 1) }
            return port
        }
        // Nothing listens any more: a bounded, clear failure.
        await #expect(throws: (any Error).self) {
            _ = try await ISCSIInitiatorSession.login(
                host: "127.0.0.1", port: port, configuration: .init(initiatorName: Self.initiator, targetName: Self.target), logger: Self.quiet
            )
        }
    }

    @Test func outOfRangeAndUnknownCommandsGetSenseNotADroppedConnection() async throws {
        try await Self.withTarget { port in
            let session = try await ISCSIInitiatorSession.login(
                host: "127.0.0.1", port: port, configuration: .init(initiatorName: Self.initiator, targetName: Self.target), logger: Self.quiet
            )
            try await session.clearUnitAttentions()
            let beyond = try await session.execute(ISCSIInitiatorSession.read16(lba: 1 << 40, blocks: 1, blockSize: 512))
            #expect(beyond.status == 0x02 && beyond.sense?.key == 0x05 && beyond.sense?.code == 0x21)
            let unknown = try await session.execute(ISCSIInitiatorRequest(cdb: [0xFF, 0, 0, 0, 0, 0]))
            #expect(unknown.status == 0x02 && unknown.sense?.key == 0x05 && unknown.sense?.code == 0x20)
            #expect(try await session.testUnitReady().status == 0, "the session still works")
            await session.logout()
        }
    }

    @Test func theReconnectingInitiatorLogsInAgainAfterADrop() async throws {
        let file = NSTemporaryDirectory() + "lunar-reconnect-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let device = try FileBlockDevice(path: file, sizeBytes: 16 << 20)
        let catalog = ISCSIStaticCatalog([Self.target: .init(unit: SCSILogicalUnit(device: device, serial: "reconnect", naa: 0x43))])
        let server = try await ISCSITargetServer.start(host: "127.0.0.1", port: 0, catalog: catalog, logger: Self.quiet)
        let initiator = ISCSIReconnectingInitiator(
            host: "127.0.0.1", port: server.port, configuration: .init(initiatorName: Self.initiator, targetName: Self.target), maximumAttempts: 3,
            backoff: .milliseconds(20), logger: Self.quiet
        )
        let data = ByteBuffer(repeating: 0x77, count: 4096)
        #expect(try await initiator.execute(ISCSIInitiatorSession.write16(lba: 8, data: data, blockSize: 512)).status == 0)
        // The target drops the session (as a revoke does); the next command logs in again.
        #expect(server.sessions.close(target: Self.target) == 1)
        try await Task.sleep(for: .milliseconds(50))
        let back = try await initiator.execute(ISCSIInitiatorSession.read16(lba: 8, blocks: 8, blockSize: 512))
        #expect(back.status == 0 && back.data == data)
        #expect(await initiator.reconnections == 1)
        await initiator.logout()
        // With the target gone, a command fails after its bounded attempts instead of hanging.
        try await server.shutdown()
        await #expect(throws: (any Error).self) {
            _ = try await initiator.execute(ISCSIInitiatorSession.read16(lba: 8, blocks: 8, blockSize: 512))
        }
    }

    @Test func connectionsBeyondTheLimitAreClosed() async throws {
        var limits = ISCSITargetLimits()
        limits.maximumConnections = 2
        try await Self.withTarget(limits: limits) { port in
            let configuration = ISCSIInitiatorSession.Configuration(initiatorName: Self.initiator, targetName: Self.target)
            let first = try await ISCSIInitiatorSession.login(host: "127.0.0.1", port: port, configuration: configuration, logger: Self.quiet)
            let second = try await ISCSIInitiatorSession.login(host: "127.0.0.1", port: port, configuration: configuration, logger: Self.quiet)
            await #expect(throws: (any Error).self) {
                _ = try await ISCSIInitiatorSession.login(host: "127.0.0.1", port: port, configuration: configuration, logger: Self.quiet)
            }
            await first.logout()
            // A closed connection gives its place back.
            var third: ISCSIInitiatorSession?
            for _ in 0..<50 where third == nil {
                third = try? await ISCSIInitiatorSession.login(host: "127.0.0.1", port: port, configuration: configuration, logger: Self.quiet)
                if third == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(third != nil)
            await third?.logout()
            await second.logout()
        }
    }
}
