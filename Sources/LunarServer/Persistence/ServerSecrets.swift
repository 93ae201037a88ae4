import Crypto
import Foundation
import LunarModel

/// Seals secrets the server must keep (a SAN node's admin token, CHAP secrets) before they reach
/// the database: AES-GCM under a 256-bit key in the data folder (`server-secrets.key`, mode 0600).
/// A copy of the database alone does not give them away.
public struct ServerSecrets: Sendable {
    static let prefix = "sealed:v1:"
    let keyBytes: [UInt8]

    public static let fileName = "server-secrets.key"

    public static func loadOrCreate(path: String) throws -> ServerSecrets {
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else { throw LunarError(.internalError, "\(path) is not a 256-bit key") }
            return ServerSecrets(keyBytes: Array(data))
        }
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw LunarError(.internalError, "cannot write \(path)")
        }
        return ServerSecrets(keyBytes: bytes)
    }

    public func seal(_ secret: String) throws -> String {
        guard let combined = try AES.GCM.seal(Data(secret.utf8), using: SymmetricKey(data: keyBytes)).combined else {
            throw LunarError(.internalError, "cannot seal a secret")
        }
        return Self.prefix + combined.base64EncodedString()
    }

    /// Opens a sealed value; a value that was never sealed comes back as it is.
    public func open(_ stored: String) throws -> String {
        guard stored.hasPrefix(Self.prefix) else { return stored }
        guard let data = Data(base64Encoded: String(stored.dropFirst(Self.prefix.count))), let box = try? AES.GCM.SealedBox(combined: data),
            let plain = try? AES.GCM.open(box, using: SymmetricKey(data: keyBytes))
        else { throw LunarError(.internalError, "a stored secret cannot be opened with this server's key (\(Self.fileName))") }
        return String(decoding: plain, as: UTF8.self)
    }
}
