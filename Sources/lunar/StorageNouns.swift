import ArgumentParser
import LunarClient
import LunarModel

/// `lunar offering list|show|create|delete` (disk offerings; `--service` for service offerings)
struct OfferingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offering", abstract: "Disk and service offerings.", subcommands: [List.self, Show.self, Create.self, Delete.self]
    )

    struct Kind: ParsableArguments {
        @Flag(help: "Service offerings instead of disk offerings.") var service = false
        var noun: String { service ? "ServiceOffering" : "DiskOffering" }
        var key: String { service ? "serviceoffering" : "diskoffering" }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var kind: Kind
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("list\(kind.noun)s")
                let columns = kind.service ? ["id", "name", "cpunumber", "memory", "miniops", "maxiops"]
                    : ["id", "name", "disksize", "iscustomized", "miniops", "maxiops", "iscustomizediops", "tags"]
                Output.printList(reply, key: kind.key, columns: columns, json: options.json)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var kind: Kind
        @Argument(help: "The offering id.") var id: String
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("list\(kind.noun)s", ["id": id])
                guard let offering = reply[kind.key]?.arrayValue?.first?.objectValue else { throw Output.notFound(id) }
                Output.printObject(offering, json: options.json)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a disk offering (or, with --service, a service offering).",
            discussion: "Examples: `lunar offering create gold --size 10 --min-iops 1000 --max-iops 2000`; `lunar offering create flex --custom-size --custom-iops`."
        )
        @OptionGroup var options: ClientOptions
        @OptionGroup var kind: Kind
        @Argument(help: "The name.") var name: String
        @Option(help: "Size in GB (disk offerings, unless --custom-size).") var size: Int64?
        @Flag(help: "The user picks the size.") var customSize = false
        @Option(help: "Guaranteed IOPS.") var minIops: Int64?
        @Option(help: "IOPS cap.") var maxIops: Int64?
        @Flag(help: "The user picks the IOPS.") var customIops = false
        @Option(help: "Storage tags, comma-separated.") var tags: String?
        @Option(help: "Hypervisor snapshot reserve, percent.") var snapshotReserve: Int?
        @Option(help: "CPUs (service offerings).") var cpus = 1
        @Option(help: "CPU MHz (service offerings).") var cpuSpeed = 1000
        @Option(help: "Memory in MB (service offerings).") var memory = 512
        func run() async throws {
            var parameters = ["name": name]
            parameters["miniops"] = minIops.map(String.init)
            parameters["maxiops"] = maxIops.map(String.init)
            parameters["tags"] = tags
            parameters["hypervisorsnapshotreserve"] = snapshotReserve.map(String.init)
            if customIops { parameters["customizediops"] = "true" }
            if kind.service {
                parameters["cpunumber"] = String(cpus)
                parameters["cpuspeed"] = String(cpuSpeed)
                parameters["memory"] = String(memory)
            } else {
                parameters["disksize"] = size.map(String.init)
                if customSize { parameters["customized"] = "true" }
            }
            try await Output.run {
                let reply = try await options.client().call("create\(kind.noun)", parameters)
                Output.printObject(reply[kind.key]?.objectValue ?? reply, json: options.json)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var kind: Kind
        @Argument(help: "The offering id.") var id: String
        func run() async throws {
            try await Output.run {
                Output.printObject(try await options.client().call("delete\(kind.noun)", ["id": id]), json: options.json)
            }
        }
    }
}

