/// A host's access to a volume on managed storage, as the server recorded it.
public struct VolumeGrant: Sendable, Hashable {
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case attach, start, migration
    }

    /// The `jobID` of a grant an administrator made by hand (`grantVolumeAccess`): it stays until
    /// revoked by hand, whatever the VMs do.
    public static let administrative = "admin"

    public var volumeID: VolumeID
    public var hostID: HostID
    public var reason: Reason
    public var jobID: String?
    public var createdEpochSeconds: Int64

    public init(volumeID: VolumeID, hostID: HostID, reason: Reason, jobID: String?, createdEpochSeconds: Int64) {
        self.volumeID = volumeID
        self.hostID = hostID
        self.reason = reason
        self.jobID = jobID
        self.createdEpochSeconds = createdEpochSeconds
    }
}
