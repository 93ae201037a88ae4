import LunarModel

/// An agent's answer to one command.
public enum AgentAnswer: Codable, Sendable, Equatable {
    case done(AgentResult)
    case failed(AgentFailure)
}

/// What a command produced; fields not relevant to a command are empty.
public struct AgentResult: Codable, Sendable, Equatable {
    public var vms: [VMReport]
    public var migrationState: VMState?
    public var ready: Bool?
    /// Volumes whose disks are connected on the host (`checkVMs`).
    public var connectedVolumes: [VolumeID]?
    /// Where a prepared migration receiver listens (`prepareForMigration` on QEMU: `tcp:HOST:PORT`).
    public var incomingURI: String?
    /// How a finished migration went (`migrateVM` on QEMU).
    public var migration: MigrationStatistics?

    public init(
        vms: [VMReport] = [], migrationState: VMState? = nil, ready: Bool? = nil, connectedVolumes: [VolumeID]? = nil, incomingURI: String? = nil,
        migration: MigrationStatistics? = nil
    ) {
        self.vms = vms
        self.migrationState = migrationState
        self.ready = ready
        self.connectedVolumes = connectedVolumes
        self.incomingURI = incomingURI
        self.migration = migration
    }
}

/// QEMU's account of a live migration (`query-migrate` once completed).
public struct MigrationStatistics: Codable, Sendable, Equatable {
    public var totalMilliseconds: Int64
    public var downtimeMilliseconds: Int64
    public var transferredBytes: Int64

    public init(totalMilliseconds: Int64, downtimeMilliseconds: Int64, transferredBytes: Int64) {
        self.totalMilliseconds = totalMilliseconds
        self.downtimeMilliseconds = downtimeMilliseconds
        self.transferredBytes = transferredBytes
    }
}

/// Why a command failed, with a stable code.
public struct AgentFailure: Codable, Sendable, Equatable, Error, CustomStringConvertible {
    public enum Code: String, Codable, Sendable {
        case connectFailed = "connect_failed"
        case accessDenied = "access_denied"
        case notFound = "not_found"
        case badRequest = "bad_request"
        case busy
        case ioError = "io_error"
        case internalError = "internal_error"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A VM as its host sees it.
public struct VMReport: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case running = "Running"
        case paused = "Paused"
        case failed = "Failed"
    }

    public var id: VirtualMachineID
    public var state: State
    public var volumes: [VolumeID]
    /// Writes acknowledged by the disks since the VM first started (carried across migrations).
    public var acknowledgedWrites: UInt64
    /// The latest I/O error, if the VM's disks started failing.
    public var lastError: String?

    public init(id: VirtualMachineID, state: State, volumes: [VolumeID], acknowledgedWrites: UInt64, lastError: String?) {
        self.id = id
        self.state = state
        self.volumes = volumes
        self.acknowledgedWrites = acknowledgedWrites
        self.lastError = lastError
    }
}

/// A simulated VM's memory: what its workload has done, handed from source to destination.
public struct VMState: Codable, Sendable, Equatable {
    /// Per volume, the next journal sequence number to write.
    public var nextSequence: [String: UInt64]
    public var acknowledgedWrites: UInt64

    public init(nextSequence: [String: UInt64], acknowledgedWrites: UInt64) {
        self.nextSequence = nextSequence
        self.acknowledgedWrites = acknowledgedWrites
    }
}
