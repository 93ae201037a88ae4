/// What a volume needs from a pool.
public struct PlacementRequest: Sendable, Hashable {
    public var zoneID: ZoneID
    /// The cluster of the host that will use the volume; nil when no host is involved yet, in
    /// which case every pool of the zone may take it.
    public var clusterID: ClusterID?
    public var requiredTags: [String]
    /// Size plus hypervisor snapshot reserve.
    public var bytes: Int64
    /// The volume's minimum IOPS (0 when it has none).
    public var minIOPS: Int64
    /// `storage.overprovisioning.factor` in thousandths: bytes count against capacity × factor.
    public var overprovisioningPermille: Int64

    public init(zoneID: ZoneID, clusterID: ClusterID?, requiredTags: [String], bytes: Int64, minIOPS: Int64, overprovisioningPermille: Int64 = 1000) {
        self.zoneID = zoneID
        self.clusterID = clusterID
        self.requiredTags = requiredTags
        self.bytes = bytes
        self.minIOPS = minIOPS
        self.overprovisioningPermille = overprovisioningPermille
    }

    /// The bytes `pool` may promise: its capacity × the factor, computed in integers the way the
    /// database's fast path does (thousands and remainder apart, so it does not overflow).
    public func effectiveCapacityBytes(_ pool: StoragePool) -> Int64 {
        let capacity = pool.capacityBytes
        let (high, overflow) = (capacity / 1000).multipliedReportingOverflow(by: overprovisioningPermille)
        return overflow ? Int64.max / 2 : high + capacity % 1000 * overprovisioningPermille / 1000
    }
}

/// Why no pool could take a volume: one reason per pool considered.
public struct PlacementRefusal: Error, Sendable, Hashable {
    public var reasons: [String]

    public init(reasons: [String]) {
        self.reasons = reasons
    }

    public var error: LunarError {
        let detail = reasons.isEmpty ? "there are no storage pools in the zone" : reasons.joined(separator: "; ")
        return LunarError(.insufficientCapacity, csErrorCode: 4340, "No storage pool can take the volume: \(detail)")
    }
}

/// Chooses a pool for a volume. Pure: the caller hands it a consistent snapshot of the pools
/// (inside the transaction that then records the choice, so placements never overbook).
public enum PoolAllocator {
    /// The pool to use: among those that pass every rule, for a volume with a minimum one whose
    /// storage reserves it, then the one with the most free IOPS, then the most free bytes, then
    /// the first by name.
    public static func choose(_ request: PlacementRequest, among pools: [StoragePool]) -> Result<StoragePool, PlacementRefusal> {
        var best: StoragePool?
        var reasons: [String] = []
        for pool in pools {
            if let reason = rejection(of: pool, for: request) {
                reasons.append("pool \(pool.name): \(reason)")
                continue
            }
            if let current = best, !isBetter(pool, than: current, request) { continue }
            best = pool
        }
        if let best { return .success(best) }
        return .failure(PlacementRefusal(reasons: reasons))
    }

    /// Why `pool` cannot take the request, or nil when it can.
    public static func rejection(of pool: StoragePool, for request: PlacementRequest) -> String? {
        guard pool.zoneID == request.zoneID else { return "in another zone" }
        if pool.scope == .cluster, let wanted = request.clusterID, pool.clusterID != wanted {
            return "scoped to another cluster"
        }
        switch pool.state {
        case .up: break
        case .disabled: return "disabled"
        case .maintenance, .prepareForMaintenance, .errorInMaintenance: return "in maintenance"
        }
        let missing = request.requiredTags.filter { !pool.tags.contains($0) }
        if !missing.isEmpty { return "lacks tags \(missing.joined(separator: ","))" }
        if request.minIOPS > 0, pool.strictQoS, !pool.guaranteesMinimum {
            return "strictqos is set and its storage cannot guarantee the volume's minimum of \(request.minIOPS) IOPS"
        }
        let capacity = request.effectiveCapacityBytes(pool)
        if pool.allocatedBytes > capacity - request.bytes {
            let factor = request.overprovisioningPermille == 1000 ? "" : " (\(pool.capacityBytes) × overprovisioning factor \(Double(request.overprovisioningPermille) / 1000))"
            return "\(pool.allocatedBytes) of \(capacity)\(factor) bytes allocated, needs \(request.bytes)"
        }
        if let capacity = pool.capacityIOPS, pool.allocatedIOPS > capacity - request.minIOPS {
            return "\(pool.allocatedIOPS) of \(capacity) IOPS reserved, needs \(request.minIOPS)"
        }
        return nil
    }

    static func freeIOPS(_ pool: StoragePool) -> Int64 {
        pool.capacityIOPS.map { $0 - pool.allocatedIOPS } ?? Int64.max
    }

    static func isBetter(_ candidate: StoragePool, than current: StoragePool, _ request: PlacementRequest) -> Bool {
        // A volume with a minimum goes first to storage that reserves it.
        if request.minIOPS > 0, candidate.guaranteesMinimum != current.guaranteesMinimum { return candidate.guaranteesMinimum }
        let (candidateIOPS, currentIOPS) = (freeIOPS(candidate), freeIOPS(current))
        if candidateIOPS != currentIOPS { return candidateIOPS > currentIOPS }
        let candidateBytes = request.effectiveCapacityBytes(candidate) - candidate.allocatedBytes
        let currentBytes = request.effectiveCapacityBytes(current) - current.allocatedBytes
        if candidateBytes != currentBytes { return candidateBytes > currentBytes }
        return candidate.name < current.name
    }
}
