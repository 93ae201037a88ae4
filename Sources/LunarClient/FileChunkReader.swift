import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Reads a file a mebibyte at a time for a streamed upload: one consumer, in order, so at most
/// one chunk is in memory. Closes the file when read to the end or released.
final class FileChunkReader: @unchecked Sendable {
    static let chunkBytes = 1 << 20
    let path: String
    let length: Int64
    private let descriptor: Int32
    private var offset: Int64 = 0
    private let lock = NSLock()

    init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LunarClientError.notConfigured("cannot open \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            throw LunarClientError.notConfigured("cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.descriptor = descriptor
        self.length = Int64(info.st_size)
    }

    deinit { close(descriptor) }

    /// The next chunk, or nil at the end.
    func next() throws -> ByteBuffer? {
        lock.lock()
        defer { lock.unlock() }
        guard offset < length else { return nil }
        let count = Int(min(Int64(Self.chunkBytes), length - offset))
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
        guard read > 0 else {
            throw LunarClientError.notConfigured(read == 0 ? "\(path) became shorter while it was read" : "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        offset += Int64(read)
        return buffer
    }
}
