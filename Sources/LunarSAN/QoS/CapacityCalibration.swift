import Foundation
import ISCSI
import Logging
import LunarModel
import NIOCore
import Synchronization

/// The node's capacity in 4 KiB-equivalent IOPS when no one gave it: measured once, at first
/// start, by a short burst of 4 KiB random reads and writes (half each) from several threads on a
/// scratch file in the data folder, and kept in `<data>/san/capacity.json` so later starts agree.
/// 80 % of what was measured is declared, leaving headroom for the iSCSI work around each I/O.
enum CapacityCalibration {
    struct Stored: Codable {
        var capacityIOPS: Int
        var measuredIOPS: Int
        var measured: Date

        enum CodingKeys: String, CodingKey {
            case capacityIOPS = "capacity_iops"
            case measuredIOPS = "measured_iops"
            case measured
        }
    }

    static func capacity(configuration: SANConfiguration, logger: Logger) throws -> SANNodeQoS {
        if let given = configuration.capacityIOPS {
            return SANNodeQoS(enabled: configuration.qosEnabled, capacityIOPS: given, capacitySource: "config")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        if let data = FileManager.default.contents(atPath: configuration.capacityFile), let stored = try? decoder.decode(Stored.self, from: data) {
            return SANNodeQoS(enabled: configuration.qosEnabled, capacityIOPS: stored.capacityIOPS, capacitySource: "calibrated")
        }
        let measured = try measure(directory: (configuration.capacityFile as NSString).deletingLastPathComponent, threads: 4, seconds: 1)
        let stored = Stored(capacityIOPS: max(100, Int(Double(measured) * 0.8)), measuredIOPS: measured, measured: Date())
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try encoder.encode(stored), to: configuration.capacityFile)
        logger.notice(
            "node capacity calibrated", metadata: ["san.measured_iops": .stringConvertible(measured), "san.capacity_iops": .stringConvertible(stored.capacityIOPS)]
        )
        return SANNodeQoS(enabled: configuration.qosEnabled, capacityIOPS: stored.capacityIOPS, capacitySource: "calibrated")
    }

    /// 4 KiB random I/O from `threads` threads for `seconds`; returns I/Os per second.
    static func measure(directory: String, threads: Int, seconds: Double) throws -> Int {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("calibration.tmp")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let blocks: UInt64 = 64 << 20 / 4096
        let device = try FileBlockDevice(path: path, sizeBytes: blocks * 4096, blockSize: 4096)
        // Written once, so reads hit data rather than holes.
        let chunk = ByteBuffer(repeating: 0x5A, count: 1 << 20)
        for block in stride(from: UInt64(0), to: blocks, by: 256) { try device.write(chunk, atBlock: block, forceUnitAccess: false) }
        let total = Mutex(0)
        let deadline = Date().addingTimeInterval(seconds)
        DispatchQueue.concurrentPerform(iterations: threads) { index in
            var random = SplitMix64(state: UInt64(index) &+ 0x5EED)
            let data = ByteBuffer(repeating: UInt8(index), count: 4096)
            var done = 0
            while Date() < deadline {
                for _ in 0..<64 {
                    let block = random.next() % blocks
                    if random.next() & 1 == 0 {
                        _ = try? device.read(atBlock: block, count: 1)
                    } else {
                        try? device.write(data, atBlock: block, forceUnitAccess: false)
                    }
                    done += 1
                }
            }
            total.withLock { $0 += done }
        }
        return Int(Double(total.withLock { $0 }) / seconds)
    }
}
