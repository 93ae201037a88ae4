#if canImport(Glibc)
import CISCSIShims
import Glibc
#endif

/// Copies one file's data into another without reading its holes: a template image or a volume
/// is mostly unwritten, and copying it whole would both take time and allocate every block of the
/// copy. The data ranges are found with `SEEK_DATA`/`SEEK_HOLE` and moved with `copy_file_range`
/// (in the kernel, a reflink where the file system can), falling back to `pread`/`pwrite`.
///
/// The destination is opened by the caller, already sized: ranges it does not receive stay holes
/// (they read as zeros, as the source's holes do). It is synced before this returns.
public enum SparseFileCopy {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Copies the first `length` bytes of `source` (every byte when nil) into `destination`.
    /// - Returns: the bytes of data copied (holes not counted).
    public static func copy(from source: Int32, to destination: Int32, length: Int64? = nil) throws -> Int64 {
        var info = stat()
        guard fstat(source, &info) == 0 else { throw failure("stat the source") }
        let end = min(Int64(info.st_size), length ?? Int64(info.st_size))
        var copied: Int64 = 0
        var position: Int64 = 0
        while position < end {
            let dataStart = ciscsi_seek_data(source, Int(position))
            if dataStart < 0 {
                if errno == ENXIO { break }  // nothing but a hole to the end
                throw failure("find data in the source")
            }
            guard Int64(dataStart) < end else { break }
            var holeStart = Int64(ciscsi_seek_hole(source, dataStart))
            if holeStart < 0 { holeStart = end }
            let rangeEnd = min(holeStart, end)
            try copyRange(source, destination, from: Int64(dataStart), to: rangeEnd)
            copied += rangeEnd - Int64(dataStart)
            position = rangeEnd
        }
        guard fsync(destination) == 0 else { throw failure("sync the copy") }
        return copied
    }

    /// Copies the file at `sourcePath` into the file at `destinationPath`, which must exist.
    public static func copy(fromPath sourcePath: String, toPath destinationPath: String, length: Int64? = nil) throws -> Int64 {
        let source = open(sourcePath, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw failure("open \(sourcePath)") }
        defer { close(source) }
        let destination = open(destinationPath, O_WRONLY | O_CLOEXEC)
        guard destination >= 0 else { throw failure("open \(destinationPath)") }
        defer { close(destination) }
        return try copy(from: source, to: destination, length: length)
    }

    static func copyRange(_ source: Int32, _ destination: Int32, from start: Int64, to end: Int64) throws {
        var offset = start
        var useKernel = true
        var buffer: [UInt8] = []
        while offset < end {
            let chunk = Int(min(end - offset, 8 << 20))
            if useKernel {
                let moved = ciscsi_copy_range(source, destination, Int(offset), chunk)
                if moved > 0 {
                    offset += Int64(moved)
                    continue
                }
                // Not supported here (another file system, an old kernel): copy through memory.
                guard moved < 0, [EXDEV, EINVAL, ENOSYS, EOPNOTSUPP].contains(errno) else {
                    throw failure(moved == 0 ? "copy: the source ended early" : "copy")
                }
                useKernel = false
            }
            if buffer.count < chunk { buffer = [UInt8](repeating: 0, count: chunk) }
            let read = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, chunk, off_t(offset)) }
            guard read > 0 else { throw failure(read == 0 ? "copy: the source ended early" : "read the source") }
            var written = 0
            while written < read {
                let result = buffer.withUnsafeBytes { pwrite(destination, $0.baseAddress! + written, read - written, off_t(offset) + off_t(written)) }
                guard result > 0 else { throw failure("write the copy") }
                written += result
            }
            offset += Int64(read)
        }
    }

    static func failure(_ action: String) -> Failure {
        Failure(description: "cannot \(action): \(String(cString: strerror(errno)))")
    }
}
