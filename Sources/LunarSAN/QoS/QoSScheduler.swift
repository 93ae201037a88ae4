import LunarModel

/// The node's I/O scheduler: mClock (reservation = min, weight = min, limit = max) with a burst
/// credit bucket in front of the limit, and the node's capacity as a pace over everything.
///
/// Pure logic: time is a parameter (nanoseconds on any monotonic clock), so the simulation tests
/// drive it with a virtual clock. The caller enqueues requests, asks ``dispatch(now:)`` which may
/// run now, and sleeps until ``nextEligibleTime`` when some are left.
///
/// - Reservation phase: a volume whose reservation tag is due runs first (smallest tag first),
///   even when the node's pace is spent (admission keeps the minimums within capacity); its tag
///   advances by cost/min, so each backlogged volume gets its minimum at low latency.
/// - Weight phase: otherwise, while the node's pace has room, the volume with the smallest weight
///   tag among those under their limit; the tag advances by cost/min, so spare capacity goes in
///   proportion to minimums. Every dispatch spends node capacity.
/// - Limit: every dispatch advances the limit tag by cost/limit, where the limit is `burstIOPS`
///   while the volume has burst credit and `maxIOPS` otherwise.
/// - Credits, in seconds of bursting: per accounting period a volume delivering rate `a` earns
///   `(1 − a/max)` seconds per second below its max, spends `(a − max)/(burst − max)` above it,
///   capped at ``Configuration/creditCapSeconds``. Idle 30 s buys 30 s at the burst rate.
public struct QoSScheduler: Sendable {
    public typealias VolumeID = Int
    public typealias RequestID = UInt64

    public struct Configuration: Sendable, Hashable {
        /// The node's capacity in 4 KiB-equivalent IOPS; nil paces nothing (only volume limits).
        public var capacityIOPS: Double?
        public var creditCapSeconds: Double = 60
        public var accountingPeriodNanos: Int64 = 100_000_000
        /// How far a limit or the node's pace may lag behind the clock: timer lateness up to this
        /// costs no throughput; it is also the most a volume can get ahead after idling.
        public var slackNanos: Int64 = 5_000_000

        public init(capacityIOPS: Double? = nil) {
            self.capacityIOPS = capacityIOPS
        }
    }

    public struct Dispatch: Sendable, Hashable {
        public enum Phase: Sendable, Hashable { case reservation, weight }
        public var request: RequestID
        public var volume: VolumeID
        public var cost: Double
        public var phase: Phase
        /// How long it waited in the scheduler.
        public var waitedNanos: Int64
    }

    struct Pending: Sendable {
        var id: RequestID
        var cost: Double
        var enqueued: Int64
    }

    struct Volume: Sendable {
        var qos: SANVolumeQoS
        var queue: [Pending] = []
        var head = 0
        var reservationTag: Int64
        var weightTag: Int64
        var limitTag: Int64
        var creditSeconds: Double
        var periodStart: Int64
        var periodCost: Double = 0

        var isBacklogged: Bool { head < queue.count }
        var bursting: Bool { creditSeconds > 0 && qos.burstIOPS > qos.maxIOPS }
        var limitIOPS: Double { Double(bursting ? qos.burstIOPS : qos.maxIOPS) }
    }

    public var configuration: Configuration
    var volumes: [VolumeID: Volume] = [:]
    var nodeTag: Int64 = .min / 2
    /// Which volume each queued request belongs to (for cancel).
    var owners: [RequestID: VolumeID] = [:]
    /// Volumes with queued requests: the only ones a dispatch looks at.
    var backlogged: Set<VolumeID> = []

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public var queuedCount: Int { owners.count }

    static func nanos(cost: Double, rate: Double) -> Int64 {
        Int64((cost * 1e9 / max(rate, 1e-3)).rounded())
    }

    // MARK: Volumes

    /// Adds a volume or changes its QoS; a change applies to the next dispatch. A new volume
    /// starts with no burst credit (it has not been idle yet).
    public mutating func setQoS(_ qos: SANVolumeQoS, for volume: VolumeID, now: Int64) {
        if var existing = volumes[volume] {
            Self.account(&existing, now: now, configuration: configuration)
            existing.qos = qos
            volumes[volume] = existing
        } else {
            volumes[volume] = Volume(
                qos: qos, reservationTag: now, weightTag: now, limitTag: now, creditSeconds: 0, periodStart: now
            )
        }
    }

