import Hummingbird
import ISCSI
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Writes an upload's body into a volume: in chunks of at most a mebibyte (the memory one
/// upload holds), all-zero chunks punched as holes so an image's empty space stays unallocated,
/// and synced at the end. The body must be exactly `length` bytes.
enum SANUpload {
    static let chunkBytes = 1 << 20

    /// A page of zeros to compare against: memcmp is what makes checking a mebibyte cheap.
    nonisolated(unsafe) static let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 64).initializeMemory(as: UInt8.self, repeating: 0)

    static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let length = min(zeros.count, bytes.count - offset)
            if memcmp(bytes.baseAddress! + offset, zeros.baseAddress!, length) != 0 { return false }
            offset += length
        }
        return true
    }

    static func write(_ body: RequestBody, length: UInt64, into device: FileBlockDevice) async throws {
        var pending = ByteBuffer()
        var offset: UInt64 = 0
        var received: UInt64 = 0
        func flush(_ buffer: inout ByteBuffer) throws {
            let count = buffer.readableBytes
            guard count > 0 else { return }
            let block = offset / UInt64(device.blockSize)
            do {
                if buffer.withUnsafeReadableBytes(Self.isZero) {
                    try device.deallocate(atBlock: block, count: count / device.blockSize)
                } else {
                    try device.write(buffer, atBlock: block, forceUnitAccess: false)
                }
            } catch {
                throw SANError(.storageFailure, "cannot write the upload at byte \(offset): \(error)")
            }
            offset += UInt64(count)
            buffer.clear()
        }
        for try await var part in body {
            received += UInt64(part.readableBytes)
            guard received <= length else { throw SANError(.invalidRequest, "the body is longer than its Content-Length (\(length))") }
            while part.readableBytes > 0 {
                let take = min(part.readableBytes, chunkBytes - pending.readableBytes)
                var slice = part.readSlice(length: take)!
                pending.writeBuffer(&slice)
                if pending.readableBytes == chunkBytes { try flush(&pending) }
            }
        }
        guard received == length else { throw SANError(.invalidRequest, "the body ended after \(received) of \(length) bytes") }
        try flush(&pending)
        do {
            try device.synchronize()
        } catch {
            throw SANError(.storageFailure, "cannot sync the upload: \(error)")
        }
    }
}
