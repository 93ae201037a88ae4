/// Where a VM is in its lifecycle: its state and the hosts that may hold its disks.
public struct VMPosition: Sendable, Hashable, CustomStringConvertible {
    public var state: VirtualMachine.State
    /// The host it runs on (or starts, stops on; the source while migrating; in `Error`, a host
    /// whose access to its disks could not be taken away).
    public var host: HostID?
    /// The destination while migrating (in `Error`, a destination that could not be fenced).
    public var migrationHost: HostID?

    public init(state: VirtualMachine.State, host: HostID? = nil, migrationHost: HostID? = nil) {
        self.state = state
        self.host = host
        self.migrationHost = migrationHost
    }

    /// Every host that may reach the VM's disks in this position.
    public var hosts: Set<HostID> { Set([host, migrationHost].compactMap { $0 }) }

    public var description: String {
        var text = state.rawValue
        if let host { text += " on \(host.uuid.prefix(8))" }
        if let migrationHost { text += " → \(migrationHost.uuid.prefix(8))" }
        return text
    }
}

/// What happened to a VM. Flows report events; the machine decides the next position.
public enum VMEvent: Sendable, Hashable, CustomStringConvertible {
    /// A start on `host` begins (Stopped, or Error once fenced).
    case startRequested(host: HostID)
    /// Every disk is connected and the VM runs.
    case started
    /// The start was undone and the host fenced off every disk.
    case startRolledBack
    /// A stop begins (Running; Stopping again; Error with a host to fence).
    case stopRequested
    /// The host refused to stop the VM: it still runs there.
    case stopRefused
    /// The host stopped the VM (or was fenced) and lost every grant.
    case stopped
    /// A live migration to `destination` begins.
    case migrationRequested(destination: HostID)
    /// The destination runs the VM; the source was disconnected and fenced.
    case migrationCompleted
    /// The migration failed and the destination was fenced: the VM runs on its source again.
    case migrationRolledBack
    /// The VM's host lost it while alive (an agent restart): it starts again in place.
    case restartRequested
    /// A fence did not take: the VM goes to Error keeping the hosts that may still reach its
    /// disks, and stays there until they are fenced (`fenced`).
    case fenceFailed
    /// The destination runs the migrated VM but the source could not be fenced: Error, with the
    /// destination as its host and the source kept as the host still to fence.
    case cutOverFenceFailed
    /// Every host the VM in Error held was fenced: it is Stopped.
    case fenced
    /// The VM in Error still runs on its host, and every other host it held was fenced: Running there.
    case recovered
    /// Its host is gone (fenced by HA) or it vanished from every host: it is Stopped, to be
    /// restarted elsewhere if it is HA-enabled.
    case lost
    /// Removed for good.
    case destroyed

    public var description: String {
        switch self {
        case .startRequested: "start"
        case .started: "finish starting"
        case .startRolledBack: "undo a start"
        case .stopRequested: "stop"
        case .stopRefused: "keep running after a refused stop"
        case .stopped: "finish stopping"
        case .migrationRequested: "migrate"
        case .migrationCompleted: "finish migrating"
        case .migrationRolledBack: "roll a migration back"
        case .restartRequested: "restart in place"
        case .fenceFailed: "record a failed fence"
        case .cutOverFenceFailed: "record a cut-over whose source was not fenced"
        case .fenced: "record a fence"
        case .recovered: "recover in place"
        case .lost: "record it lost"
        case .destroyed: "destroy"
        }
    }
}

/// The VM lifecycle, pure: `next` takes a position and an event and returns the next position and
/// the hosts that lose the VM by it. A host that loses a VM must have been fenced off its disks
/// first (`releases`), so the store refuses a transition whose released hosts the caller did not
/// fence: "Stopped while another host may still write" cannot be written.
///
///     Stopped ──start──▶ Starting ──started──▶ Running ──stop──▶ Stopping ──stopped──▶ Stopped
///        ▲                  │ rolled back          │  ▲  migrate        │ refused → Running
///        └──────────────────┘                      ▼  │ completed / rolled back
///                                              Migrating
///     any transitional state ──fenceFailed──▶ Error ──fenced / stop──▶ Stopped
public enum VMStateMachine {
    public struct Transition: Sendable, Hashable {
        public var next: VMPosition
        /// Hosts that held the VM before and do not after: they must be fenced first.
        public var releases: Set<HostID>
    }

    /// The transition for `event` from `position`, or a 536 naming the state when it is not allowed.
    public static func next(_ position: VMPosition, on event: VMEvent) throws -> Transition {
        let next = try nextPosition(position, on: event)
        return Transition(next: next, releases: position.hosts.subtracting(next.hosts))
    }

    static func nextPosition(_ p: VMPosition, on event: VMEvent) throws -> VMPosition {
        switch (p.state, event) {
        case (.stopped, .startRequested(let host)):
            return VMPosition(state: .starting, host: host)
        case (.error, .startRequested(let host)) where p.hosts.isEmpty:
            return VMPosition(state: .starting, host: host)
        case (.starting, .started):
            return VMPosition(state: .running, host: p.host)
        case (.starting, .startRolledBack):
            return VMPosition(state: .stopped)
        case (.running, .stopRequested), (.stopping, .stopRequested), (.error, .stopRequested):
            return VMPosition(state: .stopping, host: p.host, migrationHost: p.migrationHost)
        case (.stopping, .stopRefused) where p.migrationHost == nil && p.host != nil:
            return VMPosition(state: .running, host: p.host)
        case (.stopping, .stopped), (.starting, .stopped):
            return VMPosition(state: .stopped)
        case (.running, .migrationRequested(let destination)) where destination != p.host && p.host != nil:
            return VMPosition(state: .migrating, host: p.host, migrationHost: destination)
        case (.migrating, .migrationCompleted):
            return VMPosition(state: .running, host: p.migrationHost)
        case (.migrating, .migrationRolledBack):
            return VMPosition(state: .running, host: p.host)
        case (.running, .restartRequested):
            return VMPosition(state: .starting, host: p.host)
        case (.starting, .fenceFailed), (.stopping, .fenceFailed), (.migrating, .fenceFailed), (.running, .fenceFailed), (.error, .fenceFailed):
            return VMPosition(state: .error, host: p.host, migrationHost: p.migrationHost)
        case (.migrating, .cutOverFenceFailed):
            return VMPosition(state: .error, host: p.migrationHost, migrationHost: p.host)
        case (.error, .fenced):
            return VMPosition(state: .stopped)
        case (.error, .recovered) where p.host != nil:
            return VMPosition(state: .running, host: p.host)
        case (.running, .lost), (.starting, .lost), (.stopping, .lost), (.migrating, .lost), (.error, .lost), (.stopped, .lost):
            return VMPosition(state: .stopped)
        case (.stopped, .destroyed):
            return VMPosition(state: .destroyed)
        case (.error, .destroyed) where p.hosts.isEmpty:
            return VMPosition(state: .destroyed)
        default:
            let why = p.state == .error && !p.hosts.isEmpty ? " (a host may still reach its disks: stop it with forced=true)" : ""
            throw LunarError(.resourceInUse, "the VM is \(p.state.rawValue); it cannot \(event) now\(why)")
        }
    }
}
