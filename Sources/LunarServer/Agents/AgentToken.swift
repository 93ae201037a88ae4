import Foundation
import Logging
import LunarModel

/// The token agents register with. The server keeps its SHA-256 only; the token itself is in
/// `<data>/agent-token` (0600) for whoever starts agents. A lost file means a new token.
enum AgentToken {
    static func ensure(store: Store, folder: DataFolder, logger: Logger) async throws {
        let stored = try await store.setting(AgentEndpoint.tokenSetting)
        if let data = FileManager.default.contents(atPath: folder.file(LunarEndpoints.agentTokenFileName)) {
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !token.isEmpty, AgentEndpoint.hash(token) == stored { return }
        }
        var generator = SystemRandomNumberGenerator()
        let token = Base64URL.encode((0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try await store.setSetting(AgentEndpoint.tokenSetting, AgentEndpoint.hash(token))
        try folder.write(Data(token.utf8), to: LunarEndpoints.agentTokenFileName, permissions: 0o600)
        logger.info("made a new agent registration token", metadata: ["file": .string(folder.file(LunarEndpoints.agentTokenFileName))])
    }
}
