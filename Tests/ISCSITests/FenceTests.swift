import Dispatch
import Foundation
import ISCSI
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The fence against a device whose writes the test holds at the backing store: a fence may not
/// return while a write of the fenced initiator is still there, and nothing runs after it.
struct FenceTests {
    /// Writes wait at `gate` until the test opens it.
    final class GatedDevice: SCSIBlockDevice {
        let inner: FileBlockDevice
        let gate = DispatchSemaphore(value: 0)
        let counts = Mutex((entered: 0, finished: 0))

        init(_ inner: FileBlockDevice) {
            self.inner = inner
        }

        var blockSize: Int { inner.blockSize }
        var blockCount: UInt64 { inner.blockCount }
        func read(atBlock block: UInt64, count: Int) throws -> ByteBuffer { try inner.read(atBlock: block, count: count) }
        func write(_ data: ByteBuffer, atBlock block: UInt64, forceUnitAccess: Bool) throws {
            counts.withLock { $0.entered += 1 }
            gate.wait()
            try inner.write(data, atBlock: block, forceUnitAccess: forceUnitAccess)
            counts.withLock { $0.finished += 1 }
        }
        func synchronize() throws { try inner.synchronize() }
        func deallocate(atBlock block: UInt64, count: Int) throws { try inner.deallocate(atBlock: block, count: count) }
        func mappingRun(atBlock block: UInt64, limit: UInt64) throws -> (mapped: Bool, blocks: UInt64) { try inner.mappingRun(atBlock: block, limit: limit) }
    }

    final class Flag: Sendable {
        let value = Atomic(false)
        func set() { value.store(true, ordering: .sequentiallyConsistent) }
        var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
    }

    @Test func aFenceWaitsForWritesAtTheBackingStoreAndThenClosesTheSession() async throws {
        let file = NSTemporaryDirectory() + "lunar-fence-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let device = GatedDevice(try FileBlockDevice(path: file, sizeBytes: 16 << 20))
        let target = "iqn.2026-11.org.lunar:fence"
        let initiator = "iqn.2026-11.org.example:fenced"
        let catalog = ISCSIStaticCatalog([target: .init(unit: SCSILogicalUnit(device: device, serial: "fence", naa: 0x77), allowedInitiators: [initiator])])
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let server = try await ISCSITargetServer.start(host: "127.0.0.1", port: 0, catalog: catalog, logger: InitiatorTests.quiet, threadPool: pool)
        let session = try await ISCSIInitiatorSession.login(
            host: "127.0.0.1", port: server.port, configuration: .init(initiatorName: initiator, targetName: target), logger: InitiatorTests.quiet
        )
        try await session.clearUnitAttentions()

        // A write reaches the device and is held there.
        let write = Task { try await session.write(lba: 8, data: ByteBuffer(repeating: 0xAB, count: 4096)) }
        for _ in 0..<500 where device.counts.withLock({ $0.entered }) < 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(device.counts.withLock { $0.entered } == 1)

        let returned = Flag()
        let fence = Task {
            let fenced = await server.sessions.fence(target: target, initiator: initiator)
            returned.set()
            return fenced
        }
        try await Task.sleep(for: .milliseconds(300))
        let early = returned.isSet
        #expect(!early, "the fence returned while writes were at the device")

        device.gate.signal()
        #expect(await fence.value == 1)
        #expect(device.counts.withLock { $0.finished } == 1, "the held write finished before the fence returned")
        // The session is gone: the write was never answered, new ones fail, nothing more arrives.
        await #expect(throws: (any Error).self) { try await write.value }
        await #expect(throws: (any Error).self) { try await session.write(lba: 64, data: ByteBuffer(repeating: 1, count: 4096)) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(device.counts.withLock { $0.entered } == 1)
        #expect(server.sessions.sessions(target: target).isEmpty)

        try await server.shutdown()
        try await pool.shutdownGracefully()
    }
}