    /// Forgets a volume; its queued requests come back, never to run.
    public mutating func removeVolume(_ volume: VolumeID) -> [RequestID] {
        guard let removed = volumes.removeValue(forKey: volume) else { return [] }
        backlogged.remove(volume)
        let dropped = removed.queue[removed.head...].map(\.id)
        for id in dropped { owners[id] = nil }
        return dropped
    }

    public func qos(of volume: VolumeID) -> SANVolumeQoS? { volumes[volume]?.qos }

    /// Seconds of bursting the volume has left.
    public mutating func creditSeconds(of volume: VolumeID, now: Int64) -> Double? {
        guard var state = volumes[volume] else { return nil }
        Self.account(&state, now: now, configuration: configuration)
        volumes[volume] = state
        return state.creditSeconds
    }

    public func queueLength(of volume: VolumeID) -> Int {
        volumes[volume].map { $0.queue.count - $0.head } ?? 0
    }

    // MARK: Requests

    /// Queues a request; false if the volume is unknown.
    public mutating func enqueue(_ request: RequestID, volume: VolumeID, cost: Double, now: Int64) -> Bool {
        guard let index = volumes.index(forKey: volume) else { return false }
        // Mutated in place: a copy would copy the queue with every request.
        Self.account(&volumes.values[index], now: now, configuration: configuration)
        if !volumes.values[index].isBacklogged {
            wake(index, now: now)
            volumes.values[index].queue.removeAll(keepingCapacity: true)
            volumes.values[index].head = 0
        }
        volumes.values[index].queue.append(Pending(id: request, cost: cost, enqueued: now))
        backlogged.insert(volume)
        owners[request] = volume
        return true
    }

    /// Idle time earns no reservation or weight: tags start from now (mClock), and the weight tag
    /// from the least-served backlogged volume, so a newcomer neither jumps ahead nor starves.
    mutating func wake(_ index: Dictionary<VolumeID, Volume>.Index, now: Int64) {
        var virtualNow = now
        if !backlogged.isEmpty {
            virtualNow = .max
            for id in backlogged { if let tag = volumes[id]?.weightTag { virtualNow = min(virtualNow, tag) } }
        }
        volumes.values[index].reservationTag = max(volumes.values[index].reservationTag, now)
        volumes.values[index].limitTag = max(volumes.values[index].limitTag, now - configuration.slackNanos)
        volumes.values[index].weightTag = max(volumes.values[index].weightTag, virtualNow)
    }

    /// The common case without queueing: nothing waits anywhere and this request may run now.
    /// Returns the phase it ran in, or nil when it must be enqueued instead.
    public mutating func startImmediately(volume: VolumeID, cost: Double, now: Int64) -> Dispatch.Phase? {
        guard backlogged.isEmpty, let index = volumes.index(forKey: volume) else { return nil }
        Self.account(&volumes.values[index], now: now, configuration: configuration)
        wake(index, now: now)
        let state = volumes.values[index]
        guard state.limitTag <= now else { return nil }
        let phase: Dispatch.Phase
        if state.reservationTag <= now {
            phase = .reservation
        } else if nodeTag <= now {
            phase = .weight
        } else {
            return nil
        }
        charge(index, cost: cost, phase: phase, now: now)
        return phase
    }

    /// Advances the tags and the node's pace for a request that starts now.
    mutating func charge(_ index: Dictionary<VolumeID, Volume>.Index, cost: Double, phase: Dispatch.Phase, now: Int64) {
        let minimum = Double(volumes.values[index].qos.minIOPS)
        if phase == .reservation { volumes.values[index].reservationTag += Self.nanos(cost: cost, rate: minimum) }
        volumes.values[index].weightTag += Self.nanos(cost: cost, rate: minimum)
        let limit = volumes.values[index].limitIOPS
        volumes.values[index].limitTag = max(volumes.values[index].limitTag, now - configuration.slackNanos) + Self.nanos(cost: cost, rate: limit)
        volumes.values[index].periodCost += cost
        if let capacity = configuration.capacityIOPS {
            nodeTag = max(nodeTag, now - configuration.slackNanos) + Self.nanos(cost: cost, rate: capacity)
        }
    }

