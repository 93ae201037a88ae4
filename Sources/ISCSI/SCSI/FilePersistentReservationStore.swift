import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps the persistent reservation state in a JSON file, replaced crash-safely: written to a
/// temporary file, fsynced, renamed over the old one, then the directory is fsynced so the rename
/// itself survives a power loss. A reader sees the old state or the new one, never a torn file.
public struct FilePersistentReservationStore: SCSIPersistentReservationStore {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public func load() throws -> SCSIPersistentReservationState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(SCSIPersistentReservationState.self, from: data)
    }

    public func save(_ state: SCSIPersistentReservationState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(state)
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SCSIDeviceError.io("open \(temporary)", errno) }
        do {
            try data.withUnsafeBytes { bytes in
                var done = 0
                while done < bytes.count {
                    guard let base = bytes.baseAddress else { break }
                    let written = write(descriptor, base + done, bytes.count - done)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw SCSIDeviceError.io("write \(temporary)", errno)
                    }
                    done += written
                }
            }
            guard fsync(descriptor) == 0 else { throw SCSIDeviceError.io("fsync \(temporary)", errno) }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else { throw SCSIDeviceError.io("rename \(temporary)", errno) }
        let directory = (path as NSString).deletingLastPathComponent
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw SCSIDeviceError.io("open \(directory)", errno) }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw SCSIDeviceError.io("fsync \(directory)", errno) }
    }
}
