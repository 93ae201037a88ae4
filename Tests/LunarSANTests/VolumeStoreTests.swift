import Foundation
import Logging
import LunarModel
import Testing

@testable import LunarSAN

/// The volume store on real files in a temporary folder.
struct VolumeStoreTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func folder() -> String {
        let path = NSTemporaryDirectory() + "lunar-san-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func store(_ folder: String, maximumVolumes: Int = 4096) throws -> VolumeStore {
        var configuration = SANConfiguration(dataDirectory: folder)
        configuration.maximumVolumes = maximumVolumes
        configuration.maximumVolumeBytes = 1 << 40
        return try VolumeStore(configuration: configuration, logger: quiet)
    }

    static func code(_ body: () async throws -> Void) async -> SANError.Code? {
        do {
            try await body()
            return nil
        } catch let error as SANError {
            return error.code
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test func createShowsATargetPerVolumeAndIsThin() async throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Self.store(folder)
        let volume = try await store.create(name: "v1", sizeBytes: 1 << 30)
        #expect(volume.iqn == "iqn.2026-11.org.lunar:v1")
        #expect(volume.sizeBytes == 1 << 30)
        #expect(volume.lun == 0)
        #expect(volume.allocatedBytes < 1 << 20, "a new volume allocates (almost) nothing")
        #expect(volume.naa.hasPrefix("0x6") && volume.naa.count == 18)
        #expect(volume.allowedInitiators.isEmpty)
        let other = try await store.create(name: "v2", sizeBytes: 1 << 20)
        #expect(other.naa != volume.naa && other.serial != volume.serial, "identifiers are unique per volume")
        #expect(await store.list().map(\.name) == ["v1", "v2"])
        let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/san/volumes/v1.img")
        #expect((attributes[.size] as? NSNumber)?.uint64Value == 1 << 30)
    }

    @Test func badRequestsAreRefusedWithACode() async throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Self.store(folder, maximumVolumes: 2)
        _ = try await store.create(name: "v1", sizeBytes: 1 << 20)
        #expect(await Self.code { _ = try await store.create(name: "V1", sizeBytes: 1 << 20) } == .invalidName)
        #expect(await Self.code { _ = try await store.create(name: "../x", sizeBytes: 1 << 20) } == .invalidName)
        #expect(await Self.code { _ = try await store.create(name: "", sizeBytes: 1 << 20) } == .invalidName)
        #expect(await Self.code { _ = try await store.create(name: String(repeating: "a", count: 65), sizeBytes: 1 << 20) } == .invalidName)
        #expect(await Self.code { _ = try await store.create(name: "v1", sizeBytes: 1 << 20) } == .volumeExists)
        #expect(await Self.code { _ = try await store.create(name: "v2", sizeBytes: 1000) } == .invalidSize)
        #expect(await Self.code { _ = try await store.create(name: "v2", sizeBytes: (1 << 20) + 1) } == .invalidSize)
        #expect(await Self.code { _ = try await store.create(name: "v2", sizeBytes: 2 << 40) } == .invalidSize)
        _ = try await store.create(name: "v2", sizeBytes: 1 << 20)
        #expect(await Self.code { _ = try await store.create(name: "v3", sizeBytes: 1 << 20) } == .limitExceeded)
        #expect(await Self.code { _ = try await store.show("nosuch") } == .volumeNotFound)
        #expect(await Self.code { try await store.delete(name: "nosuch") } == .volumeNotFound)
        #expect(await Self.code { _ = try await store.resize(name: "v1", sizeBytes: 1 << 19) } == .invalidSize)
        #expect(await Self.code { _ = try await store.allow(name: "v1", initiator: "not an iqn") } == .invalidInitiator)
        #expect(await Self.code { _ = try await store.allow(name: "v1", initiator: "iqn.2026-1.x") } == .invalidInitiator)
        #expect(await Self.code { _ = try await store.disallow(name: "v1", initiator: "iqn.2026-11.org.example:h1") } == .notFound)
        // Nothing stored was lost on the way.
        #expect(await store.list().map(\.name) == ["v1", "v2"])
    }

    @Test func everythingSurvivesARestart() async throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var naa = ""
        do {
            let store = try Self.store(folder)
            naa = try await store.create(name: "keep", sizeBytes: 4 << 20).naa
            _ = try await store.allow(name: "keep", initiator: "IQN.2026-11.org.example:Host1")
            _ = try await store.resize(name: "keep", sizeBytes: 8 << 20)
            _ = try await store.create(name: "gone", sizeBytes: 1 << 20)
            try await store.delete(name: "gone")
        }
        let reopened = try Self.store(folder)
        let volume = try await reopened.show("keep")
        #expect(volume.naa == naa)
        #expect(volume.sizeBytes == 8 << 20)
        #expect(volume.allowedInitiators == ["iqn.2026-11.org.example:host1"], "names are kept in their normal lower-case form")
        #expect(await reopened.list().map(\.name) == ["keep"])
        #expect(!FileManager.default.fileExists(atPath: folder + "/san/volumes/gone.img"))
    }

    @Test func crashLeftoversAreRepairedAtStart() async throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            let store = try Self.store(folder)
            _ = try await store.create(name: "grown", sizeBytes: 4 << 20)
        }
        let directory = folder + "/san/volumes/"
        // A create that crashed before its metadata: an image nobody was told about.
        FileManager.default.createFile(atPath: directory + "orphan.img", contents: Data(count: 4096))
        // A resize that crashed after its metadata, before the image grew.
        var metadata = try VolumeMetadata.decoder.decode(VolumeMetadata.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "grown.json")))
        metadata.sizeBytes = 16 << 20
        try VolumeMetadata.encoder.encode(metadata).write(to: URL(fileURLWithPath: directory + "grown.json"))

        let reopened = try Self.store(folder)
        #expect(!FileManager.default.fileExists(atPath: directory + "orphan.img"))
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "grown.img")
        #expect((attributes[.size] as? NSNumber)?.uint64Value == 16 << 20, "the interrupted grow is finished")
        #expect(try await reopened.show("grown").sizeBytes == 16 << 20)
    }

    @Test func metadataFromANewerLunarIsRefused() async throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            let store = try Self.store(folder)
            _ = try await store.create(name: "future", sizeBytes: 1 << 20)
        }
        let path = folder + "/san/volumes/future.json"
        var metadata = try VolumeMetadata.decoder.decode(VolumeMetadata.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        metadata.format = VolumeMetadata.currentFormat + 1
        try VolumeMetadata.encoder.encode(metadata).write(to: URL(fileURLWithPath: path))
        #expect(throws: SANError.self) { _ = try Self.store(folder) }
    }

    @Test func catalogFollowsTheAllowedInitiators() async throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Self.store(folder)
        _ = try await store.create(name: "v1", sizeBytes: 1 << 20)
        let target = "iqn.2026-11.org.lunar:v1"
        let host = "iqn.2026-11.org.example:h1"
        #expect(store.catalog.authorize(initiator: host, target: target) == .notAuthorized)
        #expect(store.catalog.authorize(initiator: host, target: "iqn.2026-11.org.lunar:nosuch") == .targetNotFound)
        #expect(store.catalog.targetNames(visibleTo: host).isEmpty)
        _ = try await store.allow(name: "v1", initiator: host)
        #expect(store.catalog.authorize(initiator: host, target: target) == .allowed)
        #expect(store.catalog.targetNames(visibleTo: host) == [target])
        #expect(store.catalog.authorize(initiator: "iqn.2026-11.org.example:h2", target: target) == .notAuthorized)
        _ = try await store.disallow(name: "v1", initiator: host)
        #expect(store.catalog.authorize(initiator: host, target: target) == .notAuthorized)
        try await store.delete(name: "v1")
        #expect(store.catalog.logicalUnit(forTarget: target) == nil)
    }
}
