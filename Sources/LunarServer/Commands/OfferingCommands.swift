import LunarModel

/// Disk offerings, service offerings and templates.
enum OfferingCommands {
    static let all: [APICommand] = [
        createDiskOffering, listDiskOfferings, updateDiskOffering, deleteDiskOffering,
        createServiceOffering, listServiceOfferings, deleteServiceOffering,
    ]

    static let diskOfferingFields = [
        APIResponseField("id", "the offering id"), APIResponseField("name", "the name"), APIResponseField("displaytext", "a description"),
        APIResponseField("disksize", "long", "size in GB (0 when customized)"), APIResponseField("iscustomized", "boolean", "the user picks the size"),
        APIResponseField("iscustomizediops", "boolean", "the user picks the IOPS"), APIResponseField("miniops", "long", "guaranteed IOPS"),
        APIResponseField("maxiops", "long", "IOPS cap"), APIResponseField("tags", "storage tags"), APIResponseField("storagetype", "shared or local"),
        APIResponseField("provisioningtype", "thin, sparse or fat"), APIResponseField("hypervisorsnapshotreserve", "integer", "percent"),
    ]

    static let createDiskOffering = APICommand(
        name: "createDiskOffering",
        description: "Creates a disk offering: a size (or customized) and storage QoS (fixed IOPS, or customizediops)",
        access: .rootAdmin,
        parameters: [
            APIParameter("name", .string, required: true, "The name"),
            APIParameter("displaytext", .string, length: 4096, "A description (the name when absent)"),
            APIParameter("disksize", .long, "Size in GB, unless customized"),
            APIParameter("customized", .boolean, "The user gives the size per volume"),
            APIParameter("miniops", .long, "Guaranteed IOPS"),
            APIParameter("maxiops", .long, "IOPS cap"),
            APIParameter("customizediops", .boolean, "The user gives miniops/maxiops per volume"),
            APIParameter("tags", .string, length: 4096, "Storage tags, comma-separated"),
            APIParameter("hypervisorsnapshotreserve", .integer, "Extra space for hypervisor snapshots, percent of the size"),
            APIParameter("provisioningtype", .string, "thin (default), sparse or fat"),
            APIParameter("storagetype", .string, "shared (default) or local"),
            APIParameter("displayoffering", .boolean, "Show the offering to users"),
        ] + HypervisorRateLimits.parameters,
        responseName: "diskoffering",
        responseFields: diskOfferingFields,
        execution: .sync { call in
            let p = call.parameters
            let name = try p.requiredString("name", command: call.command.name)
            let offering = DiskOffering(
                id: .random(), name: name, displayText: p["displaytext"] ?? name, diskSizeGB: try p.int64("disksize"),
                isCustomized: try p.bool("customized") ?? false, minIOPS: try p.int64("miniops"), maxIOPS: try p.int64("maxiops"),
                isCustomizedIOPS: try p.bool("customizediops") ?? false, tags: try StorageTags.parse(p["tags"]),
                hypervisorSnapshotReservePercent: try p.int("hypervisorsnapshotreserve"),
                provisioningType: try p.choice("provisioningtype", as: DiskOffering.ProvisioningType.self) ?? .thin,
                storageType: try p.choice("storagetype", as: DiskOffering.StorageType.self) ?? .shared,
                rateLimits: try HypervisorRateLimits.from(p), createdEpochSeconds: call.server.time.nowEpochSeconds()
            )
            try await call.server.store.createDiskOffering(offering)
            return .object(name: "diskoffering", offering.response)
        }
    )

