/// A volume's quality of service at the SAN, in 4 KiB-equivalent IOPS (SolidFire's semantics):
/// `minIOPS` guaranteed while the node is not oversubscribed, `maxIOPS` the sustained cap,
/// `burstIOPS` the cap while burst credits last.
public struct SANVolumeQoS: Codable, Sendable, Hashable {
    public var minIOPS: Int
    public var maxIOPS: Int
    public var burstIOPS: Int

    /// The most a volume may be promised or capped at.
    public static let limit = 1_000_000
    /// What a volume created without QoS gets: a small floor, no practical cap.
    public static let unlimited = SANVolumeQoS(minIOPS: 50, maxIOPS: limit, burstIOPS: limit)

    public init(minIOPS: Int, maxIOPS: Int, burstIOPS: Int) {
        self.minIOPS = minIOPS
        self.maxIOPS = maxIOPS
        self.burstIOPS = burstIOPS
    }

    /// nil when valid, else the sentence an operator needs.
    public var problem: String? {
        guard minIOPS >= 1 else { return "min_iops must be at least 1" }
        guard minIOPS <= maxIOPS else { return "min_iops (\(minIOPS)) must not exceed max_iops (\(maxIOPS))" }
        guard maxIOPS <= burstIOPS else { return "max_iops (\(maxIOPS)) must not exceed burst_iops (\(burstIOPS))" }
        guard burstIOPS <= Self.limit else { return "burst_iops must be at most \(Self.limit)" }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case minIOPS = "min_iops"
        case maxIOPS = "max_iops"
        case burstIOPS = "burst_iops"
    }
}
