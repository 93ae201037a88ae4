import Foundation
import LunarModel
import LunarWire

/// Runs a program and returns its exit status and output (bounded in time).
public protocol CommandRunner: Sendable {
    func run(_ arguments: [String]) async throws -> (status: Int32, output: String)
}

/// Disks on an iSCSI SAN through the Linux kernel's initiator (open-iscsi's `iscsiadm`), for real
/// hosts: connect = discovery, CHAP on the node record, login, wait for the by-path device;
/// disconnect = logout and forget the node. What is connected is what `iscsiadm -m session` lists,
/// so an agent restart loses nothing. The CHAP secret never goes on a command line (`ps` would
/// show it): it is written into the node record discovery made (`/etc/iscsi/nodes/<iqn>/<ip>,<port>,<tpgt>/default`,
/// mode 0600), which iscsiadm reads at login.
public actor IscsiadmAdaptor: StorageAdaptor {
    public nonisolated let poolType: String
    let runner: any CommandRunner
    let deviceDirectory: String
    let deviceWait: Duration
    /// open-iscsi's node records.
    let nodeDirectory: String
    var disks: [VolumeID: FileDisk] = [:]

    public init(
        poolType: String = "lunar", runner: any CommandRunner = ProcessRunner(), deviceDirectory: String = "/dev/disk/by-path", deviceWait: Duration = .seconds(30),
        nodeDirectory: String = "/etc/iscsi/nodes"
    ) {
        self.poolType = poolType
        self.runner = runner
        self.deviceDirectory = deviceDirectory
        self.deviceWait = deviceWait
        self.nodeDirectory = nodeDirectory
    }

    public func connect(_ disk: DiskSpec) async throws -> any PhysicalDisk {
        if let existing = disks[disk.volumeID] { return existing }
        guard case .iscsi(let portal, let iqn, let lun, let user, let secret) = disk.connection else {
            throw AgentFailure(.badRequest, "pool type \(poolType) needs an iSCSI connection for volume \(disk.volumeID)")
        }
        try await check(["iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", portal], "discover \(portal)")
        if let user, let secret {
            for (name, value) in [("node.session.auth.authmethod", "CHAP"), ("node.session.auth.username", user)] {
                try await check(["iscsiadm", "-m", "node", "-T", iqn, "-p", portal, "-o", "update", "-n", name, "-v", value], "set \(name)")
            }
            try writeSecret(secret, iqn: iqn, portal: portal)
        }
        let login = try await runner.run(["iscsiadm", "-m", "node", "-T", iqn, "-p", portal, "-l"])
        // 15: already logged in (a repeat after a lost answer).
        guard login.status == 0 || login.status == 15 else {
            let code: AgentFailure.Code = login.status == 24 ? .accessDenied : .connectFailed
            throw AgentFailure(code, "iscsiadm login to \(iqn) failed (\(login.status)): \(login.output.prefix(300))")
        }
        let path = Self.devicePath(directory: deviceDirectory, portal: portal, iqn: iqn, lun: lun)
        let deadline = ContinuousClock.now + deviceWait
        while !FileManager.default.fileExists(atPath: path) {
            guard ContinuousClock.now < deadline else { throw AgentFailure(.connectFailed, "\(path) did not appear after login") }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw AgentFailure(.connectFailed, "cannot open \(path)") }
        let connected = FileDisk(volumeID: disk.volumeID, handle: handle, blockCount: UInt64(disk.sizeBytes / 512))
        disks[disk.volumeID] = connected
        return connected
    }

    /// Puts the CHAP secret into the target's node record (replacing any there), mode 0600.
    func writeSecret(_ secret: String, iqn: String, portal: String) throws {
        guard let colon = portal.lastIndex(of: ":") else { throw AgentFailure(.badRequest, "portal \(portal) is not HOST:PORT") }
        let prefix = portal[..<colon] + "," + portal[portal.index(after: colon)...] + ","
        let target = (nodeDirectory as NSString).appendingPathComponent(iqn)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
        guard let entry = entries.sorted().first(where: { $0.hasPrefix(prefix) }) else {
            throw AgentFailure(.connectFailed, "discovery of \(portal) left no node record for \(iqn) in \(nodeDirectory)")
        }
        var record = (target as NSString).appendingPathComponent(entry)
        var isDirectory: ObjCBool = false
        // Newer open-iscsi keeps one record per interface in a folder ("default"); older, a file.
        if FileManager.default.fileExists(atPath: record, isDirectory: &isDirectory), isDirectory.boolValue { record += "/default" }
        guard let text = try? String(contentsOfFile: record, encoding: .utf8) else { throw AgentFailure(.connectFailed, "cannot read the node record \(record)") }
        let kept = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("node.session.auth.password ") && !$0.hasPrefix("node.session.auth.password=") }
        var lines = kept.map(String.init)
        if lines.last == "" { lines.removeLast() }
        lines.append("node.session.auth.password = \(secret)")
        let temporary = record + ".lunar"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((lines.joined(separator: "\n") + "\n").utf8), attributes: [.posixPermissions: 0o600]),
            rename(temporary, record) == 0
        else {
            throw AgentFailure(.connectFailed, "cannot write the CHAP secret into \(record): \(String(cString: strerror(errno)))")
        }
    }

    /// Logs out of every session to the volume's target and forgets its node record. A logout
    /// that fails is thrown: the host may still reach the disk.
    public func disconnect(_ volumeID: VolumeID) async throws {
        disks.removeValue(forKey: volumeID)?.close()
        for session in try await sessions() where Self.volumeID(fromTarget: session.iqn) == volumeID {
            // 21: no such session or record (a repeat, or one that ended by itself).
            try await check(["iscsiadm", "-m", "node", "-T", session.iqn, "-p", session.portal, "-u"], "log out of \(session.iqn)", accepting: [0, 21])
            try await check(["iscsiadm", "-m", "node", "-T", session.iqn, "-p", session.portal, "-o", "delete"], "forget \(session.iqn)", accepting: [0, 21])
        }
    }

    public func physicalDisk(_ volumeID: VolumeID) -> (any PhysicalDisk)? { disks[volumeID] }

    public func connectedDisks() async -> [VolumeID] {
        ((try? await sessions()) ?? []).compactMap { Self.volumeID(fromTarget: $0.iqn) }
    }

    /// The kernel's sessions: `tcp: [1] 127.0.0.1:3260,1 iqn....:vol-<uuid> (non-flash)`.
    func sessions() async throws -> [(portal: String, iqn: String)] {
        let listing = try await runner.run(["iscsiadm", "-m", "session"])
        // 21: no active sessions.
        if listing.status == 21 { return [] }
        guard listing.status == 0 else { throw AgentFailure(.internalError, "iscsiadm -m session failed (\(listing.status))") }
        return Self.parseSessions(listing.output)
    }

    static func parseSessions(_ output: String) -> [(portal: String, iqn: String)] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 4, fields[0] == "tcp:" else { return nil }
            let portal = fields[2].split(separator: ",").first.map(String.init) ?? ""
            return (portal, String(fields[3]))
        }
    }

    static func devicePath(directory: String, portal: String, iqn: String, lun: Int) -> String {
        "\(directory)/ip-\(portal)-iscsi-\(iqn)-lun-\(lun)"
    }

    /// Lunar's targets end in `:vol-<volume uuid>`.
    static func volumeID(fromTarget iqn: String) -> VolumeID? {
        guard let range = iqn.range(of: ":vol-", options: .backwards) else { return nil }
        return VolumeID(String(iqn[range.upperBound...]))
    }

    func check(_ arguments: [String], _ what: String, accepting: Set<Int32> = [0]) async throws {
        let result = try await runner.run(arguments)
        guard accepting.contains(result.status) else { throw AgentFailure(.connectFailed, "iscsiadm could not \(what) (\(result.status)): \(result.output.prefix(300))") }
    }
}

/// Runs programs with Foundation's Process, killing any that outlives `timeout`.
public struct ProcessRunner: CommandRunner {
    public var timeout: Duration = .seconds(60)

    public init() {}

    public func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Drain the pipe on its own thread so a chatty program cannot block on a full pipe.
        let output = Task { await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: pipe.fileHandleForReading.readDataToEndOfFile()) }
        } }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw AgentFailure(.internalError, "\(arguments.first ?? "") did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        // A daemon the program started may hold the pipe open: wait for the output a bounded time.
        let data = await withTaskGroup(of: Data?.self) { group in
            group.addTask { await output.value }
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? Data()
        }
        return (process.terminationStatus, String(decoding: data.prefix(1 << 20), as: UTF8.self))
    }
}
