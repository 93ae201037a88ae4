import Foundation
import ISCSI
import LunarClient
import LunarModel
import NIOCore
import Testing

/// `kill -9` of a real `lunar san` process in the middle of a write stream: every write that was
/// acknowledged and then covered by a GOOD SYNCHRONIZE CACHE must read back after the restart,
/// and the volume's metadata must be intact.
struct CrashTests {
    /// The `lunar` executable built next to this test bundle (or `LUNAR_BIN`).
    static func lunarBinary() -> String? {
        if let path = ProcessInfo.processInfo.environment["LUNAR_BIN"], FileManager.default.isExecutableFile(atPath: path) { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("lunar").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("the lunar executable is missing next to the tests: run `swift build` first (or set LUNAR_BIN)")
        }
        return nil
    }

    final class SANProcess: @unchecked Sendable {
        let process = Process()
        var endpoints = LunarEndpoints()

        init(binary: String, data: String) async throws {
            let endpointsFile = data + "/" + LunarEndpoints.fileName
            try? FileManager.default.removeItem(atPath: endpointsFile)
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["san", "--data", data, "--portal", "127.0.0.1:0", "--admin-port", "0", "--log-level", "error"]
            try process.run()
            for _ in 0..<400 {
                if let contents = FileManager.default.contents(atPath: endpointsFile),
                    let decoded = try? JSONDecoder().decode(LunarEndpoints.self, from: contents), decoded.sanAdmin != nil
                {
                    endpoints = decoded
                    return
                }
                guard process.isRunning else { throw SANTestFailure("lunar san exited with \(process.terminationStatus)") }
                try await Task.sleep(for: .milliseconds(25))
            }
            kill(process.processIdentifier, SIGKILL)
            throw SANTestFailure("lunar san did not start within 10 s")
        }

        var portalPort: Int { Int(endpoints.sanPortal?.split(separator: ":").last ?? "0") ?? 0 }

        func killNow() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    struct SANTestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func block(round: UInt32, lba: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        for word in 0..<(4096 / 16) {
            buffer.writeInteger(round)
            buffer.writeInteger(lba)
            buffer.writeInteger(UInt32(word))
        }
        return buffer
    }

    @Test(arguments: [1, 2, 3])
    func acknowledgedSyncedWritesSurviveKillNine(seed: Int) async throws {
        guard let binary = Self.lunarBinary() else { return }
        let data = VolumeStoreTests.folder()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let initiator = "iqn.2026-11.org.example:crash-writer"
        var random = SplitMix64(state: UInt64(seed))
        let blocks: UInt64 = 16_384  // 64 MiB of 4 KiB blocks

        let first = try await SANProcess(binary: binary, data: data)
        let token = try String(contentsOfFile: data + "/san-admin-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let admin = SANAdminClient(baseURL: first.endpoints.sanAdmin!, token: token)
        let volume = try await admin.createVolume(name: "crash", size: "64M")
        _ = try await admin.allow("crash", initiator: initiator)

        // lba → the round synced last, and rounds written after it (any of them may be on disk).
        var synced: [UInt64: UInt32] = [:]
        var unsynced: [UInt64: Set<UInt32>] = [:]
        let session = try await ISCSIInitiatorSession.login(
            host: "127.0.0.1", port: first.portalPort, configuration: .init(initiatorName: initiator, targetName: volume.iqn)
        )
        try await session.clearUnitAttentions()
        let killAfterRounds = Int(random.next() % 40) + 10
        var round: UInt32 = 0
        var killed = false
        while !killed {
            round += 1
            let current = round
            let lbas = (0..<16).map { _ in random.next() % blocks }
            if Int(round) == killAfterRounds {
                // The kill lands while this round's writes are in flight.
                Task.detached { try? await Task.sleep(for: .milliseconds(1)); first.killNow() }
                killed = true
            }
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lba in lbas {
                        group.addTask { try await session.write(lba: lba * 8, data: Self.block(round: current, lba: lba)) }
                    }
                    try await group.waitForAll()
                }
                for lba in lbas { unsynced[lba, default: []].insert(round) }
                try await session.synchronizeCache()
                for lba in Set(lbas) {
                    synced[lba] = round
                    unsynced[lba] = nil
                }
            } catch {
                for lba in lbas { unsynced[lba, default: []].insert(round) }
                killed = true
            }
        }
        first.killNow()
        #expect(!synced.isEmpty, "some rounds were synced before the kill")

        let second = try await SANProcess(binary: binary, data: data)
        defer { second.stop() }
        let reopened = SANAdminClient(baseURL: second.endpoints.sanAdmin!, token: token)
        let shown = try await reopened.volume("crash")
        #expect(shown.sizeBytes == 64 << 20 && shown.allowedInitiators == [initiator] && shown.naa == volume.naa, "metadata intact")
        let check = try await ISCSIInitiatorSession.login(
            host: "127.0.0.1", port: second.portalPort, configuration: .init(initiatorName: initiator, targetName: volume.iqn)
        )
        try await check.clearUnitAttentions()
        var lost = 0
        for (lba, syncedRound) in synced {
            let back = try await check.read(lba: lba * 8, blocks: 8)
            let acceptable = Set([syncedRound]).union(unsynced[lba] ?? [])
            if !acceptable.contains(where: { back == Self.block(round: $0, lba: lba) }) { lost += 1 }
        }
        #expect(lost == 0, "\(lost) of \(synced.count) synced blocks did not read back (seed \(seed))")
        await check.logout()
    }
}

