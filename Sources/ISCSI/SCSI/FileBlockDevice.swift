import NIOCore
import Synchronization

#if canImport(Glibc)
import CISCSIShims
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A block device on a sparse file. Durability: FUA writes and `synchronize` return only after
/// `fdatasync`; any I/O error is thrown, never hidden. Deallocation punches holes.
public final class FileBlockDevice: SCSIBlockDevice {
    public let blockSize: Int
    let blocks: Atomic<UInt64>
    let descriptor: Int32
    public let path: String

    public var blockCount: UInt64 { blocks.load(ordering: .relaxed) }
    /// pwrite without O_DIRECT: a write lands in the page cache.
    public var writesAreBuffered: Bool { true }

    /// Opens `path`, creating it with `sizeBytes` when it does not exist.
    public init(path: String, sizeBytes: UInt64? = nil, blockSize: Int = 512) throws {
        precondition(blockSize == 512 || blockSize == 4096)
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SCSIDeviceError.io("open \(path)", errno) }
        if let sizeBytes, ftruncate(descriptor, off_t(sizeBytes)) != 0 {
            let code = errno
            close(descriptor)
            throw SCSIDeviceError.io("size \(path)", code)
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            throw SCSIDeviceError.io("stat \(path)", code)
        }
        self.path = path
        self.descriptor = descriptor
        self.blockSize = blockSize
        self.blocks = Atomic(UInt64(info.st_size) / UInt64(blockSize))
    }

    deinit { close(descriptor) }

    /// Grows (never shrinks) the device; the new blocks read as zeros.
    public func grow(toBytes bytes: UInt64) throws {
        guard bytes / UInt64(blockSize) > blockCount else { return }
        guard ftruncate(descriptor, off_t(bytes)) == 0 else { throw SCSIDeviceError.io("grow", errno) }
        guard fsync(descriptor) == 0 else { throw SCSIDeviceError.io("fsync", errno) }
        blocks.store(bytes / UInt64(blockSize), ordering: .relaxed)
    }

    public func read(atBlock block: UInt64, count: Int) throws -> ByteBuffer {
        let length = count * blockSize
        let offset = off_t(block) * off_t(blockSize)
        let descriptor = self.descriptor
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer -> Int in
            var done = 0
            while done < length {
                let result = pread(descriptor, pointer.baseAddress! + done, length - done, offset + off_t(done))
                if result < 0 {
                    if errno == EINTR { continue }
                    throw SCSIDeviceError.io("read", errno)
                }
                if result == 0 { break }  // past the end of a short file: zeros below
                done += result
            }
            if done < length { (pointer.baseAddress! + done).initializeMemory(as: UInt8.self, repeating: 0, count: length - done) }
            return length
        }
        return buffer
    }

    public func write(_ data: ByteBuffer, atBlock block: UInt64, forceUnitAccess: Bool) throws {
        let offset = off_t(block) * off_t(blockSize)
        let descriptor = self.descriptor
        try data.withUnsafeReadableBytes { pointer in
            var done = 0
            while done < pointer.count {
                let result = pwrite(descriptor, pointer.baseAddress! + done, pointer.count - done, offset + off_t(done))
                if result < 0 {
                    if errno == EINTR { continue }
                    throw SCSIDeviceError.io("write", errno)
                }
                done += result
            }
        }
        if forceUnitAccess, fdatasync(descriptor) != 0 { throw SCSIDeviceError.io("fdatasync", errno) }
    }

    public func synchronize() throws {
        if fdatasync(descriptor) != 0 { throw SCSIDeviceError.io("fdatasync", errno) }
    }

    public func deallocate(atBlock block: UInt64, count: Int) throws {
        guard count > 0 else { return }
        let offset = off_t(block) * off_t(blockSize)
        let length = off_t(count) * off_t(blockSize)
        #if canImport(Glibc)
        if ciscsi_punch_hole(descriptor, offset, length) == 0 { return }
        guard errno == EOPNOTSUPP else { throw SCSIDeviceError.io("punch hole", errno) }
        #endif
        // A file system without holes: write zeros so the blocks still read back as zeros.
        try write(ByteBuffer(repeating: 0, count: count * blockSize), atBlock: block, forceUnitAccess: false)
    }

    public func mappingRun(atBlock block: UInt64, limit: UInt64) throws -> (mapped: Bool, blocks: UInt64) {
        let start = off_t(block) * off_t(blockSize)
        let end = start + off_t(limit) * off_t(blockSize)
        #if canImport(Glibc)
        let nextData = ciscsi_seek_data(descriptor, start)
        if nextData < 0 {
            // ENXIO: no data from here to the end of the file.
            guard errno == ENXIO else { throw SCSIDeviceError.io("seek data", errno) }
            return (false, limit)
        }
        if nextData > start {
            // A hole first; only whole blocks count as unmapped.
            let holeBlocks = UInt64(nextData - start) / UInt64(blockSize)
            if holeBlocks > 0 { return (false, min(limit, holeBlocks)) }
        }
        let nextHole = ciscsi_seek_hole(descriptor, start)
        guard nextHole >= 0 else { throw SCSIDeviceError.io("seek hole", errno) }
        let mappedBytes = max(off_t(blockSize), min(nextHole, end) - start)
        return (true, min(limit, (UInt64(mappedBytes) + UInt64(blockSize) - 1) / UInt64(blockSize)))
        #else
        _ = end
        return (true, limit)
        #endif
    }
}

/// A failure of the storage under a logical unit (reported to initiators as MEDIUM ERROR).
public struct SCSIDeviceError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let errorNumber: Int32

    static func io(_ operation: String, _ errorNumber: Int32) -> SCSIDeviceError {
        SCSIDeviceError(operation: operation, errorNumber: errorNumber)
    }

    public var description: String { "\(operation) failed: errno \(errorNumber)" }
}
