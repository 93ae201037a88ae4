import Foundation

/// A typed identifier: a UUID string tagged with the entity it names, so a `ZoneID` can never be
/// passed where a `ClusterID` is expected. CloudStack clients see the plain UUID string.
public struct Identifier<Entity>: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let uuid: String

    /// Creates an identifier from a string, which must be a UUID (any case; stored lower-cased).
    public init?(_ string: String) {
        guard let parsed = UUID(uuidString: string) else { return nil }
        self.uuid = parsed.uuidString.lowercased()
    }

    /// Creates an identifier from a UUID.
    public init(_ uuid: UUID) {
        self.uuid = uuid.uuidString.lowercased()
    }

    /// Creates an identifier from a value already known to be a lower-cased UUID (database rows).
    public init(trusted string: String) {
        self.uuid = string
    }

    /// A fresh identifier drawn from the given generator (seeded in simulations).
    public static func random(using generator: inout some RandomNumberGenerator) -> Self {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let uuid = UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
        return Self(uuid)
    }

    /// A fresh random identifier (from the simulation's seeded generator inside one).
    public static func random() -> Self {
        var generator = DeterministicGenerator()
        return random(using: &generator)
    }

    public var description: String { uuid }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.uuid < rhs.uuid }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let value = Self(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a UUID: \(string)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(uuid)
    }
}

public typealias DomainID = Identifier<Domain>
public typealias AccountID = Identifier<Account>
public typealias UserID = Identifier<User>
public typealias ZoneID = Identifier<Zone>
public typealias PodID = Identifier<Pod>
public typealias ClusterID = Identifier<Cluster>
public typealias HostID = Identifier<Host>
public typealias JobID = Identifier<AsyncJob>
public typealias DiskOfferingID = Identifier<DiskOffering>
public typealias ServiceOfferingID = Identifier<ServiceOffering>
public typealias TemplateID = Identifier<Template>
public typealias StoragePoolID = Identifier<StoragePool>
public typealias VolumeID = Identifier<Volume>
public typealias VirtualMachineID = Identifier<VirtualMachineTag>

/// Tag type for VM ids until the VM entity exists.
public enum VirtualMachineTag {}
