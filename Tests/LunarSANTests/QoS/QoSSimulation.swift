import LunarModel

@testable import LunarSAN

/// A discrete-event world for ``QoSScheduler``: virtual nanoseconds, closed-loop clients (each
/// keeps `queueDepth` requests in flight, optionally pausing), a device that completes every
/// request after a fixed latency, and a timer that fires late by a random amount. Everything
/// random comes from one seed, so a failing run replays exactly.
struct QoSSimulation {
    struct Client {
        var volume: QoSScheduler.VolumeID
        var qos: SANVolumeQoS
        var queueDepth: Int
        /// I/O sizes drawn uniformly from these.
        var sizes: [Int] = [4096]
        /// Active between these virtual seconds (nil: always).
        var activeFrom: Double = 0
        var activeUntil: Double = .infinity
    }

    var scheduler: QoSScheduler
    var clients: [Client]
    var random: SplitMix64
    var now: Int64 = 0
    let deviceLatencyNanos: Int64 = 150_000
    let timerLatenessNanos: Int64 = 300_000
    var nextRequest: QoSScheduler.RequestID = 1
    /// Completions, (time, client index), in time order: the device latency is constant, so
    /// they are appended in order and consumed from `eventsHead`.
    var events: [(time: Int64, client: Int)] = []
    var eventsHead = 0
    var inFlight: [Int]
    /// Per client, the cost delivered in each 100 ms slot.
    var delivered: [[Double]]
    var dispatches: [QoSScheduler.Dispatch] = []
    var recordTrace = false
    let curve = QoSCostCurve.standard

    init(capacityIOPS: Double?, clients: [Client], seed: UInt64) {
        var configuration = QoSScheduler.Configuration(capacityIOPS: capacityIOPS)
        configuration.creditCapSeconds = 60
        scheduler = QoSScheduler(configuration: configuration)
        self.clients = clients
        random = SplitMix64(state: seed)
        inFlight = Array(repeating: 0, count: clients.count)
        delivered = Array(repeating: [], count: clients.count)
        for client in clients { scheduler.setQoS(client.qos, for: client.volume, now: 0) }
    }

    static func nanos(_ seconds: Double) -> Int64 { Int64(seconds * 1e9) }

    func isActive(_ index: Int, at time: Int64) -> Bool {
        let seconds = Double(time) / 1e9
        return seconds >= clients[index].activeFrom && seconds < clients[index].activeUntil
    }

    mutating func issue(_ index: Int) {
        guard isActive(index, at: now) else { return }
        let client = clients[index]
        let size = client.sizes[Int(random.next() % UInt64(client.sizes.count))]
        let id = nextRequest
        nextRequest += 1
        inFlight[index] += 1
        let cost = curve.cost(bytes: size)
        // As the gate does: start at once when nothing waits, else queue.
        if let phase = scheduler.startImmediately(volume: client.volume, cost: cost, now: now) {
            record(QoSScheduler.Dispatch(request: id, volume: client.volume, cost: cost, phase: phase, waitedNanos: 0), client: index)
            return
        }
        owner[id] = index
        _ = scheduler.enqueue(id, volume: client.volume, cost: cost, now: now)
    }

    mutating func record(_ dispatch: QoSScheduler.Dispatch, client index: Int) {
        let slot = Int(now / 100_000_000)
        while delivered[index].count <= slot { delivered[index].append(0) }
        delivered[index][slot] += dispatch.cost
        events.append((now + deviceLatencyNanos, index))
        if recordTrace { dispatches.append(dispatch) }
    }

    var owner: [QoSScheduler.RequestID: Int] = [:]

    /// Runs until `seconds` of virtual time have passed.
    mutating func run(seconds: Double) {
        let end = Self.nanos(seconds)
        var wakeClients: Set<Int> = Set(clients.indices)
        while now < end {
            // Clients that may start now fill their queue depth.
            for index in wakeClients.sorted() where isActive(index, at: now) {
                while inFlight[index] < clients[index].queueDepth { issue(index) }
            }
            wakeClients = []
            for dispatch in scheduler.dispatch(now: now) {
                record(dispatch, client: owner.removeValue(forKey: dispatch.request)!)
            }
            // The next moment something happens: a completion, a client turning active, or the
            // scheduler's next eligible time (the timer fires a little late, as real ones do).
            var next = eventsHead < events.count ? events[eventsHead].time : end
            if let eligible = scheduler.nextEligibleTime {
                next = min(next, max(eligible, now + 1) + Int64(random.next() % UInt64(timerLatenessNanos)))
            }
            for client in clients where Self.nanos(client.activeFrom) > now { next = min(next, Self.nanos(client.activeFrom)) }
            now = min(max(next, now + 1), end)
            while eventsHead < events.count, events[eventsHead].time <= now {
                inFlight[events[eventsHead].client] -= 1
                wakeClients.insert(events[eventsHead].client)
                eventsHead += 1
            }
            if eventsHead > 4096 {
                events.removeFirst(eventsHead)
                eventsHead = 0
            }
            for index in clients.indices where inFlight[index] == 0 { wakeClients.insert(index) }
        }
    }

    /// Delivered 4K-equivalent IOPS of a client over each window of `seconds` within [from, to).
    func windows(_ index: Int, seconds: Double, step: Double? = nil, from: Double = 0, to: Double) -> [Double] {
        let slotsPerWindow = Int((seconds * 10).rounded())
        let slotsPerStep = Int(((step ?? seconds) * 10).rounded())
        var rates: [Double] = []
        var slot = Int((from * 10).rounded())
        while slot + slotsPerWindow <= Int((to * 10).rounded()) {
            var sum = 0.0
            for s in slot..<(slot + slotsPerWindow) where s < delivered[index].count { sum += delivered[index][s] }
            rates.append(sum / seconds)
            slot += slotsPerStep
        }
        return rates
    }

    func average(_ index: Int, from: Double, to: Double) -> Double {
        let rates = windows(index, seconds: to - from, from: from, to: to)
        return rates.first ?? 0
    }
}
