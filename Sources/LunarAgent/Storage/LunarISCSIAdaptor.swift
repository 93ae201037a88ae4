import ISCSI
import Logging
import LunarModel
import LunarWire
import NIOCore

/// Disks on a Lunar SAN through Lunar's own initiator: connect = login with the grant's CHAP +
/// READ CAPACITY; disconnect = logout. The sessions live in this process, so what it lists is
/// exactly what is connected.
public actor LunarISCSIAdaptor: StorageAdaptor {
    public nonisolated let poolType: String
    let initiatorName: String
    let logger: Logger
    var disks: [VolumeID: ISCSIDisk] = [:]

    public init(poolType: String = "lunar", initiatorName: String, logger: Logger) {
        self.poolType = poolType
        self.initiatorName = initiatorName
        self.logger = logger
    }

    public func connect(_ disk: DiskSpec) async throws -> any PhysicalDisk {
        if let existing = disks[disk.volumeID] { return existing }
        guard case .iscsi(let portal, let iqn, let lun, let user, let secret) = disk.connection else {
            throw AgentFailure(.badRequest, "pool type \(poolType) needs an iSCSI connection for volume \(disk.volumeID)")
        }
        guard let (host, port) = Self.split(portal: portal) else { throw AgentFailure(.badRequest, "bad portal \(portal)") }
        var configuration = ISCSIInitiatorSession.Configuration(initiatorName: initiatorName, targetName: iqn)
        configuration.logicalUnitNumber = UInt64(lun)
        if let user, let secret { configuration.chap = .init(user: user, secret: secret) }
        let initiator = ISCSIReconnectingInitiator(host: host, port: port, configuration: configuration, maximumAttempts: 3, logger: logger)
        let capacity: (blocks: UInt64, blockSize: Int)
        do {
            capacity = try await initiator.readCapacity()
        } catch ISCSIInitiatorError.loginRefused(let status, let reason) {
            await initiator.logout()
            let code: AgentFailure.Code = (status >> 8) == 0x02 ? .accessDenied : .connectFailed
            throw AgentFailure(code, "login to \(iqn) at \(portal) refused: \(reason)")
        } catch {
            await initiator.logout()
            throw AgentFailure(.connectFailed, "could not connect \(iqn) at \(portal): \(error)")
        }
        // Another connect of the same volume may have finished while this one waited.
        if let existing = disks[disk.volumeID] {
            await initiator.logout()
            return existing
        }
        let connected = ISCSIDisk(volumeID: disk.volumeID, initiator: initiator, blockSize: capacity.blockSize, blockCount: capacity.blocks)
        disks[disk.volumeID] = connected
        logger.info("disk connected", metadata: ["volume.id": .string(disk.volumeID.uuid), "iscsi.target": .string(iqn)])
        return connected
    }

    public func disconnect(_ volumeID: VolumeID) async throws {
        guard let disk = disks.removeValue(forKey: volumeID) else { return }
        await disk.initiator.logout()
        logger.info("disk disconnected", metadata: ["volume.id": .string(volumeID.uuid)])
    }

    public func physicalDisk(_ volumeID: VolumeID) -> (any PhysicalDisk)? { disks[volumeID] }

    public func connectedDisks() -> [VolumeID] { Array(disks.keys) }

    static func split(portal: String) -> (String, Int)? {
        guard let colon = portal.lastIndex(of: ":"), let port = Int(portal[portal.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        return (String(portal[..<colon]), port)
    }
}

/// One volume through a reconnecting iSCSI session.
public struct ISCSIDisk: PhysicalDisk {
    public let volumeID: VolumeID
    let initiator: ISCSIReconnectingInitiator
    public let blockSize: Int
    public let blockCount: UInt64

    public func read(lba: UInt64, blocks: UInt32) async throws -> ByteBuffer {
        try await initiator.read(lba: lba, blocks: blocks, blockSize: blockSize)
    }

    public func write(lba: UInt64, data: ByteBuffer, fua: Bool) async throws {
        try await initiator.write(lba: lba, data: data, blockSize: blockSize, fua: fua)
    }
}
