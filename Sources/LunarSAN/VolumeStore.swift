import Foundation
import ISCSI
import Logging
import LunarModel

#if canImport(Glibc)
import Glibc
#endif

/// The node's volumes: one sparse image and one metadata file per volume in
/// `<data>/san/volumes`. Changes are serialized by the actor and made crash-safe by ordering:
/// - create: the image is made and synced, then the metadata written (an image without
///   metadata is a create that never finished and is removed at start);
/// - resize: the metadata is written, then the image grown (at start the image is brought to
///   the metadata's size, finishing a grow a crash interrupted);
/// - delete: the metadata is removed, then the image.
public actor VolumeStore {
    struct Volume {
        var metadata: VolumeMetadata
        var device: FileBlockDevice
        var unit: SCSILogicalUnit
    }

    let configuration: SANConfiguration
    let logger: Logger
    nonisolated let catalog = SANCatalog()
    /// The node's QoS: every served volume is registered with it.
    public nonisolated let qos: QoSGate
    var volumes: [String: Volume] = [:]
    /// Volume access groups, by name (`groups.json`).
    var groups: [String: AccessGroup] = [:]
    /// Accounts, by name (`accounts.json`, secrets sealed with `secrets`).
    var accounts: [String: SANAccount] = [:]
    /// Whether the last capacity reading found the disk's free space low (warned once per crossing).
    var freeSpaceLow = false
    /// Fences under way, by volume and initiator (see `revokingChange`).
    var fencesUnderWay: [String: Task<Int, Never>] = [:]
    /// Volumes the admin API is writing data into (no grant, delete or copy meanwhile).
    var uploadsUnderWay: Set<String> = []
    /// Volumes being made as copies, and of what (neither is deleted or written meanwhile).
    var copiesUnderWay: [String: String] = [:]
    nonisolated let secrets: SecretBox
    /// Set once the target listens, so deletes can see and drop sessions.
    var sessions: ISCSISessionRegistry?

    var directory: String { configuration.volumesDirectory }

    /// Opens the store, loading every volume in the folder.
    public init(configuration: SANConfiguration, logger: Logger, qos: QoSGate? = nil) throws {
        self.configuration = configuration
        self.qos =
            qos
            ?? QoSGate(
                capacity: SANNodeQoS(enabled: configuration.qosEnabled, capacityIOPS: configuration.capacityIOPS ?? 1_000_000, capacitySource: "config")
            )
        self.logger = logger
        try FileManager.default.createDirectory(atPath: configuration.volumesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.secrets = try SecretBox.loadOrCreate(configuration.secretKeyFile)
        let accounts = try Self.loadAccounts(configuration.accountsFile, box: secrets)
        var loaded: [String: Volume] = [:]
        let names = try FileManager.default.contentsOfDirectory(atPath: configuration.volumesDirectory)
        for file in names where file.hasSuffix(".json") {
            let name = String(file.dropLast(5))
            let path = (configuration.volumesDirectory as NSString).appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let metadata: VolumeMetadata
            do {
                metadata = try VolumeMetadata.decoder.decode(VolumeMetadata.self, from: data)
            } catch {
                throw SANError(.storageFailure, "cannot read volume metadata \(path): \(error)")
            }
            guard metadata.format <= VolumeMetadata.currentFormat else {
                throw SANError(.storageFailure, "\(path) was written by a newer Lunar (format \(metadata.format)); upgrade this node")
            }
            guard metadata.name == name else { throw SANError(.storageFailure, "\(path) names volume \(metadata.name)") }
            let image = Self.imagePath(configuration.volumesDirectory, name)
            guard FileManager.default.fileExists(atPath: image) else {
                logger.error("volume image missing; the volume is not served", metadata: ["san.volume": .string(name), "file": .string(image)])
                continue
            }
            let device = try Self.openDevice(image, metadata: metadata, create: false)
            loaded[name] = Volume(metadata: metadata, device: device, unit: try Self.makeUnit(metadata, device: device, directory: configuration.volumesDirectory))
        }
        for file in names where file.hasSuffix(".img") && loaded[String(file.dropLast(4))] == nil {
            let metadataPath = (configuration.volumesDirectory as NSString).appendingPathComponent(String(file.dropLast(4)) + ".json")
            guard !FileManager.default.fileExists(atPath: metadataPath) else { continue }
            // A create that crashed before its metadata, or a delete after it: nobody was told it exists.
            logger.notice("removing an image without metadata", metadata: ["file": .string(file)])
            try? DurableFile.remove((configuration.volumesDirectory as NSString).appendingPathComponent(file))
        }
        self.volumes = loaded
        var groups = try Self.loadGroups(configuration.groupsFile)
        // Volumes from before access groups kept their initiators in their metadata: move them
        // into the volume's own group (the group file is written before the metadata is cleared).
        var migrated: [String] = []
        for (name, volume) in loaded where !volume.metadata.allowedInitiators.isEmpty {
            let automatic = AccessGroup.automaticName(for: name)
            groups[automatic, default: AccessGroup(name: automatic, initiators: [], volumes: [name])].initiators.formUnion(volume.metadata.allowedInitiators)
            migrated.append(name)
        }
        // A group naming a volume that is gone (deleted by a crash between the two files) drops it.
        for name in groups.keys { groups[name]?.volumes.formIntersection(loaded.keys) }
        self.groups = groups
        self.accounts = accounts
        if !migrated.isEmpty {
            try Self.writeGroups(groups, to: configuration.groupsFile)
            for name in migrated {
                self.volumes[name]?.metadata.allowedInitiators = []
                try DurableFile.write(try VolumeMetadata.encoder.encode(self.volumes[name]!.metadata), to: Self.metadataPath(configuration.volumesDirectory, name))
            }
        }
        for (name, volume) in self.volumes {
            let target = Self.iqn(configuration.iqnPrefix, name)
            self.qos.register(target: target, volume: name, qos: volume.metadata.qos ?? .unlimited)
            catalog.publish(
                target: target,
                entry: .init(
                    unit: volume.unit, allowedInitiators: Self.initiators(of: name, in: groups),
                    credentials: volume.metadata.account.flatMap { accounts[$0]?.credentials }
                )
            )
        }
        publishDiscovery(accounts)
        logger.info("volumes loaded", metadata: ["san.volumes": .stringConvertible(loaded.count)])
    }

    static func imagePath(_ directory: String, _ name: String) -> String { (directory as NSString).appendingPathComponent(name + ".img") }
    static func metadataPath(_ directory: String, _ name: String) -> String { (directory as NSString).appendingPathComponent(name + ".json") }
    static func iqn(_ prefix: String, _ name: String) -> String { prefix + ":" + name }

    static func openDevice(_ path: String, metadata: VolumeMetadata, create: Bool) throws -> FileBlockDevice {
        do {
            return try FileBlockDevice(path: path, sizeBytes: metadata.sizeBytes, blockSize: metadata.blockSize)
        } catch {
            throw SANError(.storageFailure, "cannot open \(path): \(error)")
        }
    }

    /// The volume's logical unit; persistent reservations (APTPL) live in `<name>.pr` beside it.
    static func makeUnit(_ metadata: VolumeMetadata, device: FileBlockDevice, directory: String) throws -> SCSILogicalUnit {
        let store = FilePersistentReservationStore(path: (directory as NSString).appendingPathComponent(metadata.name + ".pr"))
        do {
            return try SCSILogicalUnit(device: device, serial: metadata.serial, naa: metadata.naa, reservationStore: store)
        } catch {
            throw SANError(.storageFailure, "cannot read the persistent reservations of \(metadata.name) in \(store.path): \(error)")
        }
    }

    func attach(sessions: ISCSISessionRegistry) {
        self.sessions = sessions
    }

    // MARK: Reading

    public func list() -> [SANVolumeInfo] {
        volumes.keys.sorted().compactMap { info($0) }
    }

    public func show(_ name: String) throws -> SANVolumeInfo {
        guard let info = info(name) else { throw notFound(name) }
        return info
    }

    func info(_ name: String) -> SANVolumeInfo? {
        guard let volume = volumes[name] else { return nil }
        let iqn = Self.iqn(configuration.iqnPrefix, name)
        var allocated: UInt64 = 0
        var status = stat()
        if stat(volume.device.path, &status) == 0 { allocated = UInt64(status.st_blocks) * 512 }
        let naa = (volume.metadata.naa & 0x0FFF_FFFF_FFFF_FFFF) | 0x6000_0000_0000_0000
        return SANVolumeInfo(
            name: name, sizeBytes: volume.metadata.sizeBytes, allocatedBytes: allocated, iqn: iqn, lun: 0, serial: volume.metadata.serial,
            naa: "0x" + String(naa, radix: 16), allowedInitiators: Self.initiators(of: name, in: groups).sorted(),
            sessions: Array(Set((sessions?.sessions(target: iqn) ?? []).map(\.initiator))).sorted(),
            created: ISO8601DateFormatter().string(from: volume.metadata.created), qos: volume.metadata.qos ?? .unlimited, account: volume.metadata.account
        )
    }

    func notFound(_ name: String) -> SANError { SANError(.volumeNotFound, "no volume named \(name)") }

    // MARK: Changes

    /// Creates a volume, empty or (`source`) holding a copy of another volume's data made here on
    /// the node: a root disk from a template never passes through the management server or a host.
    /// The copy is made and synced before the metadata is written, so a crash leaves no half copy.
    /// It runs off this actor: fences and every other call go on while a large image is copied
    /// (the name and the source are held meanwhile: no second create, no delete, no upload).
    public func create(name: String, sizeBytes: UInt64, qos: SANVolumeQoS? = nil, account: String? = nil, source: String? = nil) async throws -> SANVolumeInfo {
        guard VolumeMetadata.validName(name) else {
            throw SANError(.invalidName, "volume names are 1 to 64 lower-case letters, digits, '-' or '.', starting with a letter or digit")
        }
        guard volumes[name] == nil, !copiesUnderWay.keys.contains(name) else { throw SANError(.volumeExists, "a volume named \(name) exists") }
        guard volumes.count + copiesUnderWay.count < configuration.maximumVolumes else {
            throw SANError(.limitExceeded, "this node holds at most \(configuration.maximumVolumes) volumes")
        }
        try checkSize(sizeBytes)
        if let problem = qos?.problem { throw SANError(.invalidQoS, problem) }
        if let account, accounts[account] == nil { throw accountNotFound(account) }
        let sourceImage = try source.map { try copySource($0, into: sizeBytes) }
        var generator = SystemRandomNumberGenerator()
        let serial = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let metadata = VolumeMetadata(
            name: name, sizeBytes: sizeBytes, blockSize: 512, serial: serial, naa: UInt64.random(in: 1...0x0FFF_FFFF_FFFF_FFFF, using: &generator),
            allowedInitiators: [], created: Date(), qos: qos, account: account
        )
        let image = Self.imagePath(directory, name)
        try? DurableFile.remove(image)  // a leftover of an interrupted create
        let device = try Self.openDevice(image, metadata: metadata, create: true)
        do {
            if let source, let sourceImage {
                copiesUnderWay[name] = source
                defer { copiesUnderWay[name] = nil }
                try await Self.copy(sourceImage, into: image)
            }
            try device.synchronize()
            try DurableFile.syncDirectory(of: image)
            try writeMetadata(metadata)
        } catch {
            try? DurableFile.remove(image)
            throw error
        }
        try? DurableFile.remove((directory as NSString).appendingPathComponent(name + ".pr"))  // never another volume's reservations
        let unit = try Self.makeUnit(metadata, device: device, directory: directory)
        volumes[name] = Volume(metadata: metadata, device: device, unit: unit)
        publish(name)
        logger.info(
            "volume created", metadata: ["san.volume": .string(name), "san.size_bytes": .stringConvertible(sizeBytes), "san.source": .string(source ?? "-")]
        )
        return info(name)!
    }

    /// Grows a volume online; connected initiators get CAPACITY DATA HAS CHANGED.
    public func resize(name: String, sizeBytes: UInt64) throws -> SANVolumeInfo {
        guard var volume = volumes[name] else { throw notFound(name) }
        try checkSize(sizeBytes)
        guard sizeBytes >= volume.metadata.sizeBytes else {
            throw SANError(.invalidSize, "volumes only grow: \(name) is \(volume.metadata.sizeBytes) bytes, asked for \(sizeBytes)")
        }
        guard sizeBytes > volume.metadata.sizeBytes else { return info(name)! }
        volume.metadata.sizeBytes = sizeBytes
        try writeMetadata(volume.metadata)
        do {
            try volume.device.grow(toBytes: sizeBytes)
        } catch {
            throw SANError(.storageFailure, "cannot grow \(name): \(error)")
        }
        volumes[name] = volume
        volume.unit.capacityChanged()
        logger.info("volume resized", metadata: ["san.volume": .string(name), "san.size_bytes": .stringConvertible(sizeBytes)])
        return info(name)!
    }

    /// Deletes a volume no initiator is logged in to.
    public func delete(name: String) throws {
        guard volumes[name] != nil else { throw notFound(name) }
        guard !uploadsUnderWay.contains(name) else { throw SANError(.volumeInUse, "volume \(name) is being written by an upload") }
        guard !copiesUnderWay.values.contains(name) else { throw SANError(.volumeInUse, "volume \(name) is being copied") }
        let connected = sessions?.sessions(target: Self.iqn(configuration.iqnPrefix, name)) ?? []
        guard connected.isEmpty else {
            throw SANError(
                .volumeInUse,
                "volume \(name) has \(connected.count) session(s) from \(Set(connected.map(\.initiator)).sorted().joined(separator: ", ")); disallow them first"
            )
        }
        catalog.publish(target: Self.iqn(configuration.iqnPrefix, name), entry: nil)
        qos.unregister(target: Self.iqn(configuration.iqnPrefix, name))
        var remaining = groups
        remaining[AccessGroup.automaticName(for: name)] = nil
        for group in remaining.keys { remaining[group]?.volumes.remove(name) }
        if remaining != groups {
            try Self.writeGroups(remaining, to: configuration.groupsFile)
            groups = remaining
        }
        try DurableFile.remove(Self.metadataPath(directory, name))
        volumes[name] = nil
        try? DurableFile.remove(Self.imagePath(directory, name))
        for suffix in [".pr"] { try? DurableFile.remove((directory as NSString).appendingPathComponent(name + suffix)) }
        logger.info("volume deleted", metadata: ["san.volume": .string(name)])
    }

    /// Shorthand over access groups: adds the initiator to the volume's own group.
    public func allow(name: String, initiator: String) throws -> SANVolumeInfo {
        guard volumes[name] != nil else { throw notFound(name) }
        let normalized = try Self.normalizedInitiator(initiator)
        let automatic = AccessGroup.automaticName(for: name)
        var group = groups[automatic] ?? AccessGroup(name: automatic, initiators: [], volumes: [name])
        guard !group.initiators.contains(normalized) else { return info(name)! }
        guard group.initiators.count < 64 else { throw SANError(.limitExceeded, "a volume allows at most 64 initiators") }
        group.initiators.insert(normalized)
        try changeGroups { $0[automatic] = group }
        return info(name)!
    }

    /// Takes an initiator's access to a volume away: refused if another group grants it;
    /// returns after the initiator is fenced off the volume.
    public func disallow(name: String, initiator: String) async throws -> SANVolumeInfo {
        guard volumes[name] != nil else { throw notFound(name) }
        let normalized = initiator.lowercased()
        let automatic = AccessGroup.automaticName(for: name)
        let others = groups.values.filter { $0.name != automatic && $0.volumes.contains(name) && $0.initiators.contains(normalized) }.map(\.name).sorted()
        guard others.isEmpty else {
            throw SANError(.grantedByGroup, "\(initiator) reaches volume \(name) through group(s) \(others.joined(separator: ", ")); remove it there")
        }
        guard groups[automatic]?.initiators.contains(normalized) == true else {
            // Taken away already, perhaps by a revoke still fencing: "not found" only once fenced.
            await awaitFence(volume: name, initiator: normalized)
            throw SANError(.notFound, "\(initiator) is not allowed on volume \(name)")
        }
        try await revokingChange { $0[automatic]?.initiators.remove(normalized) }
        return info(name)!
    }

    func checkSize(_ sizeBytes: UInt64) throws {
        guard sizeBytes >= 1 << 20, sizeBytes % 512 == 0 else { throw SANError(.invalidSize, "sizes are at least 1 MiB and a multiple of 512 bytes") }
        guard sizeBytes <= configuration.maximumVolumeBytes else {
            throw SANError(.invalidSize, "volumes on this node are at most \(ByteSize.format(configuration.maximumVolumeBytes))")
        }
    }

    func writeMetadata(_ metadata: VolumeMetadata) throws {
        try DurableFile.write(try VolumeMetadata.encoder.encode(metadata), to: Self.metadataPath(directory, metadata.name))
    }

    /// Changes a volume's QoS; connected initiators see it on their next command, no reconnect.
    public func setQoS(name: String, qos newQoS: SANVolumeQoS) throws -> SANVolumeInfo {
        guard var volume = volumes[name] else { throw notFound(name) }
        if let problem = newQoS.problem { throw SANError(.invalidQoS, problem) }
        volume.metadata.qos = newQoS
        try writeMetadata(volume.metadata)
        volumes[name] = volume
        publish(name)
        logger.info(
            "volume QoS changed",
            metadata: [
                "san.volume": .string(name), "san.min_iops": .stringConvertible(newQoS.minIOPS), "san.max_iops": .stringConvertible(newQoS.maxIOPS),
                "san.burst_iops": .stringConvertible(newQoS.burstIOPS),
            ]
        )
        return info(name)!
    }

    public func statistics(_ name: String) throws -> SANVolumeStats {
        guard volumes[name] != nil, let statistics = qos.statistics(target: Self.iqn(configuration.iqnPrefix, name)) else { throw notFound(name) }
        return statistics
    }

    func publish(_ name: String) {
        guard let volume = volumes[name] else { return }
        qos.register(target: Self.iqn(configuration.iqnPrefix, name), volume: name, qos: volume.metadata.qos ?? .unlimited)
        catalog.publish(
            target: Self.iqn(configuration.iqnPrefix, name),
            entry: .init(
                unit: volume.unit, allowedInitiators: Self.initiators(of: name, in: groups),
                credentials: volume.metadata.account.flatMap { accounts[$0]?.credentials }
            )
        )
    }
}
