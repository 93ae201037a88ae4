import LunarModel
import LunarWire

/// Connects a host to the disks of one pool type. The agent keeps no other record of what is
/// connected: after a restart it asks the adaptors.
public protocol StorageAdaptor: Sendable {
    /// The pool type this adaptor serves (`lunar`, `local`, `iscsiadm`).
    var poolType: String { get }
    /// Connects (or finds connected) the disk. Idempotent.
    func connect(_ disk: DiskSpec) async throws -> any PhysicalDisk
    /// Disconnects the disk if it is connected. Idempotent.
    /// - Throws: when the disk may still be connected (a logout that failed).
    func disconnect(_ volumeID: VolumeID) async throws
    /// The disk if it is connected.
    func physicalDisk(_ volumeID: VolumeID) async -> (any PhysicalDisk)?
    /// Every disk connected through this adaptor.
    func connectedDisks() async -> [VolumeID]
}
