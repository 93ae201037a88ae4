/// What an I/O of a given size costs in 4 KiB-equivalent I/Os: SolidFire's curve by default,
/// linear between its points, and beyond the last point at the last point's cost per byte.
public struct QoSCostCurve: Sendable, Hashable, Codable {
    public struct Point: Sendable, Hashable, Codable {
        public var bytes: Int
        public var cost: Double

        public init(bytes: Int, cost: Double) {
            self.bytes = bytes
            self.cost = cost
        }
    }

    /// Ascending by size, starting at 4 KiB with cost 1.
    public private(set) var points: [Point]

    public static let standard = try! QoSCostCurve([
        .init(bytes: 4 << 10, cost: 1), .init(bytes: 8 << 10, cost: 1.6), .init(bytes: 16 << 10, cost: 2.7),
        .init(bytes: 32 << 10, cost: 5), .init(bytes: 64 << 10, cost: 10), .init(bytes: 128 << 10, cost: 19.5),
        .init(bytes: 256 << 10, cost: 39), .init(bytes: 512 << 10, cost: 76), .init(bytes: 1 << 20, cost: 150),
    ])

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ points: [Point]) throws {
        guard let first = points.first, first.bytes > 0, first.cost > 0 else { throw Invalid(description: "the cost curve needs at least one point with positive size and cost") }
        for (a, b) in zip(points, points.dropFirst()) where !(a.bytes < b.bytes && a.cost <= b.cost) {
            throw Invalid(description: "cost curve points must grow in size and not fall in cost (\(a.bytes)→\(b.bytes))")
        }
        self.points = points
    }

    /// The cost of one I/O moving `bytes`; anything up to the first point costs the first point's.
    public func cost(bytes: Int) -> Double {
        guard bytes > points[0].bytes else { return points[0].cost }
        for (a, b) in zip(points, points.dropFirst()) where bytes <= b.bytes {
            return a.cost + (b.cost - a.cost) * Double(bytes - a.bytes) / Double(b.bytes - a.bytes)
        }
        let last = points[points.count - 1]
        return last.cost * Double(bytes) / Double(last.bytes)
    }
}
