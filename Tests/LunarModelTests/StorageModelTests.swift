import LunarModel
import Testing

struct DiskOfferingValidationTests {
    static func offering(
        size: Int64? = 10, customized: Bool = false, min: Int64? = nil, max: Int64? = nil, customIOPS: Bool = false, reserve: Int? = nil,
        limits: HypervisorRateLimits = HypervisorRateLimits()
    ) -> DiskOffering {
        DiskOffering(
            id: .random(), name: "o", displayText: "o", diskSizeGB: size, isCustomized: customized, minIOPS: min, maxIOPS: max,
            isCustomizedIOPS: customIOPS, tags: [], hypervisorSnapshotReservePercent: reserve, provisioningType: .thin, storageType: .shared,
            rateLimits: limits, createdEpochSeconds: 0
        )
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let offering: DiskOffering
        /// nil: valid; otherwise a fragment of the refusal.
        let refusal: String?
        var testDescription: String { label }
    }

    static var burstWithoutRate: HypervisorRateLimits {
        var limits = HypervisorRateLimits()
        limits.iopsRead = .init(rate: nil, max: 500, maxLength: nil)
        return limits
    }

    static var burstBelowRate: HypervisorRateLimits {
        var limits = HypervisorRateLimits()
        limits.bytesWrite = .init(rate: 1000, max: 10, maxLength: nil)
        return limits
    }

    static var lengthWithoutBurst: HypervisorRateLimits {
        var limits = HypervisorRateLimits()
        limits.iopsWrite = .init(rate: 100, max: nil, maxLength: 60)
        return limits
    }

    static var goodLimits: HypervisorRateLimits {
        var limits = HypervisorRateLimits()
        limits.iopsWrite = .init(rate: 100, max: 200, maxLength: 60)
        return limits
    }

    static let cases: [Case] = [
        Case(label: "fixed size, fixed IOPS", offering: offering(min: 100, max: 200), refusal: nil),
        Case(label: "custom size", offering: offering(size: nil, customized: true), refusal: nil),
        Case(label: "custom IOPS", offering: offering(customIOPS: true), refusal: nil),
        Case(label: "rate limits", offering: offering(limits: goodLimits), refusal: nil),
        Case(label: "min > max", offering: offering(min: 300, max: 200), refusal: "miniops (300) must not be greater than maxiops (200)"),
        Case(label: "IOPS on a custom-IOPS offering", offering: offering(min: 100, max: 200, customIOPS: true), refusal: "customizediops=true"),
        Case(label: "only min", offering: offering(min: 100), refusal: "both miniops and maxiops"),
        Case(label: "negative IOPS", offering: offering(min: -1, max: 10), refusal: "must not be negative"),
        Case(label: "zero max", offering: offering(min: 0, max: 0), refusal: "maxiops must be positive"),
        Case(label: "huge max", offering: offering(min: 1, max: 2_000_000), refusal: "at most"),
        Case(label: "negative size", offering: offering(size: -5), refusal: "disksize must be positive"),
        Case(label: "zero size", offering: offering(size: 0), refusal: "disksize must be positive"),
        Case(label: "no size, not customized", offering: offering(size: nil), refusal: "disksize is required"),
        Case(label: "size and customized", offering: offering(size: 10, customized: true), refusal: "cannot be given with customized=true"),
        Case(label: "reserve over 100", offering: offering(reserve: 150), refusal: "hypervisorsnapshotreserve"),
        Case(label: "burst without rate", offering: offering(limits: burstWithoutRate), refusal: "iopsreadratemax needs iopsreadrate"),
        Case(label: "burst below rate", offering: offering(limits: burstBelowRate), refusal: "must not be lower than"),
        Case(label: "burst length without burst", offering: offering(limits: lengthWithoutBurst), refusal: "maxlength needs"),
    ]

