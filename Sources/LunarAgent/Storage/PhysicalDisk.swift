import LunarModel
import NIOCore

/// A connected disk as a VM uses it: blocks in, blocks out.
public protocol PhysicalDisk: Sendable {
    var volumeID: VolumeID { get }
    var blockSize: Int { get }
    var blockCount: UInt64 { get }
    func read(lba: UInt64, blocks: UInt32) async throws -> ByteBuffer
    /// Returns once the data is durable when `fua` is set.
    func write(lba: UInt64, data: ByteBuffer, fua: Bool) async throws
}
