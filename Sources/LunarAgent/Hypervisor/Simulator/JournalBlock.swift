import LunarModel
import NIOCore

/// The 4 KiB block a journal workload writes: which volume, lane and sequence it is, and a body
/// derived from the sequence, so a reader can tell an acknowledged write from an old or torn one.
public struct JournalBlock: Sendable, Equatable {
    public static let size = 4096
    static let magic = Array("LUNARJNL".utf8)

    public var volumeID: VolumeID
    public var lane: UInt32
    public var sequence: UInt64

    public init(volumeID: VolumeID, lane: UInt32, sequence: UInt64) {
        self.volumeID = volumeID
        self.lane = lane
        self.sequence = sequence
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(Self.size)
        buffer.writeBytes(Self.magic)
        buffer.writeBytes(Array(volumeID.uuid.utf8).prefix(36))
        buffer.writeInteger(lane)
        buffer.writeInteger(sequence)
        buffer.writeRepeatingByte(UInt8(truncatingIfNeeded: sequence &* 31 &+ 7), count: Self.size - buffer.readableBytes)
        return buffer
    }

    /// The block in `buffer`, or nil when it is not a whole, consistent journal block.
    public static func decode(_ buffer: ByteBuffer) -> JournalBlock? {
        var buffer = buffer
        guard buffer.readableBytes >= size, buffer.readBytes(length: 8) == magic,
            let uuid = buffer.readString(length: 36), let volumeID = VolumeID(uuid),
            let lane = buffer.readInteger(as: UInt32.self), let sequence = buffer.readInteger(as: UInt64.self)
        else { return nil }
        let fill = UInt8(truncatingIfNeeded: sequence &* 31 &+ 7)
        guard buffer.readableBytesView.prefix(size - 56).allSatisfy({ $0 == fill }) else { return nil }
        return JournalBlock(volumeID: volumeID, lane: lane, sequence: sequence)
    }

    /// Where lane `lane`'s write number `sequence` goes, in 4 KiB blocks from the disk's start.
    public static func slot(lane: Int, sequence: UInt64, blocksPerLane: Int) -> Int {
        lane * blocksPerLane + Int(sequence % UInt64(blocksPerLane))
    }
}
