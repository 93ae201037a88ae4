import Foundation
import LunarModel
import Testing

@testable import LunarServer

struct ServerSecretsTests {
    @Test func sealedSecretsOpenOnlyWithTheirKey() throws {
        let folder = NSTemporaryDirectory() + "lunar-secrets-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/" + ServerSecrets.fileName
        let secrets = try ServerSecrets.loadOrCreate(path: path)
        let sealed = try secrets.seal("the-san-token")
        #expect(sealed.hasPrefix("sealed:v1:") && !sealed.contains("the-san-token"))
        #expect(try ServerSecrets.loadOrCreate(path: path).open(sealed) == "the-san-token", "the key is kept")
        #expect(try secrets.open("plain") == "plain", "values from before sealing pass through")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        try Data(repeating: 1, count: 32).write(to: URL(fileURLWithPath: path))
        #expect(throws: LunarError.self) { try ServerSecrets.loadOrCreate(path: path).open(sealed) }
    }
}
