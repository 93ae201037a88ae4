import Foundation
import LunarClient
import LunarModel

/// The managed `lunar` provider: a pool is a Lunar SAN node (`url=lunar://HOST:PORT?token=T`,
/// the node's admin API), a volume is one SAN volume (one target, LUN 0) with the volume's QoS,
/// and a host reaches it only while granted: its initiator IQN is in the volume's access group.
///
/// Each pool has one SAN account (`lunar-pool-<pool id prefix>`): every volume of the pool is
/// owned by it, so logins need CHAP with its secret, which grants hand to the host.
public struct LunarStorageProvider: StorageProvider {
    public let name = "lunar"
    public let isManaged = true
    /// Minimum, maximum and burst at the SAN (the QoS scheduler).
    public let qosEnforcement = QoSEnforcement.storage
    /// Burst = this × max unless the pool says otherwise (`burstfactor` detail).
    public static let defaultBurstFactor = 1.5

    public init() {}

    /// The node a `lunar://` URL names and its token (in the URL's query or the pool's `token` detail).
    public struct Endpoint: Sendable, Hashable {
        public var adminURL: String
        public var token: String
        public var host: String
    }

    public static func endpoint(of pool: PoolDescriptor) throws -> Endpoint {
        guard let components = URLComponents(string: pool.url), components.scheme == "lunar", let host = components.host, !host.isEmpty,
            let port = components.port, (1...65535).contains(port)
        else {
            throw LunarError.invalidParameter("url", value: redacted(pool.url), reason: "the lunar provider takes lunar://HOST:PORT?token=TOKEN (the SAN admin API)")
        }
        let token = components.queryItems?.first { $0.name == "token" }?.value ?? pool.details["token"]
        guard let token, !token.isEmpty else {
            throw LunarError.invalidParameter("url", value: redacted(pool.url), reason: "no SAN admin token: add ?token=... or details[0].token")
        }
        return Endpoint(adminURL: "http://\(host):\(port)", token: token, host: host)
    }

    /// The URL without its `token` query item, and the token.
    public static func splitToken(_ url: String) -> (url: String, token: String?) {
        guard var components = URLComponents(string: url), let items = components.queryItems, let token = items.first(where: { $0.name == "token" })?.value
        else { return (url, nil) }
        let rest = items.filter { $0.name != "token" }
        components.queryItems = rest.isEmpty ? nil : rest
        return (components.string ?? url, token)
    }

