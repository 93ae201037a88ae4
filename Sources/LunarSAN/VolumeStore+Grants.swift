import LunarModel

extension VolumeStore {
    /// Allows `initiator` on the volume and says how to connect, as one step of this actor: the
    /// secrets are read before anything changes, so a failure leaves the volume's access as it was.
    /// Granting again is a no-op that answers the same.
    public func grant(name: String, initiator: String, portal: String) throws -> SANGrant {
        guard let volume = volumes[name] else { throw notFound(name) }
        guard !uploadsUnderWay.contains(name) else { throw SANError(.volumeInUse, "volume \(name) is being written by an upload; grant it once that ends") }
        let secrets = try volume.metadata.account.map { try accountSecrets($0) }
        let info = try allow(name: name, initiator: initiator)
        return SANGrant(
            volume: name, initiator: try Self.normalizedInitiator(initiator), portal: portal, iqn: info.iqn, lun: info.lun,
            chapUser: secrets?.name, chapSecret: secrets?.initiatorSecret, targetSecret: secrets?.targetSecret
        )
    }

    /// The mirror of `grant`: returns once the initiator is fenced off the volume. Revoking what
    /// is not granted answers `not_found`, so a caller can tell "already gone" from a failure.
    public func revokeGrant(name: String, initiator: String) async throws {
        _ = try await disallow(name: name, initiator: initiator)
    }
}