    @Test(arguments: cases)
    func rules(_ entry: Case) {
        do {
            try entry.offering.validate()
            #expect(entry.refusal == nil, "\(entry.label) was accepted")
        } catch let error as LunarError {
            #expect(error.code == .parameterError)
            #expect(entry.refusal.map { error.text.contains($0) } == true, "\(entry.label): \(error.text)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: ["ssd", "ssd,fast", " ssd , fast ", "a_b.c:d-e", "ssd,ssd"])
    func goodTags(_ text: String) throws {
        let tags = try StorageTags.parse(text)
        #expect(!tags.isEmpty && Set(tags).count == tags.count)
    }

    @Test(arguments: ["ssd,,fast", ",", "has space", "ünïcode", "semi;colon", String(repeating: "x", count: 65)])
    func badTagsNameTheRule(_ text: String) {
        #expect(throws: LunarError.self) { try StorageTags.parse(text) }
    }
}

struct VolumeStateMachineTests {
    static let allowed: [VolumeState: [VolumeEvent: VolumeState]] = [
        .allocated: [.createRequested: .creating, .destroyRequested: .destroy],
        .creating: [.createSucceeded: .ready, .createFailed: .allocated],
        .ready: [.resizeRequested: .resizing, .destroyRequested: .destroy],
        .resizing: [.resizeSucceeded: .ready, .resizeFailed: .ready],
        .destroy: [.expungeSucceeded: .expunged, .expungeFailed: .destroy, .destroyRequested: .destroy, .destroyAbandoned: .ready],
        .expunged: [:],
    ]

    @Test func everyStateAndEvent() throws {
        for state in VolumeState.allCases {
            for event in VolumeEvent.allCases {
                if let expected = Self.allowed[state]?[event] {
                    #expect(try VolumeStateMachine.next(state, on: event) == expected, "\(state) on \(event)")
                } else {
                    #expect(throws: LunarError.self, "\(state) on \(event) should be refused") { try VolumeStateMachine.next(state, on: event) }
                }
            }
        }
    }

    @Test func failuresReturnToTheLastStableState() throws {
        #expect(try VolumeStateMachine.next(.creating, on: .createFailed) == .allocated)
        #expect(try VolumeStateMachine.next(.resizing, on: .resizeFailed) == .ready)
        #expect(try VolumeStateMachine.next(.destroy, on: .expungeFailed) == .destroy)
    }

    @Test func capacityIsHeldExactlyWhileStorageMayExist() {
        #expect(VolumeState.allCases.filter(\.holdsPoolCapacity) == [.creating, .ready, .resizing, .destroy])
    }

    @Test func reserveRoundsUp() {
        #expect(Volume.reservedBytes(size: 100, reservePercent: nil) == 100)
        #expect(Volume.reservedBytes(size: 100, reservePercent: 10) == 110)
        #expect(Volume.reservedBytes(size: 101, reservePercent: 10) == 112)
    }
}

struct PoolAllocatorTests {
    static let zone = ZoneID.random()
    static let otherZone = ZoneID.random()
    static let cluster = ClusterID.random()
    static let otherCluster = ClusterID.random()

    static func pool(
        _ name: String, zone: ZoneID = zone, cluster: ClusterID? = nil, bytes: Int64 = 1000, allocatedBytes: Int64 = 0, iops: Int64? = 10_000,
        allocatedIOPS: Int64 = 0, tags: [String] = [], state: StoragePool.State = .up
    ) -> StoragePool {
        StoragePool(
            id: .random(), name: name, zoneID: zone, podID: nil, clusterID: cluster, scope: cluster == nil ? .zone : .cluster, url: "file:///x",
            provider: "local", isManaged: false, capacityBytes: bytes, capacityIOPS: iops, allocatedBytes: allocatedBytes, allocatedIOPS: allocatedIOPS,
            tags: tags, hypervisor: nil, state: state, createdEpochSeconds: 0
        )
    }

    static func request(cluster: ClusterID? = nil, tags: [String] = [], bytes: Int64 = 100, iops: Int64 = 1000) -> PlacementRequest {
        PlacementRequest(zoneID: zone, clusterID: cluster, requiredTags: tags, bytes: bytes, minIOPS: iops)
    }

    static func refusal(_ request: PlacementRequest, _ pools: [StoragePool]) -> String? {
        guard case .failure(let refusal) = PoolAllocator.choose(request, among: pools) else { return nil }
        return refusal.error.text
    }

    @Test func tagsMustAllBeOnThePool() throws {
        let pools = [Self.pool("plain"), Self.pool("ssd", tags: ["ssd"]), Self.pool("both", tags: ["ssd", "fast"])]
        #expect(try PoolAllocator.choose(Self.request(tags: ["ssd", "fast"]), among: pools).get().name == "both")
        #expect(Self.refusal(Self.request(tags: ["nvme"]), pools)?.contains("pool plain: lacks tags nvme") == true)
    }

    @Test func scopeKeepsClusterPoolsToTheirCluster() throws {
        let pools = [Self.pool("mine", cluster: Self.cluster), Self.pool("theirs", cluster: Self.otherCluster, iops: 1_000_000), Self.pool("elsewhere", zone: Self.otherZone)]
        #expect(try PoolAllocator.choose(Self.request(cluster: Self.cluster), among: pools).get().name == "mine")
        let text = Self.refusal(Self.request(cluster: ClusterID.random()), pools)
        #expect(text?.contains("pool mine: scoped to another cluster") == true)
        #expect(text?.contains("pool elsewhere: in another zone") == true)
    }

    @Test func bytesIncludeTheReserve() throws {
        let pools = [Self.pool("p", bytes: 1000, allocatedBytes: 900)]
        #expect(try PoolAllocator.choose(Self.request(bytes: 100), among: pools).get().name == "p")
        let reserved = Volume.reservedBytes(size: 100, reservePercent: 10)
        #expect(Self.refusal(Self.request(bytes: reserved), pools) == "No storage pool can take the volume: pool p: 900 of 1000 bytes allocated, needs 110")
    }

    @Test func iopsExhaustionNamesThePoolAndTheFigures() throws {
        let pools = [Self.pool("p1", allocatedIOPS: 9500)]
        #expect(Self.refusal(Self.request(iops: 1000), pools) == "No storage pool can take the volume: pool p1: 9500 of 10000 IOPS reserved, needs 1000")
        #expect(try PoolAllocator.choose(Self.request(iops: 500), among: pools).get().name == "p1")
        // Without an IOPS capacity a pool does not account IOPS.
        #expect(try PoolAllocator.choose(Self.request(iops: 1_000_000), among: [Self.pool("free", iops: nil)]).get().name == "free")
    }

    @Test func maintenanceAndDisabledPoolsAreSkipped() {
        let pools = [Self.pool("m", state: .maintenance), Self.pool("d", state: .disabled), Self.pool("pm", state: .prepareForMaintenance)]
        let text = Self.refusal(Self.request(), pools)
        #expect(text?.contains("pool m: in maintenance") == true)
        #expect(text?.contains("pool d: disabled") == true)
        #expect(text?.contains("pool pm: in maintenance") == true)
        #expect(Self.refusal(Self.request(), []) == "No storage pool can take the volume: there are no storage pools in the zone")
    }

    @Test func prefersIOPSHeadroomThenBytesThenName() throws {
        let pools = [
            Self.pool("busy", bytes: 10_000, allocatedIOPS: 5000), Self.pool("roomy-iops", bytes: 1000, allocatedIOPS: 0),
            Self.pool("b", bytes: 1000), Self.pool("a", bytes: 1000),
        ]
        #expect(try PoolAllocator.choose(Self.request(), among: pools).get().name == "a")
        #expect(try PoolAllocator.choose(Self.request(), among: [Self.pool("small", bytes: 500), Self.pool("large", bytes: 900)]).get().name == "large")
    }

    /// Over random pools: the choice passes every rule, and no passing pool ranks above it.
    @Test func randomPoolsChoiceIsValidAndBest() {
        for seed in UInt64(1)...200 {
            var random = SplitMix64(state: seed)
            var pools: [StoragePool] = []
            for index in 0..<Int.random(in: 0...30, using: &random) {
                let capacity = Int64.random(in: 1...20, using: &random) * 1000
                pools.append(
                    Self.pool(
                        "p\(index)", zone: Bool.random(using: &random) ? Self.zone : Self.otherZone,
                        cluster: [nil, Self.cluster, Self.otherCluster][Int.random(in: 0...2, using: &random)], bytes: capacity,
                        allocatedBytes: Int64.random(in: 0...capacity, using: &random), iops: Bool.random(using: &random) ? 10_000 : nil,
                        allocatedIOPS: Int64.random(in: 0...10_000, using: &random), tags: [[], ["ssd"], ["ssd", "fast"]][Int.random(in: 0...2, using: &random)],
                        state: [.up, .up, .maintenance, .disabled][Int.random(in: 0...3, using: &random)]
                    )
                )
            }
            let request = Self.request(
                cluster: Bool.random(using: &random) ? Self.cluster : nil, tags: Bool.random(using: &random) ? ["ssd"] : [],
                bytes: Int64.random(in: 1...5000, using: &random), iops: Int64.random(in: 0...5000, using: &random)
            )
            let passing = pools.filter { PoolAllocator.rejection(of: $0, for: request) == nil }
            switch PoolAllocator.choose(request, among: pools) {
            case .success(let chosen):
                #expect(PoolAllocator.rejection(of: chosen, for: request) == nil, "seed \(seed)")
                func free(_ pool: StoragePool) -> Int64 { pool.capacityIOPS.map { $0 - pool.allocatedIOPS } ?? .max }
                #expect(passing.allSatisfy { free($0) <= free(chosen) }, "seed \(seed): a pool with more free IOPS was passed over")
            case .failure(let refusal):
                #expect(passing.isEmpty, "seed \(seed)")
                #expect(refusal.reasons.count == pools.count, "seed \(seed): every pool says why")
            }
        }
    }
}

