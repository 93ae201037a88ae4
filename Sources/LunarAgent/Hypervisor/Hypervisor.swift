import LunarModel
import LunarWire

/// What runs guests on a host: the `simulator` (VMs inside the agent) or `qemu` (a
/// `qemu-system-x86_64` process per VM). `AgentCommandHandler` calls one operation per VM at a
/// time; every operation is idempotent, and a failure leaves nothing half-done (a start that
/// fails disconnects what it connected).
public protocol Hypervisor: Sendable {
    /// How the server lists the host's hypervisor (`Simulator`, `KVM`).
    var name: String { get }
    /// How guests run (`kvm`, `tcg`); nil for the simulator.
    var accel: String? { get }

    /// Connects every disk, then starts the VM, or for a migration receiver (`paused`) holds it
    /// ready to receive.
    func start(_ spec: VMSpec, paused: Bool) async throws -> AgentResult
    /// Stops the VM and disconnects its disks; nothing to do when it is not here.
    func stop(_ id: VirtualMachineID) async throws -> AgentResult
    /// Abandons a prepared receiver (or stops the VM), disconnecting its disks.
    func cancelMigration(_ id: VirtualMachineID) async throws -> AgentResult
    func attach(_ disk: DiskSpec, to id: VirtualMachineID) async throws -> AgentResult
    func detach(_ volume: VolumeID, from id: VirtualMachineID) async throws -> AgentResult
    /// Changes a running VM's throttle on one disk, live; the VM keeps running whatever happens.
    func setLimits(_ limits: HypervisorRateLimits?, totalIOPS: Int64?, of volume: VolumeID, on id: VirtualMachineID) async throws -> AgentResult
    /// Hands the VM to the destination; answers once the source no longer runs it.
    func migrate(_ id: VirtualMachineID, to destination: MigrationDestination) async throws -> AgentResult
    /// Runs a receiver that took the VM over (or the source again, after a rollback).
    func resume(_ id: VirtualMachineID, from state: VMState) async throws -> AgentResult
    /// Takes the volume from any VM here that has it, then disconnects it.
    func takeAway(_ volume: VolumeID) async throws
    /// What runs here.
    func reports() async -> [VMReport]
    /// Volumes connected on this host, by any VM or adaptor.
    func connectedVolumes() async -> [VolumeID]
    /// At agent start, before registering: take back guests a previous agent left running.
    func adoptRunningGuests() async
    /// The agent is stopping: the simulator's VMs stop with it; real guests are left running.
    func agentStopping() async
}
