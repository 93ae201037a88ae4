import Foundation
import LunarModel
import LunarWire
import NIOCore
import NIOPosix
import Synchronization

/// Disks that are files in a folder every host mounts (the `local` provider). Connect checks the
/// file; nothing is logged into, so the list is what this process opened.
public actor LocalFileAdaptor: StorageAdaptor {
    public nonisolated let poolType = "local"
    var disks: [VolumeID: FileDisk] = [:]

    public init() {}

    public func connect(_ disk: DiskSpec) async throws -> any PhysicalDisk {
        if let existing = disks[disk.volumeID] { return existing }
        guard case .file(let path) = disk.connection else {
            throw AgentFailure(.badRequest, "pool type local needs a file path for volume \(disk.volumeID)")
        }
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw AgentFailure(.connectFailed, "cannot open \(path)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
        let connected = FileDisk(volumeID: disk.volumeID, handle: handle, blockCount: UInt64(max(size, disk.sizeBytes) / 512))
        disks[disk.volumeID] = connected
        return connected
    }

    public func disconnect(_ volumeID: VolumeID) async throws {
        guard let disk = disks.removeValue(forKey: volumeID) else { return }
        disk.close()
    }

    public func physicalDisk(_ volumeID: VolumeID) -> (any PhysicalDisk)? { disks[volumeID] }

    public func connectedDisks() -> [VolumeID] { Array(disks.keys) }
}

/// A file as a disk of 512-byte blocks.
public final class FileDisk: PhysicalDisk {
    public let volumeID: VolumeID
    public let blockSize = 512
    public let blockCount: UInt64
    let handle: Mutex<FileHandle?>

    init(volumeID: VolumeID, handle: FileHandle, blockCount: UInt64) {
        self.volumeID = volumeID
        self.handle = Mutex(handle)
        self.blockCount = blockCount
    }

    /// Blocking file calls (fsync above all) run on NIO's I/O threads, never on Swift's few
    /// cooperative threads.
    public func read(lba: UInt64, blocks: UInt32) async throws -> ByteBuffer {
        try await NIOThreadPool.singleton.runIfActive { try self.readNow(lba: lba, blocks: blocks) }
    }

    public func write(lba: UInt64, data: ByteBuffer, fua: Bool) async throws {
        try await NIOThreadPool.singleton.runIfActive { try self.writeNow(lba: lba, data: data, fua: fua) }
    }

    func readNow(lba: UInt64, blocks: UInt32) throws -> ByteBuffer {
        try handle.withLock { handle in
            guard let handle else { throw AgentFailure(.ioError, "disk \(volumeID) is disconnected") }
            try handle.seek(toOffset: lba * 512)
            let data = try handle.read(upToCount: Int(blocks) * 512) ?? Data()
            var buffer = ByteBuffer(bytes: data)
            buffer.writeRepeatingByte(0, count: Int(blocks) * 512 - data.count)
            return buffer
        }
    }

    func writeNow(lba: UInt64, data: ByteBuffer, fua: Bool) throws {
        try handle.withLock { handle in
            guard let handle else { throw AgentFailure(.ioError, "disk \(volumeID) is disconnected") }
            try handle.seek(toOffset: lba * 512)
            try handle.write(contentsOf: Data(data.readableBytesView))
            if fua { try handle.synchronize() }
        }
    }

    func close() {
        handle.withLock { handle in
            try? handle?.close()
            handle = nil
        }
    }
}
