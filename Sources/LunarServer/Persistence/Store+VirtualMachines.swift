import LunarModel
import SQLKit

/// VMs and their disks, and hosts as their agents register them.
extension Store {
    /// Adds a VM with its (unplaced) volumes, in one transaction.
    public func insertVirtualMachine(_ vm: VirtualMachine, volumes: [Volume]) async throws {
        try await database.write { sql in
            try await insert(sql, into: "virtual_machines", [
                ("id", vm.id.uuid), ("name", vm.name), ("display_name", vm.displayName), ("account_id", vm.accountID.uuid),
                ("zone_id", vm.zoneID.uuid), ("service_offering_id", vm.serviceOfferingID.uuid), ("template_id", vm.templateID.uuid),
                ("state", vm.state.rawValue), ("host_id", vm.hostID?.uuid), ("last_host_id", vm.lastHostID?.uuid),
                ("migration_host_id", vm.migrationHostID?.uuid), ("ha_enabled", vm.haEnabled ? 1 : 0), ("workload", vm.workload),
                ("created", vm.createdEpochSeconds),
            ])
            for volume in volumes { try await insertVolumeRow(sql, volume) }
        }
    }

    public func virtualMachine(_ id: VirtualMachineID) async throws -> VirtualMachine? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM virtual_machines WHERE id = \(bind: id.uuid) AND removed IS NULL").first().map(Self.virtualMachine(from:))
        }
    }

    public struct VirtualMachineFilter: Sendable {
        public var id: VirtualMachineID?
        public var accountID: AccountID?
        public var hostID: HostID?
        public var state: VirtualMachine.State?
        public var name: String?
        public var zoneID: ZoneID?
        public var keyword: String?

        public init() {}
    }

    public func virtualMachines(_ filter: VirtualMachineFilter, window: ListWindow) async throws -> Page<VirtualMachine> {
        try await database.read { sql in
            try await page(sql, table: "virtual_machines", window: window) { query in
                var query = query.where(SQLColumn("removed"), .is, SQLLiteral.null)
                    .filter("id", equals: filter.id?.uuid).filter("account_id", equals: filter.accountID?.uuid)
                    .filter("host_id", equals: filter.hostID?.uuid).filter("state", equals: filter.state?.rawValue)
                    .filter("name", equals: filter.name).filter("zone_id", equals: filter.zoneID?.uuid)
                if let keyword = filter.keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.virtualMachine(from: $0) }
        }
    }

    /// VMs that hold or are moving to a host (running, starting, stopping, or migrating to or from it).
    public func virtualMachines(on host: HostID) async throws -> [VirtualMachine] {
        try await database.read { sql in
            try await sql.raw(
                "SELECT * FROM virtual_machines WHERE removed IS NULL AND (host_id = \(bind: host.uuid) OR migration_host_id = \(bind: host.uuid) OR fence_host_id = \(bind: host.uuid)) ORDER BY created"
            ).all().map(Self.virtualMachine(from:))
        }
    }

    /// Every live VM (for the invariant checker and reconciliation).
    public func allVirtualMachines() async throws -> [VirtualMachine] {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM virtual_machines WHERE removed IS NULL ORDER BY created").all().map(Self.virtualMachine(from:))
        }
    }

    /// Applies `event` to the VM through `VMStateMachine` in one transaction: an event the VM's
    /// state does not allow is refused (536), and so is one that would take the VM from a host
    /// the caller has not fenced off its disks (`fenced`), so no flow can record a VM Stopped or
    /// moved while another host may still write.
    public func transitionVirtualMachine(_ id: VirtualMachineID, _ event: VMEvent, fenced: Set<HostID> = []) async throws -> VirtualMachine {
        try await database.write { sql in
            guard let current = try await sql.raw("SELECT * FROM virtual_machines WHERE id = \(bind: id.uuid) AND removed IS NULL").first().map(Self.virtualMachine(from:))
            else { throw LunarError.unknownID("virtual machine", id.uuid) }
            let position = VMPosition(state: current.state, host: current.hostID, migrationHost: current.migrationHostID)
            let transition: VMStateMachine.Transition
            do {
                transition = try VMStateMachine.next(position, on: event)
            } catch let error as LunarError {
                throw LunarError(error.code, "VM \(current.name): \(error.text)")
            }
            let unfenced = transition.releases.subtracting(fenced)
            guard unfenced.isEmpty else {
                throw LunarError(.internalError, "VM \(current.name) cannot \(event): \(unfenced.count) host(s) it leaves were not fenced off its disks")
            }
            let next = transition.next
            let lastHost = next.host ?? current.hostID ?? current.lastHostID
            // The schema keeps migration_host_id for Migrating alone; a second host held in any other
            // state (one a fence could not reach) goes to fence_host_id.
            let migrating = next.state == .migrating
            try await sql.raw("""
                UPDATE virtual_machines SET state = \(bind: next.state.rawValue), host_id = \(bind: next.host?.uuid), last_host_id = \(bind: lastHost?.uuid),
                migration_host_id = \(bind: migrating ? next.migrationHost?.uuid : nil), fence_host_id = \(bind: migrating ? nil : next.migrationHost?.uuid)
                WHERE id = \(bind: id.uuid)
                """).run()
            var updated = current
            updated.state = next.state
            updated.hostID = next.host
            updated.lastHostID = lastHost
            updated.migrationHostID = next.migrationHost
            return updated
        }
    }

    /// Destroys a Stopped VM (through `VMStateMachine`: a VM that may still run somewhere is refused).
    public func removeVirtualMachine(_ id: VirtualMachineID) async throws {
        try await database.write { sql in
            guard let current = try await sql.raw("SELECT * FROM virtual_machines WHERE id = \(bind: id.uuid) AND removed IS NULL").first().map(Self.virtualMachine(from:))
            else { return }
            _ = try VMStateMachine.next(VMPosition(state: current.state, host: current.hostID, migrationHost: current.migrationHostID), on: .destroyed)
            try await sql.raw("UPDATE virtual_machines SET state = 'Destroyed', host_id = NULL, migration_host_id = NULL, fence_host_id = NULL, removed = \(bind: time.nowEpochSeconds()) WHERE id = \(bind: id.uuid)").run()
            try await sql.raw("UPDATE volumes SET vm_id = NULL, device_id = NULL, attached = NULL WHERE vm_id = \(bind: id.uuid) AND type = 'DATADISK'").run()
        }
    }

    /// The VM's volumes, root first, then by device id.
    public func volumes(of vm: VirtualMachineID) async throws -> [Volume] {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM volumes WHERE vm_id = \(bind: vm.uuid) AND state <> 'Expunged' ORDER BY device_id").all().map(Self.volume(from:))
        }
    }

    /// Records a volume as the VM's disk at `deviceID` (refused if it is another VM's).
    public func setVolumeAttachment(_ volume: VolumeID, vm: VirtualMachineID?, deviceID: Int?) async throws {
        try await database.write { sql in
            let attached: Int64? = vm == nil ? nil : time.nowEpochSeconds()
            try await sql.raw(
                "UPDATE volumes SET vm_id = \(bind: vm?.uuid), device_id = \(bind: deviceID), attached = \(bind: attached) WHERE id = \(bind: volume.uuid)"
            ).run()
        }
    }

    // MARK: Hosts, as agents register them

    /// Records an agent's host: updates the row with that name or adds one, and marks it Up.
    public func registerHost(_ host: LunarModel.Host) async throws -> LunarModel.Host {
        try await database.write { sql in
            if let existing = try await sql.raw("SELECT * FROM hosts WHERE name = \(bind: host.name)").first().map(Self.host(from:)) {
                try await sql.raw("""
                    UPDATE hosts SET ip_address = \(bind: host.ipAddress), initiator_iqn = \(bind: host.initiatorIQN), state = 'Up',
                    cpu_cores = \(bind: Int64(host.cpuCores)), cpu_speed_mhz = \(bind: Int64(host.cpuSpeedMHz)), memory_bytes = \(bind: host.memoryBytes),
                    last_pinged = \(bind: host.lastPingedEpochSeconds), accel = \(bind: host.accel) WHERE id = \(bind: existing.id.uuid)
                    """).run()
                var updated = existing
                updated.ipAddress = host.ipAddress
                updated.initiatorIQN = host.initiatorIQN
                updated.state = .up
                updated.cpuCores = host.cpuCores
                updated.cpuSpeedMHz = host.cpuSpeedMHz
                updated.memoryBytes = host.memoryBytes
                updated.lastPingedEpochSeconds = host.lastPingedEpochSeconds
                updated.accel = host.accel
                return updated
            }
            try await insert(sql, into: "hosts", [
                ("id", host.id.uuid), ("name", host.name), ("zone_id", host.zoneID.uuid), ("pod_id", host.podID.uuid),
                ("cluster_id", host.clusterID.uuid), ("hypervisor", host.hypervisor.rawValue), ("ip_address", host.ipAddress),
                ("initiator_iqn", host.initiatorIQN), ("state", "Up"), ("resource_state", host.resourceState.rawValue),
                ("cpu_cores", Int64(host.cpuCores)), ("cpu_speed_mhz", Int64(host.cpuSpeedMHz)), ("memory_bytes", host.memoryBytes),
                ("last_pinged", host.lastPingedEpochSeconds), ("created", host.createdEpochSeconds), ("accel", host.accel),
            ])
            var inserted = host
            inserted.state = .up
            return inserted
        }
    }

    public func setHostState(_ id: HostID, _ state: LunarModel.Host.State) async throws {
        try await database.write { sql in
            try await sql.raw("UPDATE hosts SET state = \(bind: state.rawValue) WHERE id = \(bind: id.uuid)").run()
        }
    }

    public func setHostResourceState(_ id: HostID, _ state: LunarModel.Host.ResourceState) async throws {
        try await database.write { sql in
            try await sql.raw("UPDATE hosts SET resource_state = \(bind: state.rawValue) WHERE id = \(bind: id.uuid)").run()
        }
    }

    public func touchHost(_ id: HostID) async throws {
        try await database.write { sql in
            try await sql.raw("UPDATE hosts SET last_pinged = \(bind: time.nowEpochSeconds()) WHERE id = \(bind: id.uuid)").run()
        }
    }

    public func allHosts() async throws -> [LunarModel.Host] {
        try await database.read { sql in try await sql.raw("SELECT * FROM hosts ORDER BY created, name").all().map(Self.host(from:)) }
    }

    // MARK: Settings

    public func setting(_ name: String) async throws -> String? {
        try await database.read { sql in try await sql.raw("SELECT value FROM settings WHERE name = \(bind: name)").first()?.decode(column: "value", as: String.self) }
    }

    public func setSetting(_ name: String, _ value: String) async throws {
        try await database.write { sql in
            try await sql.raw("DELETE FROM settings WHERE name = \(bind: name)").run()
            try await sql.raw("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: value))").run()
        }
    }

    static func virtualMachine(from row: any SQLRow) throws -> VirtualMachine {
        VirtualMachine(
            id: VirtualMachineID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            displayName: try row.decode(column: "display_name", as: String.self),
            accountID: AccountID(trusted: try row.decode(column: "account_id", as: String.self)),
            zoneID: ZoneID(trusted: try row.decode(column: "zone_id", as: String.self)),
            serviceOfferingID: ServiceOfferingID(trusted: try row.decode(column: "service_offering_id", as: String.self)),
            templateID: TemplateID(trusted: try row.decode(column: "template_id", as: String.self)),
            state: try decodeEnum(row, "state", as: VirtualMachine.State.self),
            hostID: try row.decode(column: "host_id", as: String?.self).map(HostID.init(trusted:)),
            lastHostID: try row.decode(column: "last_host_id", as: String?.self).map(HostID.init(trusted:)),
            migrationHostID: (try row.decode(column: "migration_host_id", as: String?.self) ?? row.decode(column: "fence_host_id", as: String?.self))
                .map(HostID.init(trusted:)),
            haEnabled: try row.decode(column: "ha_enabled", as: Int.self) == 1,
            workload: try row.decode(column: "workload", as: String.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
    }
}

extension Store {
    /// The zone's pools (every one an agent there may have to serve).
    public func pools(zoneID: ZoneID) async throws -> [StoragePool] {
        try await storagePools(id: nil, zoneID: zoneID, clusterID: nil, name: nil, scope: nil, keyword: nil, window: .all).items
    }
}