/// `lunar pool list|show|create|update|delete|maintenance`
struct PoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool", abstract: "Primary storage pools.",
        subcommands: [List.self, Show.self, Create.self, Update.self, Delete.self, Maintenance.self]
    )

    static let columns = ["id", "name", "provider", "scope", "state", "disksizetotal", "disksizeallocated", "capacityiops", "allocatediops", "tags"]

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await Output.run {
                Output.printList(try await options.client().call("listStoragePools"), key: "storagepool", columns: PoolCommand.columns, json: options.json)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The pool id.") var id: String
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listStoragePools", ["id": id])
                guard let pool = reply["storagepool"]?.arrayValue?.first?.objectValue else { throw Output.notFound(id) }
                Output.printObject(pool, json: options.json)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a pool, e.g. `lunar pool create p1 --zone Z --url file:///srv/lunar --capacity-iops 10000`.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The pool name.") var name: String
        @Option(help: "The zone id.") var zone: String
        @Option(help: "Where the storage is (file:///path for the local provider).") var url: String
        @Option(help: "The provider.") var provider = "local"
        @Option(help: "The cluster id (cluster scope).") var cluster: String?
        @Option(help: "Capacity in bytes (measured when absent).") var capacityBytes: Int64?
        @Option(help: "IOPS the pool can guarantee.") var capacityIops: Int64?
        @Option(help: "Storage tags, comma-separated.") var tags: String?
        func run() async throws {
            var parameters = ["name": name, "zoneid": zone, "url": url, "provider": provider]
            parameters["clusterid"] = cluster
            parameters["capacitybytes"] = capacityBytes.map(String.init)
            parameters["capacityiops"] = capacityIops.map(String.init)
            parameters["tags"] = tags
            try await Output.run {
                let reply = try await options.client().call("createStoragePool", parameters)
                Output.printObject(reply["storagepool"]?.objectValue ?? reply, json: options.json)
            }
        }
    }

    struct Update: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The pool id.") var id: String
        @Option(help: "New capacity in bytes.") var capacityBytes: Int64?
        @Option(help: "New IOPS capacity.") var capacityIops: Int64?
        @Option(help: "New storage tags.") var tags: String?
        @Option(help: "true or false.") var enabled: Bool?
        func run() async throws {
            var parameters = ["id": id]
            parameters["capacitybytes"] = capacityBytes.map(String.init)
            parameters["capacityiops"] = capacityIops.map(String.init)
            parameters["tags"] = tags
            parameters["enabled"] = enabled.map(String.init)
            try await Output.run {
                let reply = try await options.client().call("updateStoragePool", parameters)
                Output.printObject(reply["storagepool"]?.objectValue ?? reply, json: options.json)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The pool id.") var id: String
        @Flag(help: "Also expunge volumes being destroyed.") var forced = false
        func run() async throws {
            try await Output.run {
                Output.printObject(try await options.client().call("deleteStoragePool", ["id": id, "forced": String(forced)]), json: options.json)
            }
        }
    }

    struct Maintenance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enter (or --cancel) maintenance; waits for the job.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The pool id.") var id: String
        @Flag(help: "Leave maintenance.") var cancel = false
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                let reply = try await client.call(cancel ? "cancelStorageMaintenance" : "enableStorageMaintenance", ["id": id])
                let result = try await Output.wait(client, reply: reply)
                Output.printObject(result["storagepool"]?.objectValue ?? result, json: options.json)
            }
        }
    }
}

/// `lunar volume list|show|create|resize|delete`
struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume", abstract: "Volumes.", subcommands: [List.self, Show.self, Create.self, Resize.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Option(help: "Only volumes on this pool.") var pool: String?
        func run() async throws {
            var parameters = ["listall": "true"]
            parameters["storageid"] = pool
            try await Output.run {
                let reply = try await options.client().call("listVolumes", parameters)
                Output.printList(reply, key: "volume", columns: ["id", "name", "state", "size", "miniops", "maxiops", "storage"], json: options.json)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The volume id.") var id: String
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listVolumes", ["id": id])
                guard let volume = reply["volume"]?.arrayValue?.first?.objectValue else { throw Output.notFound(id) }
                Output.printObject(volume, json: options.json)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a volume (waits for the job).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The volume name.") var name: String
        @Option(help: "The zone id.") var zone: String
        @Option(help: "The disk offering id.") var offering: String
        @Option(help: "Size in GB (customized offerings).") var size: Int64?
        @Option(help: "Guaranteed IOPS (customizediops offerings).") var minIops: Int64?
        @Option(help: "IOPS cap (customizediops offerings).") var maxIops: Int64?
        @Option(help: "Place it on this pool now (admins).") var pool: String?
        func run() async throws {
            var parameters = ["name": name, "zoneid": zone, "diskofferingid": offering]
            parameters["size"] = size.map(String.init)
            parameters["miniops"] = minIops.map(String.init)
            parameters["maxiops"] = maxIops.map(String.init)
            parameters["storageid"] = pool
            try await Output.run {
                let client = try options.client()
                let result = try await Output.wait(client, reply: try await client.call("createVolume", parameters))
                Output.printObject(result["volume"]?.objectValue ?? result, json: options.json)
            }
        }
    }

    struct Resize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a volume's size and/or IOPS (waits for the job).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The volume id.") var id: String
        @Option(help: "New size in GB.") var size: Int64?
        @Option(help: "New guaranteed IOPS.") var minIops: Int64?
        @Option(help: "New IOPS cap.") var maxIops: Int64?
        @Option(help: "A new disk offering id.") var offering: String?
        @Flag(help: "Allow shrinking.") var shrink = false
        func run() async throws {
            var parameters = ["id": id]
            parameters["size"] = size.map(String.init)
            parameters["miniops"] = minIops.map(String.init)
            parameters["maxiops"] = maxIops.map(String.init)
            parameters["diskofferingid"] = offering
            if shrink { parameters["shrinkok"] = "true" }
            try await Output.run {
                let client = try options.client()
                let result = try await Output.wait(client, reply: try await client.call("resizeVolume", parameters))
                Output.printObject(result["volume"]?.objectValue ?? result, json: options.json)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The volume id.") var id: String
        func run() async throws {
            try await Output.run {
                Output.printObject(try await options.client().call("deleteVolume", ["id": id]), json: options.json)
            }
        }
    }
}
