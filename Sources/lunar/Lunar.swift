import ArgumentParser

@main
struct Lunar: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lunar",
        abstract: "Managed block storage for clouds, with hard per-volume QoS and a CloudStack-compatible API.",
        subcommands: [
            UpCommand.self, ServerCommand.self, SANCommand.self, AgentCommand.self, APICallCommand.self,
            ZoneCommand.self, PodCommand.self, ClusterCommand.self, HostCommand.self, AccountCommand.self, JobCommand.self,
            OfferingCommand.self, PoolCommand.self, VolumeCommand.self, VMCommand.self, AdminCommand.self, BenchCommand.self,
        ]
    )
}
