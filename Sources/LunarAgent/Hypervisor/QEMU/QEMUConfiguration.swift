import Foundation

/// How the `qemu` hypervisor runs guests on this host.
public struct QEMUConfiguration: Sendable {
    /// Per-guest folders (`vm/<id>/`: QMP socket, pid file, spec, secrets). A restarted agent
    /// adopts the guests it finds here.
    public var stateDirectory: String
    /// Serial console logs, `<id>.log` (with `<id>.log.1`, the older half, once it grew past
    /// `consoleLimit`). Hosts sharing this folder (`lunar up`) keep one log per VM across
    /// migrations and restarts.
    public var consoleDirectory: String
    public var binary = "qemu-system-x86_64"
    /// `kvm` or `tcg`; nil probes once at start.
    public var accel: String?
    public var hostName: String
    public var initiatorIQN: String
    /// The address a migration receiver listens on.
    public var migrationAddress = "127.0.0.1"
    /// QEMU's `max-bandwidth` for a live migration, bytes per second.
    public var migrationBandwidth: Int64 = 1 << 30
    /// How long a live migration may take before it is cancelled (the source runs on).
    public var migrationTimeout: Duration = .seconds(90)
    /// How long a guest has to power off after the ACPI button before QEMU is told to quit.
    public var powerdownTimeout: Duration = .seconds(15)
    /// How long a guest has to release a disk after `device_del`.
    public var unplugTimeout: Duration = .seconds(15)
    public var consoleLimit = 1 << 20
    /// Stop every guest when the agent stops (`lunar up`); a standalone agent leaves them running.
    public var stopGuestsOnExit = false

    public init(stateDirectory: String, consoleDirectory: String? = nil, hostName: String, initiatorIQN: String) {
        self.stateDirectory = stateDirectory
        self.consoleDirectory = consoleDirectory ?? (stateDirectory as NSString).appendingPathComponent("consoles")
        self.hostName = hostName
        self.initiatorIQN = initiatorIQN
    }
}
