import Foundation
import Histogram
import ISCSI
import LunarModel
import NIOCore
import NIOPosix

/// One load pattern of `lunar bench iscsi`.
struct ISCSIWorkload: Sendable, Hashable {
    var name: String
    var blockBytes: Int
    var queueDepth: Int
    var write: Bool
    var random: Bool

    static let standard: [ISCSIWorkload] = [
        .init(name: "4k-randread-qd1", blockBytes: 4096, queueDepth: 1, write: false, random: true),
        .init(name: "4k-randread-qd32", blockBytes: 4096, queueDepth: 32, write: false, random: true),
        .init(name: "4k-randwrite-qd1", blockBytes: 4096, queueDepth: 1, write: true, random: true),
        .init(name: "4k-randwrite-qd32", blockBytes: 4096, queueDepth: 32, write: true, random: true),
        .init(name: "128k-seqread-qd4", blockBytes: 128 << 10, queueDepth: 4, write: false, random: false),
        .init(name: "128k-seqwrite-qd4", blockBytes: 128 << 10, queueDepth: 4, write: true, random: false),
        .init(name: "1m-seqread-qd4", blockBytes: 1 << 20, queueDepth: 4, write: false, random: false),
        .init(name: "1m-seqwrite-qd4", blockBytes: 1 << 20, queueDepth: 4, write: true, random: false),
    ]
}

/// What one workload measured.
struct ISCSILoadResult: Sendable {
    var ios: UInt64
    var bytes: UInt64
    var seconds: Double
    var p50Micros: UInt64
    var p99Micros: UInt64
    var p999Micros: UInt64
    var errors: UInt64

    var iops: Double { Double(ios) / seconds }
    var megabytesPerSecond: Double { Double(bytes) / seconds / 1_000_000 }
}


/// Keeps `queueDepth` commands in flight on one session for a while, all on the session's event
/// loop (no task hops per I/O), and records each command's latency in an HdrHistogram.
final class ISCSILoadRun: @unchecked Sendable {
    // Touched only on the session's event loop.
    let session: ISCSIInitiatorSession
    let workload: ISCSIWorkload
    let blockSize: Int
    let spanBlocks: UInt64
    var random: SplitMix64
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var ios: UInt64 = 0
    var errors: UInt64 = 0
    var nextSequentialBlock: UInt64 = 0
    var stopAt: NIODeadline = .distantFuture
    var inFlight = 0
    var payload: ByteBuffer
    let done: EventLoopPromise<Void>

    init(session: ISCSIInitiatorSession, workload: ISCSIWorkload, blockSize: Int, spanBytes: UInt64, seed: UInt64) {
        self.session = session
        self.workload = workload
        self.blockSize = blockSize
        self.spanBlocks = spanBytes / UInt64(blockSize)
        self.random = SplitMix64(state: seed)
        var payload = ByteBufferAllocator().buffer(capacity: workload.blockBytes)
        var generator = SplitMix64(state: seed ^ 0xA5A5)
        for _ in 0..<(workload.blockBytes / 8) { payload.writeInteger(generator.next()) }
        self.payload = payload
        self.done = session.channel.eventLoop.makePromise()
    }

    func run(seconds: Double) async throws -> ISCSILoadResult {
        let loop = session.channel.eventLoop
        let started = NIODeadline.now()
        try await loop.submit {
            self.stopAt = started + .nanoseconds(Int64(seconds * 1e9))
            for _ in 0..<self.workload.queueDepth { self.issue() }
        }.get()
        try await done.futureResult.get()
        let elapsed = Double((NIODeadline.now() - started).nanoseconds) / 1e9
        return try await loop.submit {
            ISCSILoadResult(
                ios: self.ios, bytes: self.ios * UInt64(self.workload.blockBytes), seconds: elapsed,
                p50Micros: self.histogram.valueAtPercentile(50), p99Micros: self.histogram.valueAtPercentile(99),
                p999Micros: self.histogram.valueAtPercentile(99.9), errors: self.errors
            )
        }.get()
    }

    func nextBlock() -> UInt64 {
        let blocksPerIO = UInt64(workload.blockBytes / blockSize)
        let slots = max(1, spanBlocks / blocksPerIO)
        if workload.random { return (random.next() % slots) * blocksPerIO }
        let block = nextSequentialBlock
        nextSequentialBlock = (nextSequentialBlock + blocksPerIO) % (slots * blocksPerIO)
        return block
    }

    func issue() {
        guard NIODeadline.now() < stopAt, errors < 100 else {
            if inFlight == 0 { done.succeed() }
            return
        }
        let block = nextBlock()
        let request =
            workload.write
            ? ISCSIInitiatorSession.write16(lba: block, data: payload, blockSize: blockSize)
            : ISCSIInitiatorSession.read16(lba: block, blocks: UInt32(workload.blockBytes / blockSize), blockSize: blockSize)
        let issued = NIODeadline.now()
        inFlight += 1
        session.submit(request).whenComplete { outcome in
            self.inFlight -= 1
            switch outcome {
            case .success(let result) where result.status == 0:
                self.ios += 1
                _ = self.histogram.record(UInt64(max(1, (NIODeadline.now() - issued).nanoseconds / 1000)))
            default:
                self.errors += 1
            }
            self.issue()
        }
    }
}
