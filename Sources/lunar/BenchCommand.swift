import ArgumentParser
import Foundation
import Logging
import LunarServer

/// `lunar bench ...`: measurements that live with the code.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmarks.", subcommands: [Placement.self, ISCSIBench.self, QoSBench.self, VMBench.self, QEMUBench.self])

    struct Placement: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Placement decision time with many pools and volumes (a temporary SQLite file; nothing else is touched)."
        )
        @Option(help: "Storage pools in the zone.") var pools = 10_000
        @Option(help: "Volumes already placed.") var volumes = 100_000
        @Option(help: "Allocator-only decisions to time.") var decisions = 1_000
        @Option(help: "Whole placement transactions to time.") var transactions = 200
        @Option(help: "Random seed (a run repeats with the same seed).") var seed: UInt64 = 1
        @Option(help: "Where to put the temporary database.") var directory = NSTemporaryDirectory()

        func run() async throws {
            var configuration = PlacementBenchmark.Configuration(directory: directory)
            configuration.pools = pools
            configuration.volumes = volumes
            configuration.decisions = decisions
            configuration.transactions = transactions
            configuration.seed = seed
            let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
            let result = try await PlacementBenchmark.run(configuration, logger: logger)
            print(result.report(configuration))
        }
    }
}
