import ArgumentParser
import Foundation
import LunarClient
import LunarModel

extension SANVolumeCommand {
    struct QoS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qos", abstract: "Change a volume's QoS live (takes effect within a second, no reconnect); flags not given keep their value."
        )
        @Argument var name: String
        @Option(name: .long, help: "Guaranteed 4 KiB-equivalent IOPS.") var min: Int?
        @Option(name: .long, help: "Sustained IOPS cap.") var max: Int?
        @Option(name: .long, help: "IOPS cap while burst credit lasts.") var burst: Int?
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run {
                let client = try options.client()
                let current = try await client.volume(name).qos ?? .unlimited
                guard min != nil || max != nil || burst != nil else {
                    try options.print(try await client.volume(name))
                    return
                }
                var qos = current
                if let min { qos.minIOPS = min }
                if let max {
                    qos.maxIOPS = max
                    // A lowered max with an untouched burst would leave burst below max: follow it.
                    if burst == nil && qos.burstIOPS < max { qos.burstIOPS = max }
                }
                if let burst { qos.burstIOPS = burst }
                try options.print(try await client.setQoS(name, qos: qos))
            }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A volume's I/O: IOPS (actual and 4 KiB-equivalent), bytes, latency percentiles, time throttled, burst credit."
        )
        @Argument var name: String
        @Flag(name: .long, help: "Refresh every second until Ctrl-C.") var watch = false
        @Option(name: .long, help: "With --watch, stop after this many refreshes (0: never).") var count = 0
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run {
                let client = try options.client()
                var shown = 0
                repeat {
                    let stats = try await client.statistics(name)
                    if options.json {
                        print(try SANOutput.encode(stats))
                    } else {
                        if watch && shown == 0 { print(Self.header) }
                        print(watch ? Self.row(stats) : Self.block(stats))
                    }
                    fflush(nil)  // all streams: a watcher piped to a file sees each row at once
                    shown += 1
                    if watch && (count == 0 || shown < count) { try await Task.sleep(for: .seconds(1)) }
                } while watch && (count == 0 || shown < count)
            }
        }

        static let header = "time      iops  iops_4k      MB/s  p50_us  p99_us p999_us  throttled_s  credit_s  queued  min/max/burst"

        static func row(_ stats: SANVolumeStats) -> String {
            let time = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withTime, .withColonSeparatorInTime])
            let columns: [String] = [
                time.padding(toLength: 8, withPad: " ", startingAt: 0), pad(Int(stats.iops), 7), pad(Int(stats.iops4K), 8),
                pad(String(format: "%.1f", stats.bytesPerSecond / 1e6), 9), pad(stats.latencyMicros.p50, 7), pad(stats.latencyMicros.p99, 7),
                pad(stats.latencyMicros.p999, 7), pad(String(format: "%.3f", stats.throttledSecondsLastSecond), 12),
                pad(String(format: "%.1f", stats.burstCreditSeconds), 9), pad(stats.queued, 7),
                "  \(stats.qos.minIOPS)/\(stats.qos.maxIOPS)/\(stats.qos.burstIOPS)" + (stats.qosEnabled ? "" : " (QoS off)"),
            ]
            return columns.joined(separator: " ")
        }

        static func pad(_ value: some CustomStringConvertible, _ width: Int) -> String {
            let text = value.description
            return String(repeating: " ", count: Swift.max(0, width - text.count)) + text
        }

        static func block(_ stats: SANVolumeStats) -> String {
            let rows: [(String, String)] = [
                ("volume", stats.volume),
                ("qos", "min \(stats.qos.minIOPS) / max \(stats.qos.maxIOPS) / burst \(stats.qos.burstIOPS) IOPS" + (stats.qosEnabled ? "" : " (QoS off on this node)")),
                ("last second", "\(Int(stats.iops)) IOPS, \(Int(stats.iops4K)) 4K-equivalent, \(String(format: "%.1f", stats.bytesPerSecond / 1e6)) MB/s"),
                ("latency (last s)", "p50 \(stats.latencyMicros.p50) µs, p99 \(stats.latencyMicros.p99) µs, p99.9 \(stats.latencyMicros.p999) µs"),
                ("latency (total)", "p50 \(stats.totalLatencyMicros.p50) µs, p99 \(stats.totalLatencyMicros.p99) µs, p99.9 \(stats.totalLatencyMicros.p999) µs"),
                ("throttled", String(format: "%.3f s last second, %.1f s total", stats.throttledSecondsLastSecond, stats.totals.throttledSeconds)),
                ("burst credit", String(format: "%.1f s", stats.burstCreditSeconds)),
                ("queued", String(stats.queued)),
                ("totals", "\(stats.totals.ios) I/Os (\(stats.totals.reads) reads, \(stats.totals.writes) writes), \(stats.totals.bytesRead) bytes read, \(stats.totals.bytesWritten) written, \(stats.totals.errors) errors"),
            ]
            return rows.map { $0.0.padding(toLength: 17, withPad: " ", startingAt: 0) + " " + $0.1 }.joined(separator: "\n")
        }
    }
}

/// `lunar san qos`: the node's QoS switch and capacity.
struct SANQoSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qos", abstract: "Show or change the node's QoS: on/off and its capacity in 4 KiB-equivalent IOPS."
    )
    @Flag(name: .long, help: "Turn QoS on.") var enable = false
    @Flag(name: .long, help: "Turn QoS off (every command runs at once; for comparison runs).") var disable = false
    @Option(name: .customLong("capacity-iops"), help: "Set the node's capacity.") var capacityIOPS: Int?
    @OptionGroup var options: SANClientOptions

    func run() async throws {
        guard !(enable && disable) else { throw ValidationError("--enable or --disable, not both") }
        try await Output.run {
            let client = try options.client()
            let settings: SANNodeQoS
            if enable || disable || capacityIOPS != nil {
                settings = try await client.updateNodeQoS(enabled: enable ? true : disable ? false : nil, capacityIOPS: capacityIOPS)
            } else {
                settings = try await client.nodeQoS()
            }
            print(
                options.json
                    ? try SANOutput.encode(settings)
                    : "qos \(settings.enabled ? "on" : "off"), capacity \(settings.capacityIOPS) IOPS (\(settings.capacitySource))"
            )
        }
    }
}
