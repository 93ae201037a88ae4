import Foundation
import LunarClient
import LunarModel
import LunarSANTestSupport
import Testing

@testable import LunarSAN

/// Uploads into a volume and copies made by the node, over the real admin API.
struct VolumeCopyTests {
    static let mebibyte = 1 << 20

    /// 4 MiB: random data, two mebibytes of zeros, random data.
    static func image(at path: String) throws -> Data {
        var generator = SplitMix64(state: 7)
        var bytes = [UInt8](repeating: 0, count: 4 * mebibyte)
        for index in 0..<mebibyte { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        for index in (3 * mebibyte)..<(4 * mebibyte) { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        let data = Data(bytes)
        try data.write(to: URL(fileURLWithPath: path))
        return data
    }

    static func code(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch LunarClientError.san(_, let code, _) {
            return code
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test func anUploadLandsWhole_andACopyIsMadeOnTheNodeWithItsHoles() async throws {
        try await SANTestNode.run { node in
            let admin = SANAdminClient(baseURL: node.endpoints.admin, token: node.token)
            let file = node.dataDirectory + "/image.raw"
            let image = try Self.image(at: file)
            _ = try await admin.createVolume(name: "tpl", size: String(4 * Self.mebibyte))
            try await admin.upload("tpl", fromFile: file)
            let template = try await admin.volume("tpl")
            #expect(template.allocatedBytes <= UInt64(2 * Self.mebibyte + 65536), "the zero mebibytes stay holes: \(template.allocatedBytes)")

            let copy = try await admin.createVolume(name: "root", size: String(8 * Self.mebibyte), source: "tpl")
            #expect(copy.sizeBytes == UInt64(8 * Self.mebibyte))
            #expect(copy.allocatedBytes <= UInt64(2 * Self.mebibyte + 65536), "the copy keeps the holes: \(copy.allocatedBytes)")
            let volumes = node.dataDirectory + "/san/volumes/"
            let copied = try Data(contentsOf: URL(fileURLWithPath: volumes + "root.img"))
            #expect(copied.count == 8 * Self.mebibyte)
            #expect(copied.prefix(image.count) == image, "the copy holds the template's bytes")
            #expect(copied.dropFirst(image.count).allSatisfy { $0 == 0 }, "and zeros beyond them")
            #expect(try Data(contentsOf: URL(fileURLWithPath: volumes + "tpl.img")) == image, "the upload wrote exactly the file")
        }
    }

    @Test func badUploadsAndCopiesAreRefusedWithACode() async throws {
        try await SANTestNode.run { node in
            let admin = SANAdminClient(baseURL: node.endpoints.admin, token: node.token)
            let file = node.dataDirectory + "/image.raw"
            _ = try Self.image(at: file)
            _ = try await admin.createVolume(name: "small", size: String(2 * Self.mebibyte))
            #expect(await Self.code { try await admin.upload("small", fromFile: file) } == "invalid_size", "4 MiB do not fit in 2")
            let odd = node.dataDirectory + "/odd.raw"
            try Data(repeating: 1, count: 1000).write(to: URL(fileURLWithPath: odd))
            #expect(await Self.code { try await admin.upload("small", fromFile: odd) } == "invalid_size", "not whole sectors")
            #expect(await Self.code { try await admin.upload("missing", fromFile: odd) } == "volume_not_found")
            _ = try await admin.createVolume(name: "big", size: String(4 * Self.mebibyte))
            #expect(await Self.code { _ = try await admin.createVolume(name: "c1", size: String(Self.mebibyte), source: "big") } == "invalid_size")
            #expect(await Self.code { _ = try await admin.createVolume(name: "c2", size: String(4 * Self.mebibyte), source: "nothing") } == "volume_not_found")
            let names = try await admin.listVolumes().map(\.name)
            #expect(names == ["big", "small"], "nothing half made is left: \(names)")
            #expect(try await admin.volume("small").allocatedBytes == 0, "a refused upload wrote nothing")
        }
    }
}
