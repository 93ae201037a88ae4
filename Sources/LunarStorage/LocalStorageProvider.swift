import Foundation
import ISCSI
import LunarModel

/// The unmanaged `local` provider: a pool is a folder (`url=file:///path`) every host of its
/// scope can reach, and a volume is a sparse raw file there. There is no per-host access control
/// and QoS is left to the hypervisor.
public struct LocalStorageProvider: StorageProvider {
    public let name = "local"
    public let isManaged = false
    /// QEMU throttles a local volume's maximum IOPS; nothing reserves its minimum.
    public let qosEnforcement = QoSEnforcement.hypervisor

    public init() {}

    /// The folder a `file://` URL names.
    /// - Throws: a 431 when the URL is not an absolute `file://` URL.
    public static func folder(of url: String) throws -> String {
        guard url.hasPrefix("file://") else {
            throw LunarError.invalidParameter("url", value: url, reason: "the local provider takes file:///absolute/path")
        }
        let path = String(url.dropFirst("file://".count)).removingPercentEncoding ?? ""
        guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw LunarError.invalidParameter("url", value: url, reason: "the path must be absolute and must not contain '..'")
        }
        return path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    func file(for volume: VolumeDescriptor, in pool: PoolDescriptor) throws -> String {
        try Self.folder(of: pool.url) + "/" + volume.id.uuid + ".img"
    }

    public func initialize(_ pool: PoolDescriptor) async throws -> PoolCapacity {
        let folder = try Self.folder(of: pool.url)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw LunarError.invalidParameter("url", value: pool.url, reason: "\(folder) exists and is not a folder")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw LunarError.invalidParameter("url", value: pool.url, reason: "cannot create \(folder): \(error.localizedDescription)")
            }
        }
        guard access(folder, W_OK) == 0 else {
            throw LunarError.invalidParameter("url", value: pool.url, reason: "\(folder) is not writable")
        }
        return try await capacity(of: pool)
    }

    public func attach(_ pool: PoolDescriptor, to attachment: PoolAttachment) async throws {}
    public func enterMaintenance(_ pool: PoolDescriptor) async throws {}
    public func cancelMaintenance(_ pool: PoolDescriptor) async throws {}

    /// Leaves the folder (it may hold other things); only Lunar's volume files were ever ours,
    /// and they are deleted with their volumes.
    public func delete(_ pool: PoolDescriptor) async throws {}

    public func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws -> String {
        let path = try file(for: volume, in: pool)
        let descriptor = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.ioError("create", path) }
        defer { close(descriptor) }
        // A sparse file: the size is set, no block is written.
        guard ftruncate(descriptor, off_t(volume.sizeBytes)) == 0 else { throw Self.ioError("size", path) }
        guard fsync(descriptor) == 0 else { throw Self.ioError("sync", path) }
        return path
    }

    /// A sparse copy of the source's file (holes stay holes; a reflink where the file system can).
    public func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor, copyOf source: VolumeDescriptor) async throws -> String {
        let sourcePath = try source.path ?? file(for: source, in: pool)
        let path = try await createVolume(volume, in: pool)
        do {
            _ = try SparseFileCopy.copy(fromPath: sourcePath, toPath: path)
        } catch {
            unlink(path)
            throw LunarError(.internalError, "local storage: cannot copy \(sourcePath) to \(path): \(error)")
        }
        return path
    }

    public func write(_ volume: VolumeDescriptor, in pool: PoolDescriptor, fromFile source: String) async throws {
        let path = try volume.path ?? file(for: volume, in: pool)
        do {
            _ = try SparseFileCopy.copy(fromPath: source, toPath: path)
        } catch {
            throw LunarError(.internalError, "local storage: cannot write \(source) into \(path): \(error)")
        }
    }

    public func deleteVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws {
        let path = try volume.path ?? file(for: volume, in: pool)
        guard unlink(path) == 0 || errno == ENOENT else { throw Self.ioError("delete", path) }
    }

    public func grantAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws -> VolumeConnection {
        .file(path: try volume.path ?? file(for: volume, in: pool))
    }

    public func revokeAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws {}

    public func resize(_ volume: VolumeDescriptor, toBytes newSizeBytes: Int64, minIOPS: Int64?, maxIOPS: Int64?, in pool: PoolDescriptor) async throws {
        let path = try volume.path ?? file(for: volume, in: pool)
        guard truncate(path, off_t(newSizeBytes)) == 0 else { throw Self.ioError("resize", path) }
    }

    public func capacity(of pool: PoolDescriptor) async throws -> PoolCapacity {
        let folder = try Self.folder(of: pool.url)
        var stats = statvfs()
        guard statvfs(folder, &stats) == 0 else { throw Self.ioError("measure", folder) }
        let total = Int64(stats.f_blocks) * Int64(stats.f_frsize)
        var used: Int64 = 0
        // Blocks really allocated by Lunar's volume files (thin files count what was written).
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".img") {
            var info = stat()
            if stat(folder + "/" + name, &info) == 0 { used += Int64(info.st_blocks) * 512 }
        }
        return PoolCapacity(totalBytes: total, usedBytes: used, totalIOPS: nil)
    }

    static func ioError(_ action: String, _ path: String) -> LunarError {
        LunarError(.internalError, "local storage: cannot \(action) \(path): \(String(cString: strerror(errno)))")
    }
}
