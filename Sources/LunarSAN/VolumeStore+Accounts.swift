import Foundation
import ISCSI
#if canImport(Glibc)
import Glibc
#endif
import LunarModel

/// A SAN account: owns volumes; logins to them need CHAP with its secrets.
struct SANAccount: Sendable, Hashable {
    var name: String
    var initiatorSecret: String
    var targetSecret: String
    var created: Date

    /// The account's file form: secrets sealed with the node's key.
    struct Stored: Codable {
        var name: String
        var initiatorSecret: String
        var targetSecret: String
        var created: Date

        enum CodingKeys: String, CodingKey {
            case name, created
            case initiatorSecret = "initiator_secret_sealed"
            case targetSecret = "target_secret_sealed"
        }
    }

    struct File: Codable {
        var format = 1
        var accounts: [Stored]
    }

    var credentials: ISCSICHAPCredentials {
        ISCSICHAPCredentials(user: name, initiatorSecret: Array(initiatorSecret.utf8), targetUser: name, targetSecret: Array(targetSecret.utf8))
    }

    static let maximumAccounts = 4096

    /// 16 characters from an alphabet without look-alikes.
    static func generateSecret() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<16).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}

extension VolumeStore {
    static func loadAccounts(_ path: String, box: SecretBox) throws -> [String: SANAccount] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        let file: SANAccount.File
        do {
            file = try VolumeMetadata.decoder.decode(SANAccount.File.self, from: data)
        } catch {
            throw SANError(.storageFailure, "cannot read accounts \(path): \(error)")
        }
        guard file.format <= 1 else { throw SANError(.storageFailure, "\(path) was written by a newer Lunar (format \(file.format)); upgrade this node") }
        var accounts: [String: SANAccount] = [:]
        for stored in file.accounts {
            accounts[stored.name] = SANAccount(
                name: stored.name, initiatorSecret: try box.open(stored.initiatorSecret), targetSecret: try box.open(stored.targetSecret),
                created: stored.created
            )
        }
        return accounts
    }

    func writeAccounts(_ accounts: [String: SANAccount]) throws {
        let stored = try accounts.values.sorted { $0.name < $1.name }.map {
            SANAccount.Stored(name: $0.name, initiatorSecret: try secrets.seal($0.initiatorSecret), targetSecret: try secrets.seal($0.targetSecret), created: $0.created)
        }
        try DurableFile.write(try VolumeMetadata.encoder.encode(SANAccount.File(accounts: stored)), to: configuration.accountsFile)
    }

    func accountNotFound(_ name: String) -> SANError { SANError(.accountNotFound, "no account named \(name)") }

    /// Discovery CHAP follows the configured account; while it is missing, nothing can pass.
    nonisolated func publishDiscovery(_ accounts: [String: SANAccount]) {
        guard let name = configuration.discoveryAccount else { return catalog.discovery.withLock { $0 = nil } }
        let credentials =
            accounts[name]?.credentials
            ?? ISCSICHAPCredentials(user: name, initiatorSecret: Array(SANAccount.generateSecret().utf8) + Array(SANAccount.generateSecret().utf8))
        catalog.discovery.withLock { $0 = credentials }
    }

    func publishDiscovery() { publishDiscovery(accounts) }

    func accountInfo(_ account: SANAccount) -> SANAccountInfo {
        SANAccountInfo(
            name: account.name, volumes: volumes.values.filter { $0.metadata.account == account.name }.map(\.metadata.name).sorted(),
            created: ISO8601DateFormatter().string(from: account.created)
        )
    }

    public func listAccounts() -> [SANAccountInfo] {
        accounts.values.sorted { $0.name < $1.name }.map(accountInfo)
    }

    public func showAccount(_ name: String) throws -> SANAccountInfo {
        guard let account = accounts[name] else { throw accountNotFound(name) }
        return accountInfo(account)
    }

    /// The secrets, for whoever hands out connections (the management server's grants).
    public func accountSecrets(_ name: String) throws -> SANAccountSecrets {
        guard let account = accounts[name] else { throw accountNotFound(name) }
        return SANAccountSecrets(name: name, initiatorSecret: account.initiatorSecret, targetSecret: account.targetSecret)
    }

    public func createAccount(_ name: String, initiatorSecret: String?, targetSecret: String?) throws -> SANAccountSecrets {
        guard VolumeMetadata.validName(name) else {
            throw SANError(.invalidName, "account names are 1 to 64 lower-case letters, digits, '-' or '.', starting with a letter or digit")
        }
        guard accounts[name] == nil else { throw SANError(.accountExists, "an account named \(name) exists") }
        guard accounts.count < SANAccount.maximumAccounts else { throw SANError(.limitExceeded, "this node holds at most \(SANAccount.maximumAccounts) accounts") }
        let initiator = initiatorSecret ?? SANAccount.generateSecret()
        let target = targetSecret ?? SANAccount.generateSecret()
        for secret in [initiator, target] { if let problem = SANAccountSecrets.problem(secret) { throw SANError(.invalidSecret, problem) } }
        // Mutual CHAP with the same secret both ways would let a reflection attack through.
        guard initiator != target else { throw SANError(.invalidSecret, "the initiator and target secrets must differ") }
        var changed = accounts
        changed[name] = SANAccount(name: name, initiatorSecret: initiator, targetSecret: target, created: Date())
        try writeAccounts(changed)
        accounts = changed
        publishDiscovery()
        logger.info("account created", metadata: ["san.account": .string(name)])
        return SANAccountSecrets(name: name, initiatorSecret: initiator, targetSecret: target)
    }

    public func deleteAccount(_ name: String) throws {
        guard accounts[name] != nil else { throw accountNotFound(name) }
        let owned = volumes.values.filter { $0.metadata.account == name }.map(\.metadata.name).sorted()
        guard owned.isEmpty else { throw SANError(.accountInUse, "account \(name) owns volume(s) \(owned.joined(separator: ", ")); delete them first") }
        guard name != configuration.discoveryAccount else { throw SANError(.accountInUse, "account \(name) is this node's discovery account") }
        var changed = accounts
        changed[name] = nil
        try writeAccounts(changed)
        accounts = changed
        logger.info("account deleted", metadata: ["san.account": .string(name)])
    }
}

