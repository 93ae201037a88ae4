/// A global setting an admin reads with `listConfigurations` and changes with
/// `updateConfiguration`, as CloudStack's configuration table: a name, a default, and a rule.
public struct GlobalSetting: Sendable, Hashable {
    public var name: String
    public var category: String
    public var defaultValue: String
    public var description: String
    /// CloudStack's `type` field: Integer, Float, Boolean, String.
    public var type: String

    /// Why `value` is not acceptable, or nil.
    public func problem(with value: String) -> String? {
        switch name {
        case GlobalSetting.overprovisioningFactor.name:
            guard let factor = Double(value), factor.isFinite, factor >= 0.1, factor <= 100 else {
                return "a number from 0.1 to 100 (1 means no overcommit)"
            }
            return nil
        default:
            return nil
        }
    }

    /// How many bytes a pool may promise per byte of its declared capacity, as CloudStack's
    /// `storage.overprovisioning.factor`: thin volumes rarely fill, so placement counts bytes
    /// against capacity × factor. IOPS have no such factor: minimums are guarantees.
    public static let overprovisioningFactor = GlobalSetting(
        name: "storage.overprovisioning.factor", category: "Storage", defaultValue: "2",
        description: "Used for storage overprovisioning calculation; available storage will be (actualStorageSize * storage.overprovisioning.factor)",
        type: "Float"
    )

    public static let all: [GlobalSetting] = [overprovisioningFactor]

    public static func named(_ name: String) -> GlobalSetting? { all.first { $0.name == name } }

    /// The factor in thousandths, so the allocator and the database compute the same integers.
    public static func permille(_ value: String) -> Int64 {
        guard let factor = Double(value), factor.isFinite, factor > 0 else { return 1000 }
        return Int64((factor * 1000).rounded())
    }
}
