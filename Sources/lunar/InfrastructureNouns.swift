import ArgumentParser
import LunarModel

/// `lunar zone list|create|delete`
struct ZoneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "zone", abstract: "Zones.", subcommands: [List.self, Create.self, Delete.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listZones")
                Output.printList(reply, key: "zone", columns: ["id", "name", "networktype", "allocationstate"], json: options.json)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The zone name.") var name: String
        @Option(help: "Basic or Advanced.") var networkType = "Advanced"
        @Option(help: "Public DNS server.") var dns = "8.8.8.8"
        @Option(help: "Internal DNS server.") var internalDNS = "127.0.0.53"
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call(
                    "createZone", ["name": name, "networktype": networkType, "dns1": dns, "internaldns1": internalDNS]
                )
                Output.printObject(reply["zone"]?.objectValue ?? reply, json: options.json)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The zone id.") var id: String
        func run() async throws {
            try await Output.run {
                Output.printObject(try await options.client().call("deleteZone", ["id": id]), json: options.json)
            }
        }
    }
}

/// `lunar pod list|create|delete`
struct PodCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pod", abstract: "Pods.", subcommands: [List.self, Create.self, Delete.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listPods")
                Output.printList(reply, key: "pod", columns: ["id", "name", "zonename", "allocationstate"], json: options.json)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The pod name.") var name: String
        @Option(help: "The zone id.") var zone: String
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("createPod", ["name": name, "zoneid": zone])
                Output.printObject(reply["pod"]?.objectValue ?? reply, json: options.json)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The pod id.") var id: String
        func run() async throws {
            try await Output.run {
                Output.printObject(try await options.client().call("deletePod", ["id": id]), json: options.json)
            }
        }
    }
}

/// `lunar cluster list|create|delete`
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cluster", abstract: "Clusters.", subcommands: [List.self, Create.self, Delete.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listClusters")
                Output.printList(reply, key: "cluster", columns: ["id", "name", "zonename", "podname", "hypervisortype"], json: options.json)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The cluster name.") var name: String
        @Option(help: "The zone id.") var zone: String
        @Option(help: "The pod id (default: the zone's default pod).") var pod: String?
        @Option(help: "Simulator or KVM.") var hypervisor = "Simulator"
        func run() async throws {
            var parameters = ["clustername": name, "zoneid": zone, "hypervisor": hypervisor, "clustertype": "CloudManaged"]
            parameters["podid"] = pod
            try await Output.run {
                let reply = try await options.client().call("addCluster", parameters)
                Output.printObject(reply["cluster"]?.arrayValue?.first?.objectValue ?? reply, json: options.json)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The cluster id.") var id: String
        func run() async throws {
            try await Output.run {
                Output.printObject(try await options.client().call("deleteCluster", ["id": id]), json: options.json)
            }
        }
    }
}

/// `lunar host list`
struct HostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "host", abstract: "Hypervisor hosts.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listHosts")
                Output.printList(reply, key: "host", columns: ["id", "name", "state", "resourcestate", "ipaddress", "clustername"], json: options.json)
            }
        }
    }
}