    static let listDiskOfferings = APICommand(
        name: "listDiskOfferings",
        description: "Lists disk offerings",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, "List by id"), APIParameter("name", .string, "List by name")] + APIParameter.listing,
        responseName: "diskoffering",
        responseFields: diskOfferingFields,
        execution: .sync { call in
            let p = call.parameters
            let page = try await call.server.store.diskOfferings(id: try p.id("id"), name: p["name"], keyword: p["keyword"], window: try p.window())
            return .list(name: "diskoffering", items: page.items.map(\.response), total: page.total)
        }
    )

    static let updateDiskOffering = APICommand(
        name: "updateDiskOffering",
        description: "Renames a disk offering or changes its storage tags (sizes and IOPS are fixed once volumes use it)",
        access: .rootAdmin,
        parameters: [
            APIParameter("id", .uuid, required: true, "The offering"), APIParameter("name", .string, "New name"),
            APIParameter("displaytext", .string, length: 4096, "New description"), APIParameter("tags", .string, length: 4096, "New storage tags"),
        ],
        responseName: "diskoffering",
        responseFields: diskOfferingFields,
        execution: .sync { call in
            let p = call.parameters
            let offering = try await call.server.store.updateDiskOffering(
                try p.requiredID("id", command: call.command.name), name: p["name"], displayText: p["displaytext"],
                tags: try p["tags"].map { try StorageTags.parse($0) }
            )
            return .object(name: "diskoffering", offering.response)
        }
    )

    static let deleteDiskOffering = APICommand(
        name: "deleteDiskOffering",
        description: "Deletes a disk offering (volumes made from it keep it)",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The offering")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .sync { call in
            try await call.server.store.deleteDiskOffering(try call.parameters.requiredID("id", command: call.command.name))
            return .success
        }
    )

    static let serviceOfferingFields = [
        APIResponseField("id", "the offering id"), APIResponseField("name", "the name"), APIResponseField("cpunumber", "integer", "CPUs"),
        APIResponseField("cpuspeed", "integer", "MHz"), APIResponseField("memory", "integer", "MB"),
        APIResponseField("miniops", "long", "root disk guaranteed IOPS"), APIResponseField("maxiops", "long", "root disk IOPS cap"),
        APIResponseField("storagetags", "root disk storage tags"),
    ]

    static let createServiceOffering = APICommand(
        name: "createServiceOffering",
        description: "Creates a service offering: CPU, memory and the root disk's QoS",
        access: .rootAdmin,
        parameters: [
            APIParameter("name", .string, required: true, "The name"),
            APIParameter("displaytext", .string, length: 4096, "A description (the name when absent)"),
            APIParameter("cpunumber", .integer, required: true, "CPUs"),
            APIParameter("cpuspeed", .integer, required: true, "CPU speed in MHz"),
            APIParameter("memory", .integer, required: true, "Memory in MB"),
            APIParameter("miniops", .long, "Root disk guaranteed IOPS"),
            APIParameter("maxiops", .long, "Root disk IOPS cap"),
            APIParameter("customizediops", .boolean, "The user gives the root disk IOPS"),
            APIParameter("tags", .string, length: 4096, "Storage tags for the root disk"),
            APIParameter("hosttags", .string, length: 4096, "Host tags"),
            APIParameter("rootdisksize", .long, "Root disk size in GB (the template's size when absent)"),
            APIParameter("offerha", .boolean, "Restart the VMs elsewhere when their host fails"),
            APIParameter("hypervisorsnapshotreserve", .integer, "Percent"),
            APIParameter("provisioningtype", .string, "thin, sparse or fat"),
            APIParameter("storagetype", .string, "shared or local"),
        ] + HypervisorRateLimits.parameters,
        responseName: "serviceoffering",
        responseFields: serviceOfferingFields,
        execution: .sync { call in
            let p = call.parameters
            let command = call.command.name
            let name = try p.requiredString("name", command: command)
            func required(_ key: String) throws -> Int {
                guard let value = try p.int(key) else { throw LunarError.missingParameter(key, command: command) }
                return value
            }
            let offering = ServiceOffering(
                id: .random(), name: name, displayText: p["displaytext"] ?? name, cpuNumber: try required("cpunumber"),
                cpuSpeedMHz: try required("cpuspeed"), memoryMB: try required("memory"), minIOPS: try p.int64("miniops"),
                maxIOPS: try p.int64("maxiops"), isCustomizedIOPS: try p.bool("customizediops") ?? false,
                tags: try StorageTags.parse(p["tags"]), hostTags: try StorageTags.parse(p["hosttags"], parameter: "hosttags"),
                rootDiskSizeGB: try p.int64("rootdisksize"), hypervisorSnapshotReservePercent: try p.int("hypervisorsnapshotreserve"),
                provisioningType: try p.choice("provisioningtype", as: DiskOffering.ProvisioningType.self) ?? .thin,
                storageType: try p.choice("storagetype", as: DiskOffering.StorageType.self) ?? .shared,
                rateLimits: try HypervisorRateLimits.from(p), createdEpochSeconds: call.server.time.nowEpochSeconds()
            )
            var created = offering
            created.offerHA = try p.bool("offerha") ?? false
            try await call.server.store.createServiceOffering(created)
            return .object(name: "serviceoffering", created.response)
        }
    )

    static let listServiceOfferings = APICommand(
        name: "listServiceOfferings",
        description: "Lists service offerings",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, "List by id"), APIParameter("name", .string, "List by name")] + APIParameter.listing,
        responseName: "serviceoffering",
        responseFields: serviceOfferingFields,
        execution: .sync { call in
            let p = call.parameters
            let page = try await call.server.store.serviceOfferings(id: try p.id("id"), name: p["name"], keyword: p["keyword"], window: try p.window())
            return .list(name: "serviceoffering", items: page.items.map(\.response), total: page.total)
        }
    )

    static let deleteServiceOffering = APICommand(
        name: "deleteServiceOffering",
        description: "Deletes a service offering",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The offering")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .sync { call in
            try await call.server.store.deleteServiceOffering(try call.parameters.requiredID("id", command: call.command.name))
            return .success
        }
    )
}
