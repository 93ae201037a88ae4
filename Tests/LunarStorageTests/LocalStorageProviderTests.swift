import Foundation
import LunarModel
import LunarStorage
import Testing

/// The `local` provider on real files in a temporary folder.
struct LocalStorageProviderTests {
    let folder = NSTemporaryDirectory() + "lunar-local-" + UUID().uuidString
    var pool: PoolDescriptor { PoolDescriptor(id: .random(), name: "p", url: "file://" + folder, capacityBytes: nil, capacityIOPS: nil) }
    let provider = LocalStorageProvider()

    func volume(gigabytes: Int64 = 2) -> VolumeDescriptor {
        VolumeDescriptor(id: .random(), name: "v", sizeBytes: gigabytes << 30, minIOPS: 100, maxIOPS: 200, path: nil)
    }

    func allocatedBytes(_ path: String) -> Int64 {
        var info = stat()
        precondition(stat(path, &info) == 0)
        return Int64(info.st_blocks) * 512
    }

    @Test func createsSparseFilesAndDeletesThem() async throws {
        let pool = self.pool
        let capacity = try await provider.initialize(pool)
        #expect(capacity.totalBytes > 0)
        #expect(capacity.usedBytes == 0)
        var volume = volume()
        let path = try await provider.createVolume(volume, in: pool)
        volume.path = path
        #expect(path == folder + "/" + volume.id.uuid + ".img")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.size] as? NSNumber)?.int64Value == 2 << 30)
        #expect(allocatedBytes(path) < 1 << 20, "a new volume is thin")
        // Creating again (a retried job) is harmless.
        #expect(try await provider.createVolume(volume, in: pool) == path)

        // Written data shows up as used.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: Data(repeating: 0xAB, count: 4 << 20))
        try handle.close()
        #expect(try await provider.capacity(of: pool).usedBytes >= 4 << 20)

        try await provider.resize(volume, toBytes: 3 << 30, minIOPS: nil, maxIOPS: nil, in: pool)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value == 3 << 30)

        #expect(try await provider.grantAccess(to: volume, for: HostDescriptor(id: .random(), name: "h", initiatorIQN: nil), in: pool) == .file(path: path))

        try await provider.deleteVolume(volume, in: pool)
        #expect(!FileManager.default.fileExists(atPath: path))
        // Deleting what is gone succeeds (idempotent).
        try await provider.deleteVolume(volume, in: pool)
        try? FileManager.default.removeItem(atPath: folder)
    }

    @Test(arguments: ["/no/scheme", "nfs://host/path", "file://relative/path", "file:///a/../b"])
    func refusesURLsItCannotUse(_ url: String) async {
        let pool = PoolDescriptor(id: .random(), name: "p", url: url, capacityBytes: nil, capacityIOPS: nil)
        await #expect(throws: LunarError.self) { _ = try await provider.initialize(pool) }
    }

    @Test func refusesAFileWhereAFolderShouldBe() async throws {
        let file = NSTemporaryDirectory() + "lunar-notafolder-" + UUID().uuidString
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let pool = PoolDescriptor(id: .random(), name: "p", url: "file://" + file, capacityBytes: nil, capacityIOPS: nil)
        await #expect(throws: LunarError.self) { _ = try await provider.initialize(pool) }
    }

    @Test func registryFindsProvidersByNameAndListsThem() throws {
        let registry = StorageProviderRegistry([LocalStorageProvider()])
        #expect(registry.provider(named: "LOCAL")?.name == "local")
        #expect(registry.names == ["local"])
        #expect(throws: LunarError.self) { try registry.require("solidfire") }
    }
}
