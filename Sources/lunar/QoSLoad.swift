import Foundation
import ISCSI
import LunarModel
import LunarSAN
import NIOCore

/// One volume's load in `lunar bench qos`: keeps `queueDepth` random reads in flight on one
/// session and counts what completes, in 4 KiB-equivalent I/Os, per 100 ms slot since a start
/// shared by every load of the experiment. Runs on the session's event loop.
final class QoSLoad: @unchecked Sendable {
    // Touched only on the session's event loop.
    let session: ISCSIInitiatorSession
    let queueDepth: Int
    let sizes: [Int]
    let spanBlocks: UInt64
    let origin: NIODeadline
    var random: SplitMix64
    var slots: [Double] = []
    var running = false
    var inFlight = 0
    var errors = 0
    var stopped: EventLoopPromise<Void>?
    static let slotNanos: Int64 = 100_000_000
    static let curve = QoSCostCurve.standard

    init(session: ISCSIInitiatorSession, queueDepth: Int, sizes: [Int], spanBytes: UInt64, origin: NIODeadline, seed: UInt64) {
        self.session = session
        self.queueDepth = queueDepth
        self.sizes = sizes
        self.spanBlocks = spanBytes / 512
        self.origin = origin
        self.random = SplitMix64(state: seed)
    }

    func start() async throws {
        try await session.channel.eventLoop.submit {
            self.running = true
            while self.inFlight < self.queueDepth { self.issue() }
        }.get()
    }

    /// Stops issuing and waits for what is in flight.
    func stop() async throws {
        let loop = session.channel.eventLoop
        let promise = loop.makePromise(of: Void.self)
        try await loop.submit {
            self.running = false
            if self.inFlight == 0 { promise.succeed() } else { self.stopped = promise }
        }.get()
        try await promise.futureResult.get()
    }

    /// Delivered 4K-equivalent I/Os per second in each window of `seconds` between `from` and `to`
    /// (seconds since the origin).
    func rates(window seconds: Double, from: Double, to: Double) async throws -> [Double] {
        let slots = try await session.channel.eventLoop.submit { self.slots }.get()
        let perWindow = Int((seconds * 10).rounded())
        var result: [Double] = []
        var slot = Int((from * 10).rounded())
        while slot + perWindow <= Int((to * 10).rounded()) {
            var sum = 0.0
            for index in slot..<(slot + perWindow) where index < slots.count { sum += slots[index] }
            result.append(sum / seconds)
            slot += perWindow
        }
        return result
    }

    func errorCount() async throws -> Int {
        try await session.channel.eventLoop.submit { self.errors }.get()
    }

    func issue() {
        guard running, errors < 100 else {
            if inFlight == 0, let stopped {
                self.stopped = nil
                stopped.succeed()
            }
            return
        }
        let bytes = sizes[Int(random.next() % UInt64(sizes.count))]
        let blocks = UInt64(bytes / 512)
        let lba = (random.next() % max(1, spanBlocks / blocks)) * blocks
        inFlight += 1
        session.submit(ISCSIInitiatorSession.read16(lba: lba, blocks: UInt32(blocks), blockSize: 512)).whenComplete { outcome in
            self.inFlight -= 1
            if case .success(let result) = outcome, result.status == 0 {
                let slot = Int((NIODeadline.now() - self.origin).nanoseconds / Self.slotNanos)
                if slot >= 0 {
                    while self.slots.count <= slot { self.slots.append(0) }
                    self.slots[slot] += Self.curve.cost(bytes: bytes)
                }
            } else {
                self.errors += 1
            }
            self.issue()
        }
    }
}
