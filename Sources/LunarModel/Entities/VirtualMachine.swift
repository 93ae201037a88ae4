/// A VM, as the server keeps it: where it runs and what it is made of. Its disks are volumes
/// whose `virtualMachineID` names it.
public struct VirtualMachine: Sendable, Hashable {
    /// CloudStack's VM states.
    public enum State: String, Sendable, Hashable, CaseIterable {
        case stopped = "Stopped"
        case starting = "Starting"
        case running = "Running"
        case stopping = "Stopping"
        case migrating = "Migrating"
        case destroyed = "Destroyed"
        case expunging = "Expunging"
        case error = "Error"
    }

    public var id: VirtualMachineID
    public var name: String
    public var displayName: String
    public var accountID: AccountID
    public var zoneID: ZoneID
    public var serviceOfferingID: ServiceOfferingID
    public var templateID: TemplateID
    public var state: State
    /// Where it runs (or is starting / stopping).
    public var hostID: HostID?
    /// Where it ran last; HA and restarts prefer it.
    public var lastHostID: HostID?
    /// The destination while `migrating`.
    public var migrationHostID: HostID?
    public var haEnabled: Bool
    /// What the simulator's VM does with its disks (`idle` or `journal`).
    public var workload: String
    public var createdEpochSeconds: Int64

    public init(
        id: VirtualMachineID, name: String, displayName: String, accountID: AccountID, zoneID: ZoneID, serviceOfferingID: ServiceOfferingID,
        templateID: TemplateID, state: State, hostID: HostID?, lastHostID: HostID?, migrationHostID: HostID?, haEnabled: Bool, workload: String,
        createdEpochSeconds: Int64
    ) {
        self.id = id
        self.name = name
        self.displayName = displayName
        self.accountID = accountID
        self.zoneID = zoneID
        self.serviceOfferingID = serviceOfferingID
        self.templateID = templateID
        self.state = state
        self.hostID = hostID
        self.lastHostID = lastHostID
        self.migrationHostID = migrationHostID
        self.haEnabled = haEnabled
        self.workload = workload
        self.createdEpochSeconds = createdEpochSeconds
    }
}