extension VolumeStore {
    /// The node's space and IOPS, for managed pools.
    public func capacity() -> SANNodeCapacity {
        var fileSystem = statvfs()
        var total: UInt64 = 0
        var free: UInt64 = 0
        if statvfs(directory, &fileSystem) == 0 {
            total = UInt64(fileSystem.f_blocks) * UInt64(fileSystem.f_frsize)
            free = UInt64(fileSystem.f_bavail) * UInt64(fileSystem.f_frsize)
        }
        var allocated: UInt64 = 0
        for volume in volumes.values {
            var status = stat()
            if stat(volume.device.path, &status) == 0 { allocated += UInt64(status.st_blocks) * 512 }
        }
        // Thin volumes may promise more than the disk holds: say so when the real free space runs
        // low (under 10 %), once per crossing, and in /metrics (`lunar_san_free_space_low`).
        let low = total > 0 && free < total / 10
        if low != freeSpaceLow {
            freeSpaceLow = low
            if low {
                logger.warning("the node's disk is running out of space for its thin volumes", metadata: ["san.free_bytes": .stringConvertible(free), "san.total_bytes": .stringConvertible(total)])
            } else {
                logger.notice("the node's disk has free space again", metadata: ["san.free_bytes": .stringConvertible(free)])
            }
        }
        return SANNodeCapacity(
            totalBytes: total, freeBytes: free, provisionedBytes: volumes.values.reduce(0) { $0 + $1.metadata.sizeBytes }, allocatedBytes: allocated,
            capacityIOPS: qos.settings.capacityIOPS, reservedIOPS: volumes.values.reduce(0) { $0 + ($1.metadata.qos ?? .unlimited).minIOPS },
            volumes: volumes.count
        )
    }
}
