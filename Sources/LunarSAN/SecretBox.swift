import Crypto
import Foundation

/// Encrypts secrets at rest (AES-GCM) with a 256-bit key kept in the data folder (mode 0600).
/// It keeps secrets out of backups and copies of the metadata files, not from root on the node.
struct SecretBox: Sendable {
    /// The raw key (SymmetricKey itself is not Sendable).
    let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    static func loadOrCreate(_ path: String) throws -> SecretBox {
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else { throw SANError(.storageFailure, "\(path) is not a 256-bit key") }
            return SecretBox(keyBytes: Array(data))
        }
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        try DurableFile.write(Data(bytes), to: path, permissions: 0o600)
        return SecretBox(keyBytes: bytes)
    }

    func seal(_ secret: String) throws -> String {
        guard let combined = try AES.GCM.seal(Data(secret.utf8), using: key).combined else {
            throw SANError(.storageFailure, "cannot seal a secret")
        }
        return combined.base64EncodedString()
    }

    func open(_ sealed: String) throws -> String {
        guard let data = Data(base64Encoded: sealed), let box = try? AES.GCM.SealedBox(combined: data),
            let plain = try? AES.GCM.open(box, using: key)
        else { throw SANError(.storageFailure, "a stored secret cannot be decrypted with the node's key") }
        return String(decoding: plain, as: UTF8.self)
    }
}
