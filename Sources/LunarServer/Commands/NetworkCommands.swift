/// Lunar has no networking: these listings are always empty, and exist so CloudStack tools that
/// list a VM's addresses with its details (Libcloud's `list_nodes`) work unchanged.
enum NetworkCommands {
    static let all: [APICommand] = ["listPublicIpAddresses", "listPortForwardingRules", "listIpForwardingRules"].map(emptyListing)

    static func emptyListing(_ name: String) -> APICommand {
        APICommand(
            name: name,
            description: "Always empty: Lunar manages storage and VMs, not networks",
            access: .anyUser,
            parameters: [
                APIParameter("id", .string, "Ignored"), APIParameter("ipaddressid", .string, "Ignored"),
                APIParameter("virtualmachineid", .string, "Ignored"), APIParameter("zoneid", .string, "Ignored"),
                APIParameter("projectid", .string, "Ignored"),
            ] + APIParameter.listing,
            execution: .sync { _ in .list(name: name.dropFirst(4).lowercased(), items: [], total: 0) }
        )
    }
}