    /// Takes a queued request out (an aborted command); false if it is not queued.
    public mutating func cancel(_ request: RequestID) -> Bool {
        guard let volume = owners.removeValue(forKey: request), let index = volumes.index(forKey: volume),
            let position = volumes.values[index].queue[volumes.values[index].head...].firstIndex(where: { $0.id == request })
        else { return false }
        volumes.values[index].queue.remove(at: position)
        if !volumes.values[index].isBacklogged { backlogged.remove(volume) }
        return true
    }

    /// Every request that may run at `now`, in the order they should start.
    public mutating func dispatch(now: Int64, limit: Int = .max) -> [Dispatch] {
        var dispatched: [Dispatch] = []
        while dispatched.count < limit, !owners.isEmpty, let next = selectNext(now: now) {
            dispatched.append(take(from: next.volume, phase: next.phase, now: now))
        }
        return dispatched
    }

    func selectNext(now: Int64) -> (volume: VolumeID, phase: Dispatch.Phase)? {
        var reservation: (VolumeID, Int64)?
        var weight: (VolumeID, Int64)?
        for id in backlogged {
            guard let state = volumes[id], state.limitTag <= now else { continue }
            // Ties broken by id, so a run replays exactly.
            if state.reservationTag <= now, reservation.map({ (state.reservationTag, id) < ($0.1, $0.0) }) ?? true {
                reservation = (id, state.reservationTag)
            }
            if nodeTag <= now, weight.map({ (state.weightTag, id) < ($0.1, $0.0) }) ?? true { weight = (id, state.weightTag) }
        }
        if let reservation { return (reservation.0, .reservation) }
        if let weight { return (weight.0, .weight) }
        return nil
    }

    mutating func take(from volume: VolumeID, phase: Dispatch.Phase, now: Int64) -> Dispatch {
        let index = volumes.index(forKey: volume)!
        Self.account(&volumes.values[index], now: now, configuration: configuration)
        let request = volumes.values[index].queue[volumes.values[index].head]
        volumes.values[index].head += 1
        if volumes.values[index].head > 64, volumes.values[index].head * 2 > volumes.values[index].queue.count {
            volumes.values[index].queue.removeFirst(volumes.values[index].head)
            volumes.values[index].head = 0
        }
        charge(index, cost: request.cost, phase: phase, now: now)
        if !volumes.values[index].isBacklogged { backlogged.remove(volume) }
        owners[request.id] = nil
        return Dispatch(request: request.id, volume: volume, cost: request.cost, phase: phase, waitedNanos: now - request.enqueued)
    }

    /// When the earliest queued request may run, if any is queued: a volume may run once its
    /// limit allows and either its reservation is due or the node's pace has room.
    public var nextEligibleTime: Int64? {
        var soonest: Int64?
        for id in backlogged {
            guard let state = volumes[id] else { continue }
            let eligible = max(state.limitTag, min(state.reservationTag, nodeTag))
            soonest = min(soonest ?? eligible, eligible)
        }
        return soonest
    }

    // MARK: Credits

    /// Closes the accounting periods that ended by `now`, earning or spending burst credit.
    static func account(_ state: inout Volume, now: Int64, configuration: Configuration) {
        let period = configuration.accountingPeriodNanos
        guard now - state.periodStart >= period else { return }
        let seconds = Double(period) / 1e9
        let maximum = Double(state.qos.maxIOPS)
        let burst = Double(state.qos.burstIOPS)
        let rate = state.periodCost / seconds
        if rate <= maximum {
            state.creditSeconds += (1 - rate / maximum) * seconds
        } else if burst > maximum {
            state.creditSeconds -= (rate - maximum) / (burst - maximum) * seconds
        }
        // Whole idle periods after the first earn a full period each.
        let idlePeriods = (now - state.periodStart) / period - 1
        state.creditSeconds += Double(idlePeriods) * seconds
        state.creditSeconds = min(max(state.creditSeconds, 0), configuration.creditCapSeconds)
        state.periodStart += (idlePeriods + 1) * period
        state.periodCost = 0
    }
}
