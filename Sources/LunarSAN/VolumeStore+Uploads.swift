import ISCSI
import LunarModel

extension VolumeStore {
    /// Reserves `name` for an upload of `length` bytes from the admin API and hands back its
    /// device. Refused while any initiator is logged in (a host would read a half-written disk)
    /// or another upload runs; grants are refused until `endUpload`.
    public func beginUpload(name: String, length: UInt64) throws -> FileBlockDevice {
        guard let volume = volumes[name] else { throw notFound(name) }
        guard !uploadsUnderWay.contains(name) else { throw SANError(.volumeInUse, "volume \(name) is being written by another upload") }
        guard !copiesUnderWay.values.contains(name) else { throw SANError(.volumeInUse, "volume \(name) is being copied; write it once that ends") }
        let connected = sessions?.sessions(target: Self.iqn(configuration.iqnPrefix, name)) ?? []
        guard connected.isEmpty else {
            throw SANError(.volumeInUse, "volume \(name) has \(connected.count) session(s); data is written only into a volume nobody is logged in to")
        }
        guard length <= volume.metadata.sizeBytes else {
            throw SANError(.invalidSize, "\(length) bytes do not fit in volume \(name) (\(volume.metadata.sizeBytes) bytes)")
        }
        guard length % UInt64(volume.device.blockSize) == 0 else {
            throw SANError(.invalidSize, "an upload is a whole number of \(volume.device.blockSize)-byte blocks; \(length) bytes is not")
        }
        uploadsUnderWay.insert(name)
        return volume.device
    }

    /// Ends an upload `beginUpload` started, whether or not it finished.
    public func endUpload(name: String) {
        uploadsUnderWay.remove(name)
    }

    /// The image of the volume a new one is copied from, checked to fit in `sizeBytes`.
    func copySource(_ source: String, into sizeBytes: UInt64) throws -> String {
        guard let volume = volumes[source] else { throw SANError(.volumeNotFound, "no volume named \(source) to copy") }
        guard !uploadsUnderWay.contains(source) else { throw SANError(.volumeInUse, "volume \(source) is being written by an upload") }
        guard volume.metadata.sizeBytes <= sizeBytes else {
            throw SANError(.invalidSize, "a copy of \(source) needs at least \(volume.metadata.sizeBytes) bytes; asked for \(sizeBytes)")
        }
        return volume.device.path
    }

    /// Copies `sourceImage`'s data into the fresh image at `image`, holes kept, on a thread of
    /// its own rather than the actor's.
    static func copy(_ sourceImage: String, into image: String) async throws {
        do {
            _ = try await Task.detached(priority: .utility) { try SparseFileCopy.copy(fromPath: sourceImage, toPath: image) }.value
        } catch {
            throw SANError(.storageFailure, "cannot copy \(sourceImage): \(error)")
        }
    }
}