    /// The URL with its token hidden, for messages.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.queryItems != nil else { return url }
        components.queryItems = components.queryItems?.map { $0.name == "token" ? URLQueryItem(name: "token", value: "***") : $0 }
        return components.string ?? url
    }

    func client(_ pool: PoolDescriptor) throws -> SANAdminClient {
        let endpoint = try Self.endpoint(of: pool)
        return SANAdminClient(baseURL: endpoint.adminURL, token: endpoint.token)
    }

    static func accountName(_ pool: PoolDescriptor) -> String { "lunar-pool-" + pool.id.uuid.prefix(8).lowercased() }
    static func volumeName(_ volume: VolumeDescriptor) -> String { "vol-" + volume.id.uuid.lowercased() }

    /// SAN errors as API errors: a refusal of ours is the caller's 431, a SAN that could not be
    /// connected to is 534 (nothing was sent, nothing changed; try again later), a SAN that took
    /// the request and did not answer is 530 (the outcome is unknown), the rest the node's trouble.
    static func translate<T>(_ action: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch LunarClientError.san(let status, let code, let message) where (400..<500).contains(status) {
            throw LunarError(.parameterError, "the SAN refused to \(action): \(message) (\(code))")
        } catch LunarClientError.unreachable(let text) {
            throw LunarError.unavailable("the SAN is unreachable, could not \(action): \(text)")
        } catch LunarClientError.transport(let text), LunarClientError.timedOut(let text) {
            // Sent, but no answer: it may or may not have happened (not 534, which says it did not).
            throw LunarError(.internalError, "the SAN did not answer, so it is unknown whether it did \(action): \(text)")
        } catch let error as LunarClientError {
            throw LunarError(.internalError, "the SAN could not \(action): \(error)")
        }
    }

    /// Runs a call whose `not_found` answer means "nothing there": nil then. Every other failure
    /// (an unreachable SAN above all) is thrown, never taken for "not found".
    static func unlessNotFound<T>(_ action: String, _ body: () async throws -> T) async throws -> T? {
        do {
            return try await translate(action) {
                do {
                    return try await body()
                } catch LunarClientError.san(404, let code, _) where notFoundCodes.contains(code) {
                    // Only the SAN's own "no such thing": a bare 404 (an old node without the
                    // route, a proxy) is a failure, never taken for "already revoked".
                    throw NotFound()
                }
            }
        } catch is NotFound {
            return nil
        }
    }

    struct NotFound: Error {}

    /// The SAN's error codes that mean "nothing there".
    static let notFoundCodes: Set<String> = ["not_found", "volume_not_found", "account_not_found"]

    // MARK: Lifecycle

    public func initialize(_ pool: PoolDescriptor) async throws -> PoolCapacity {
        let client = try client(pool)
        let node = try await Self.translate("report its capacity") { try await client.capacity() }
        // Bytes may be promised beyond the node's disk (thin provisioning; placement applies
        // storage.overprovisioning.factor). IOPS may not: minimums are guarantees.
        if let iops = pool.capacityIOPS, iops > Int64(node.capacityIOPS) {
            throw LunarError.invalidParameter("capacityiops", value: String(iops), reason: "the SAN node delivers \(node.capacityIOPS) IOPS")
        }
        // The pool's account: made once, found again on a retry.
        let account = Self.accountName(pool)
        if try await Self.unlessNotFound("read account \(account)", { try await client.account(account) }) == nil {
            _ = try await Self.translate("create account \(account)") { try await client.createAccount(account) }
        }
        return PoolCapacity(totalBytes: Int64(clamping: node.totalBytes), usedBytes: Int64(clamping: node.allocatedBytes), totalIOPS: Int64(node.capacityIOPS))
    }

    public func attach(_ pool: PoolDescriptor, to attachment: PoolAttachment) async throws {}
    public func enterMaintenance(_ pool: PoolDescriptor) async throws {}
    public func cancelMaintenance(_ pool: PoolDescriptor) async throws {}

    public func delete(_ pool: PoolDescriptor) async throws {
        let client = try client(pool)
        // Gone already is fine; an unreachable SAN is not.
        _ = try await Self.unlessNotFound("delete the pool's account") { try await client.deleteAccount(Self.accountName(pool)) }
    }

    // MARK: Driver

    func qos(minIOPS: Int64?, maxIOPS: Int64?, in pool: PoolDescriptor) -> SANVolumeQoS? {
        guard let maxIOPS else { return minIOPS.map { SANVolumeQoS(minIOPS: Int($0), maxIOPS: SANVolumeQoS.limit, burstIOPS: SANVolumeQoS.limit) } }
        let factor = pool.details["burstfactor"].flatMap(Double.init).map { max(1, $0) } ?? Self.defaultBurstFactor
        let maximum = min(Int(maxIOPS), SANVolumeQoS.limit)
        let burst = min(Int((Double(maximum) * factor).rounded()), SANVolumeQoS.limit)
        return SANVolumeQoS(minIOPS: max(1, min(Int(minIOPS ?? 50), maximum)), maxIOPS: maximum, burstIOPS: max(burst, maximum))
    }

    public func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws -> String {
        try await create(volume, in: pool, copyOf: nil)
    }

    /// The SAN node copies the source volume's image into the new volume (sparse; holes stay holes).
    public func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor, copyOf source: VolumeDescriptor) async throws -> String {
        try await create(volume, in: pool, copyOf: source)
    }

    /// Creates the SAN volume (a copy of `source`'s when given) with the volume's QoS in the
    /// pool's account. A retry after a lost answer finds the volume made, and a volume found is
    /// whole: the node writes a copy's metadata only once the data is in.
    func create(_ volume: VolumeDescriptor, in pool: PoolDescriptor, copyOf source: VolumeDescriptor?) async throws -> String {
        let client = try client(pool)
        let name = Self.volumeName(volume)
        if let existing = try await Self.unlessNotFound("look up volume \(name)", { try await client.volume(name) }) { return "/\(existing.iqn)/0" }
        let reserve = Int64(volume.snapshotReservePercent ?? 0)
        let bytes = (volume.sizeBytes + volume.sizeBytes * reserve / 100 + 511) / 512 * 512
        let action = source.map { "copy volume \(Self.volumeName($0)) to \(name)" } ?? "create volume \(name)"
        let created = try await Self.translate(action) {
            try await client.createVolume(
                name: name, size: String(bytes), qos: qos(minIOPS: volume.minIOPS, maxIOPS: volume.maxIOPS, in: pool), account: Self.accountName(pool),
                source: source.map(Self.volumeName)
            )
        }
        return "/\(created.iqn)/0"
    }

    /// Streams the file to the node's upload route.
    public func write(_ volume: VolumeDescriptor, in pool: PoolDescriptor, fromFile path: String) async throws {
        let client = try client(pool)
        let name = Self.volumeName(volume)
        try await Self.translate("write \(path) into volume \(name)") { try await client.upload(name, fromFile: path) }
    }

    public func deleteVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws {
        let client = try client(pool)
        let name = Self.volumeName(volume)
        // Only the SAN saying "no such volume" counts as deleted; an unreachable SAN fails the call.
        guard let existing = try await Self.unlessNotFound("look up volume \(name)", { try await client.volume(name) }) else { return }
        // Whoever still has access loses it (fenced) before the volume goes.
        for initiator in existing.allowedInitiators {
            _ = try await Self.unlessNotFound("revoke \(initiator) from \(name)") { try await client.revokeGrant(name, initiator: initiator) }
        }
        _ = try await Self.unlessNotFound("delete volume \(name)") { try await client.deleteVolume(name) }
    }

    /// One call at the SAN allows the host and returns the whole connection, so a failure leaves
    /// nothing granted there that the caller does not know of (a retry is harmless).
    public func grantAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws -> VolumeConnection {
        guard let initiator = host.initiatorIQN else {
            throw LunarError.refused("host \(host.name) has no iSCSI initiator name: it cannot reach managed storage")
        }
        let client = try client(pool)
        let name = Self.volumeName(volume)
        let grant = try await Self.translate("grant \(initiator) access to \(name)") { try await client.grant(name, initiator: initiator) }
        return .iscsi(portal: grant.portal, iqn: grant.iqn, lun: grant.lun, chapUser: grant.chapUser, chapSecret: grant.chapSecret)
    }

    /// Fence semantics: returns once the host's sessions to the volume are closed and nothing it
    /// sent can still land.
    public func revokeAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws {
        guard let initiator = host.initiatorIQN else { return }
        let client = try client(pool)
        // Not granted (or no volume): nothing to take away. Anything else, an unreachable SAN
        // above all, is thrown: the caller relies on this being the fence.
        _ = try await Self.unlessNotFound("revoke \(initiator)") { try await client.revokeGrant(Self.volumeName(volume), initiator: initiator) }
    }

    public func resize(_ volume: VolumeDescriptor, toBytes newSizeBytes: Int64, minIOPS: Int64?, maxIOPS: Int64?, in pool: PoolDescriptor) async throws {
        let client = try client(pool)
        let name = Self.volumeName(volume)
        // Always asked: the descriptor may already carry the new size, and growing to the size a
        // volume has is a no-op at the SAN (a repeat after a lost answer too).
        let reserve = Int64(volume.snapshotReservePercent ?? 0)
        let bytes = (newSizeBytes + newSizeBytes * reserve / 100 + 511) / 512 * 512
        _ = try await Self.translate("grow volume \(name)") { try await client.resizeVolume(name, size: String(bytes)) }
        if let qos = qos(minIOPS: minIOPS, maxIOPS: maxIOPS, in: pool) {
            _ = try await Self.translate("change the QoS of \(name)") { try await client.setQoS(name, qos: qos) }
        }
    }

    /// Every initiator allowed on a volume the pool's account owns.
    public func accessList(in pool: PoolDescriptor) async throws -> Set<StorageAccess> {
        let client = try client(pool)
        let account = Self.accountName(pool)
        let volumes = try await Self.translate("list its volumes") { try await client.listVolumes() }
        var access: Set<StorageAccess> = []
        for volume in volumes where volume.account == account {
            for initiator in volume.allowedInitiators { access.insert(StorageAccess(path: "/\(volume.iqn)/0", initiator: initiator)) }
        }
        return access
    }

    public func activity(of host: HostDescriptor, in pool: PoolDescriptor) async throws -> SANInitiatorActivity? {
        guard let iqn = host.initiatorIQN else { return nil }
        let client = try client(pool)
        return try await Self.translate("report the host's sessions") { try await client.initiatorActivity(iqn) }
    }

    public func removeAccess(_ access: StorageAccess, in pool: PoolDescriptor) async throws {
        let client = try client(pool)
        // The path is /<iqn>/0 and the volume's name is what follows the IQN's colon.
        guard let iqn = access.path.split(separator: "/").first, let colon = iqn.lastIndex(of: ":") else {
            throw LunarError(.internalError, "\(access.path) is not a lunar volume path")
        }
        let name = String(iqn[iqn.index(after: colon)...])
        _ = try await Self.unlessNotFound("remove \(access.initiator) from \(name)") { try await client.revokeGrant(name, initiator: access.initiator) }
    }

    public func capacity(of pool: PoolDescriptor) async throws -> PoolCapacity {
        let node = try await Self.translate("report its capacity") { try await client(pool).capacity() }
        return PoolCapacity(totalBytes: Int64(clamping: node.totalBytes), usedBytes: Int64(clamping: node.allocatedBytes), totalIOPS: Int64(node.capacityIOPS))
    }
}
