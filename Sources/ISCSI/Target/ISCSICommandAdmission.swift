/// Decides when a SCSI command may start: the hook a QoS scheduler plugs into the target.
///
/// The target asks before each command runs (after its write data has arrived) and tells it when
/// the command finished. NOP, task management, text, login and logout never pass through it, so
/// they never wait behind QoS. A queued command that is aborted, or whose connection goes away,
/// is cancelled and never starts.
public protocol ISCSICommandAdmission: Sendable {
    /// For a command that must wait, `makeStart` is called (before `admit` returns) with its
    /// ticket; the closure it returns is called once, from any thread, when the command may run,
    /// unless it is cancelled first. `.admitted` runs now, `.bypass` is not subject to admission.
    /// (A factory, so the common case that runs at once allocates no callback.)
    func admit(
        _ request: ISCSIAdmissionRequest, makeStart: (ISCSIAdmissionTicket) -> @Sendable () -> Void
    ) -> ISCSIAdmissionDecision
    func cancel(_ ticket: ISCSIAdmissionTicket)
    /// The command answered (any status); `.admitted` and started `.queued` commands only.
    func finished(_ ticket: ISCSIAdmissionTicket, status: UInt8)
}

public struct ISCSIAdmissionRequest: Sendable {
    public var target: String
    public var initiator: String
    public var cdb: [UInt8]
    /// Bytes the command moves (Expected Data Transfer Length).
    public var transferBytes: Int
    public var isWrite: Bool

    public init(target: String, initiator: String, cdb: [UInt8], transferBytes: Int, isWrite: Bool) {
        self.target = target
        self.initiator = initiator
        self.cdb = cdb
        self.transferBytes = transferBytes
        self.isWrite = isWrite
    }
}

public struct ISCSIAdmissionTicket: Hashable, Sendable {
    public var id: UInt64

    public init(id: UInt64) {
        self.id = id
    }
}

public enum ISCSIAdmissionDecision: Sendable, Hashable {
    case admitted(ISCSIAdmissionTicket)
    case queued(ISCSIAdmissionTicket)
    case bypass
}
