import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Small metadata files replaced atomically and durably: write a temp file, fsync it, rename it
/// over the old one, fsync the directory. After a crash the file is the old or the new version,
/// never half of either.
enum DurableFile {
    static func write(_ data: Data, to path: String, permissions: mode_t = 0o600) throws {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, permissions)
        guard descriptor >= 0 else { throw failure("create \(temporary)") }
        let written = data.withUnsafeBytes { bytes -> Bool in
            var done = 0
            while done < bytes.count {
                let result = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if result < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += result
            }
            return true
        }
        guard written, fsync(descriptor) == 0 else {
            let error = failure("write \(temporary)")
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = failure("rename \(temporary)")
            unlink(temporary)
            throw error
        }
        try syncDirectory(of: path)
    }

    /// Removes a file durably (the directory entry is gone after a crash too).
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw failure("remove \(path)") }
        try syncDirectory(of: path)
    }

    static func syncDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open \(directory)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("fsync \(directory)") }
    }

    static func failure(_ operation: String) -> SANError {
        SANError(.storageFailure, "\(operation) failed: \(String(cString: strerror(errno)))")
    }
}
