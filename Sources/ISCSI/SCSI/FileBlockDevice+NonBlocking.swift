import NIOCore

#if canImport(Glibc)
import CISCSIShims
import Glibc
#endif

extension FileBlockDevice {
    /// Reads blocks only if the page cache holds them all (RWF_NOWAIT); nil when the read would
    /// wait for the disk. Lets the transport answer cached reads on its event loop.
    public func readIfCached(atBlock block: UInt64, count: Int) throws -> ByteBuffer? {
        #if canImport(Glibc)
        let length = count * blockSize
        let offset = off_t(block) * off_t(blockSize)
        let descriptor = self.descriptor
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var wouldBlock = false
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer -> Int in
            var done = 0
            while done < length {
                let result = ciscsi_pread_nowait(descriptor, pointer.baseAddress! + done, length - done, offset + off_t(done))
                if result < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN || errno == EOPNOTSUPP {
                        wouldBlock = true
                        return 0
                    }
                    throw SCSIDeviceError.io("read", errno)
                }
                if result == 0 { break }
                done += result
            }
            if done < length { (pointer.baseAddress! + done).initializeMemory(as: UInt8.self, repeating: 0, count: length - done) }
            return length
        }
        return wouldBlock ? nil : buffer
        #else
        return nil
        #endif
    }
}
