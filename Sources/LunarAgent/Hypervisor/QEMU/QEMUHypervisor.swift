import Foundation
import Logging
import LunarModel
import LunarWire

/// The `qemu` hypervisor: one `qemu-system-x86_64` per VM, driven over QMP, the way Proxmox's
/// qemu-server does. QEMU's own iSCSI client reaches `lunar` disks (the host's IQN, CHAP from the
/// grant), so nothing is logged in on the host; `local` disks are files.
///
/// The agent holds nothing a guest cannot tell again: each guest's folder has its QMP socket, pid
/// file and spec (without secrets). A restarted agent adopts every guest whose socket answers and
/// changes nothing in use; stopping the agent (even `kill -9`) leaves the guests running unless
/// `stopGuestsOnExit`.
public actor QEMUHypervisor: Hypervisor {
    public nonisolated let name = "KVM"
    public nonisolated let accel: String?
    let configuration: QEMUConfiguration
    let logger: Logger
    var guests: [VirtualMachineID: Guest] = [:]

    struct Guest {
        var spec: VMSpec
        var commandLine: QEMUCommandLine
        var process: QEMUProcess
        var qmp: QMPClient
        /// A migration receiver that has not taken the VM over yet.
        var receiving: Bool
    }

    public init(configuration: QEMUConfiguration, logger: Logger) {
        self.configuration = configuration
        self.accel = configuration.accel ?? QEMUAccelProbe.probe(binary: configuration.binary, logger: logger)
        self.logger = logger
    }

    var vmFolder: String { configuration.stateDirectory + "/vm" }

    func commandLine(_ spec: VMSpec, incoming: Bool) -> QEMUCommandLine {
        QEMUCommandLine(
            spec: spec, accel: accel ?? "tcg", initiatorIQN: configuration.initiatorIQN, directory: vmFolder + "/" + spec.id.uuid,
            consoleLog: configuration.consoleDirectory + "/" + spec.id.uuid + ".log", incoming: incoming
        )
    }

    // MARK: Adoption

    /// Finds the guests a previous agent started: every folder whose QMP socket answers is taken
    /// back as it is; a folder whose QEMU has gone is removed; one whose QEMU runs but does not
    /// answer is left alone (and logged), never killed.
    public func adoptRunningGuests() async {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: vmFolder)) ?? []
        for folder in folders.sorted() {
            guard let id = VirtualMachineID(folder), guests[id] == nil else { continue }
            let directory = vmFolder + "/" + folder
            guard let data = FileManager.default.contents(atPath: directory + "/spec.json"), let spec = try? JSONDecoder().decode(VMSpec.self, from: data) else {
                logger.warning("a guest folder without a readable spec; left alone", metadata: ["path": .string(directory)])
                continue
            }
            let line = commandLine(spec, incoming: false)
            let process = QEMUProcess.find(pidFile: line.pidFile, marker: spec.id.uuid)
            guard let process, process.isAlive else {
                logger.info("a guest that has gone; removing its folder", metadata: ["vm.id": .string(folder)])
                removeFolder(directory)
                continue
            }
            do {
                let qmp = try await QMPClient.connect(path: line.qmpSocket)
                let named = try await qmp.execute("query-name")
                guard named["name"]?.stringValue == spec.id.uuid else { throw AgentFailure(.internalError, "the QMP socket belongs to another guest") }
                // The disks the guest really has: what the spec says, filtered by QEMU's devices.
                let blocks = try await qmp.execute("query-block").arrayValue ?? []
                let devices = Set(blocks.compactMap { $0["qdev"]?.stringValue.map(Self.qdevName) })
                var adopted = spec
                adopted.disks = spec.disks.filter { devices.contains(QEMUCommandLine.names($0.volumeID).device) }
                let status = try await qmp.execute("query-status")["status"]?.stringValue
                guests[id] = Guest(spec: adopted, commandLine: line, process: process, qmp: qmp, receiving: status == "inmigrate")
                logger.notice("adopted a running guest", metadata: ["vm.id": .string(folder), "vm.status": .string(status ?? "?"), "vm.disks": .stringConvertible(adopted.disks.count)])
            } catch {
                logger.error("a guest runs but its QMP socket does not answer; left alone", metadata: ["vm.id": .string(folder), "error": .string("\(error)")])
            }
        }
    }

    /// `query-block`'s `qdev` is the device id or its QOM path (`/machine/peripheral/d…/virtio-backend`).
    static func qdevName(_ qdev: String) -> String {
        let parts = qdev.split(separator: "/")
        if let index = parts.firstIndex(of: "peripheral"), index + 1 < parts.count { return String(parts[index + 1]) }
        return qdev
    }

    // MARK: Reports

    public func reports() async -> [VMReport] {
        var all: [VMReport] = []
        for id in guests.keys.sorted() {
            if let report = await report(id) { all.append(report) }
        }
        rotateConsoles()
        return all
    }

    /// The guest's state from QEMU; nil (and forgotten) when its QEMU has gone.
    func report(_ id: VirtualMachineID) async -> VMReport? {
        guard let guest = guests[id] else { return nil }
        let volumes = guest.spec.disks.map(\.volumeID)
        do {
            let status = try await guest.qmp.execute("query-status", timeout: .seconds(3))["status"]?.stringValue ?? "unknown"
            return VMReport(id: id, state: Self.state(status), volumes: volumes, acknowledgedWrites: 0, lastError: status == "io-error" ? "a disk refused I/O: the guest is paused (io-error)" : nil)
        } catch {
            if await guest.qmp.isClosed, !guest.process.isAlive {
                logger.warning("a guest's QEMU has exited", metadata: ["vm.id": .string(id.uuid)])
                guests[id] = nil
                removeFolder(guest.commandLine.directory)
                return nil
            }
            return VMReport(id: id, state: .failed, volumes: volumes, acknowledgedWrites: 0, lastError: "QMP: \(error)")
        }
    }

    static func state(_ status: String) -> VMReport.State {
        switch status {
        case "running": .running
        case "inmigrate", "prelaunch", "paused", "postmigrate", "finish-migrate", "suspended", "io-error", "debug", "save-vm", "restore-vm", "colo": .paused
        default: .failed
        }
    }

    public func connectedVolumes() async -> [VolumeID] {
        guests.values.flatMap { $0.spec.disks.map(\.volumeID) }.sorted()
    }

    public func agentStopping() async {
        if configuration.stopGuestsOnExit {
            for id in guests.keys.sorted() {
                do { _ = try await stop(id) } catch { logger.error("could not stop a guest", metadata: ["vm.id": .string(id.uuid), "error": .string("\(error)")]) }
            }
        }
        for guest in guests.values { await guest.qmp.close() }
        guests = [:]
    }

    // MARK: Start and stop

    public func start(_ spec: VMSpec, paused: Bool) async throws -> AgentResult {
        if let existing = guests[spec.id] {
            if Set(existing.spec.disks.map(\.volumeID)) == Set(spec.disks.map(\.volumeID)), existing.process.isAlive, existing.receiving == paused {
                // A repeat of the same command (its answer was lost): answer as before.
                var result = AgentResult(vms: [await report(spec.id)].compactMap { $0 })
                if paused { result.incomingURI = try await incomingURI(existing.qmp) }
                return result
            }
            _ = try await stop(spec.id)
        }
        let line = commandLine(spec, incoming: paused)
        let manager = FileManager.default
        try manager.createDirectory(atPath: line.directory + "/secrets", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try manager.createDirectory(atPath: configuration.consoleDirectory, withIntermediateDirectories: true)
        do {
            try writeSpec(spec, to: line)
            for disk in spec.disks { try writeSecret(disk, line) }
            let (status, output) = try await QEMUProcess.launch(binary: configuration.binary, arguments: line.arguments(), log: line.directory + "/qemu.log", timeout: .seconds(60))
            removeSecrets(line)
            guard status == 0 else { throw Self.startFailure(output) }
            guard let process = QEMUProcess.find(pidFile: line.pidFile, marker: spec.id.uuid) else { throw AgentFailure(.internalError, "QEMU started but wrote no pid file") }
            let qmp: QMPClient
            do {
                qmp = try await QMPClient.connect(path: line.qmpSocket)
            } catch {
                process.kill9()
                throw AgentFailure(.internalError, "QEMU started but its QMP socket did not answer: \(error)")
            }
            var result = AgentResult()
            if paused {
                do {
                    _ = try await qmp.execute("migrate-incoming", JSONObject(["uri": "tcp:\(configuration.migrationAddress):0".json]))
                    result.incomingURI = try await incomingURI(qmp)
                } catch {
                    process.kill9()
                    throw AgentFailure(.internalError, "the migration receiver could not listen: \(error)")
                }
            }
            guests[spec.id] = Guest(spec: spec, commandLine: line, process: process, qmp: qmp, receiving: paused)
            logger.info(paused ? "migration receiver ready" : "guest started", metadata: ["vm.id": .string(spec.id.uuid), "qemu.pid": .stringConvertible(process.pid), "qemu.accel": .string(line.accel)])
            result.vms = [await report(spec.id)].compactMap { $0 }
            return result
        } catch {
            removeSecrets(line)
            removeFolder(line.directory)
            throw error
        }
    }

    /// Maps QEMU's start error to the agent's codes (a refused login is access, not a crash).
    static func startFailure(_ output: String) -> AgentFailure {
        let lines = output.split(separator: "\n").filter { !$0.contains("warning:") }
        let text = lines.suffix(3).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        if text.contains("iSCSI") || text.contains("iscsi") {
            let denied = text.localizedCaseInsensitiveContains("auth") || text.localizedCaseInsensitiveContains("login") || text.contains("CHAP")
            return AgentFailure(denied ? .accessDenied : .connectFailed, "QEMU could not open a disk: \(text)")
        }
        return AgentFailure(.internalError, "QEMU did not start: \(text)")
    }

    /// Where the receiver listens: QEMU picked the port (`tcp:ADDR:0`).
    func incomingURI(_ qmp: QMPClient) async throws -> String {
        let info = try await qmp.execute("query-migrate")
        for address in info["socket-address"]?.arrayValue ?? [] {
            if let host = address["host"]?.stringValue, let port = address["port"]?.stringValue { return "tcp:\(host):\(port)" }
        }
        throw AgentFailure(.internalError, "the migration receiver reports no listening address")
    }

    /// ACPI power-down with a bounded wait, then `quit`, then SIGKILL; a guest that is not running
    /// (paused, a receiver, a migrated source) is told to quit at once.
    public func stop(_ id: VirtualMachineID) async throws -> AgentResult {
        guard let guest = guests[id] else { return AgentResult() }
        // A guest that cannot say it runs is not waited on for the power button.
        var status: String?
        do {
            status = try await guest.qmp.execute("query-status", timeout: .seconds(3))["status"]?.stringValue
        } catch {
            logger.warning("a guest to stop does not answer query-status; quitting it", metadata: ["vm.id": .string(id.uuid), "error": .string("\(error)")])
        }
        var gone = !guest.process.isAlive
        if !gone, status == "running" {
            do {
                _ = try await guest.qmp.execute("system_powerdown", timeout: .seconds(3))
                gone = await guest.process.waitForExit(within: configuration.powerdownTimeout)
            } catch {
                logger.warning("the guest did not take the power button", metadata: ["vm.id": .string(id.uuid), "error": .string("\(error)")])
            }
        }
        if !gone, !(await guest.qmp.isClosed) {
            do { _ = try await guest.qmp.execute("quit", timeout: .seconds(3)) } catch { logger.debug("quit", metadata: ["error": .string("\(error)")]) }
            gone = await guest.process.waitForExit(within: .seconds(5))
        }
        if !gone {
            guest.process.kill9()
            gone = await guest.process.waitForExit(within: .seconds(10))
        }
        guard gone else { throw AgentFailure(.busy, "QEMU (pid \(guest.process.pid)) of VM \(id) did not exit, even after SIGKILL") }
        await guest.qmp.close()
        guests[id] = nil
        removeFolder(guest.commandLine.directory)
        logger.info("guest stopped", metadata: ["vm.id": .string(id.uuid)])
        return AgentResult()
    }

    public func cancelMigration(_ id: VirtualMachineID) async throws -> AgentResult { try await stop(id) }

    // MARK: Hot-plug

    /// secret → throttle group → block nodes → device; a failure takes back what this call added.
    public func attach(_ disk: DiskSpec, to id: VirtualMachineID) async throws -> AgentResult {
        guard var guest = guests[id] else { throw AgentFailure(.notFound, "VM \(id) is not running on this host") }
        if guest.spec.disks.contains(where: { $0.volumeID == disk.volumeID }) { return AgentResult(vms: [await report(id)].compactMap { $0 }) }
        let line = guest.commandLine
        let names = QEMUCommandLine.names(disk.volumeID)
        var undo: [(String, JSONObject)] = []
        do {
            if QEMUCommandLine.chap(disk) != nil {
                try writeSecret(disk, line)
                defer { try? FileManager.default.removeItem(atPath: line.secretFile(disk.volumeID)) }
                _ = try await guest.qmp.execute("object-add", JSONObject(["qom-type": "secret", "id": names.secret.json, "file": line.secretFile(disk.volumeID).json, "format": "raw"]))
                undo.append(("object-del", JSONObject(["id": names.secret.json])))
            }
            if let group = QEMUCommandLine.throttleGroup(disk) {
                _ = try await guest.qmp.execute("object-add", group)
                undo.append(("object-del", JSONObject(["id": names.throttleGroup.json])))
            }
            for node in line.blockNodes(disk) {
                _ = try await guest.qmp.execute("blockdev-add", node, timeout: .seconds(30))
                undo.append(("blockdev-del", JSONObject(["node-name": node["node-name"] ?? ""])))
            }
            _ = try await guest.qmp.execute("device_add", line.device(disk))
        } catch {
            for (command, arguments) in undo.reversed() {
                do { _ = try await guest.qmp.execute(command, arguments) } catch { logger.warning("could not undo a hot-plug step", metadata: ["qmp": .string(command), "error": .string("\(error)")]) }
            }
            if let failure = error as? QMPSession.Failure, case .refused(_, let description) = failure {
                let denied = description.localizedCaseInsensitiveContains("auth") || description.localizedCaseInsensitiveContains("login")
                throw AgentFailure(denied ? .accessDenied : .connectFailed, "QEMU could not attach volume \(disk.volumeID): \(description)")
            }
            throw AgentFailure(.connectFailed, "could not attach volume \(disk.volumeID): \(error)")
        }
        guest.spec.disks.append(disk)
        guests[id] = guest
        try writeSpec(guest.spec, to: line)
        logger.info("disk hot-plugged", metadata: ["vm.id": .string(id.uuid), "volume.id": .string(disk.volumeID.uuid)])
        return AgentResult(vms: [await report(id)].compactMap { $0 })
    }

    /// Sets the disk's throttle-group limits live (`qom-set` on the group's `limits`), and keeps
    /// them in the spec so an adopting agent and a migration carry them. A disk started without
    /// a throttle group has no node to throttle: refused, the limits apply at its next start.
    public func setLimits(_ limits: HypervisorRateLimits?, totalIOPS: Int64?, of volume: VolumeID, on id: VirtualMachineID) async throws -> AgentResult {
        guard var guest = guests[id] else { throw AgentFailure(.notFound, "VM \(id) is not running on this host") }
        guard let index = guest.spec.disks.firstIndex(where: { $0.volumeID == volume }) else { throw AgentFailure(.notFound, "VM \(id) has no disk \(volume)") }
        var disk = guest.spec.disks[index]
        let before = QEMUCommandLine.throttleGroup(disk)
        disk.limits = limits
        disk.totalIOPSLimit = totalIOPS
        guard before != nil else {
            if QEMUCommandLine.throttleGroup(disk) == nil { return AgentResult(vms: [await report(id)].compactMap { $0 }) }
            throw AgentFailure(.badRequest, "disk \(volume) of VM \(id) was started without a throttle; its new limits apply when the VM next starts")
        }
        // No limit left: the group stays, opened wide (0 means unlimited to QEMU).
        var values = QEMUCommandLine.throttleLimits(disk)
        if values.isEmpty { values = JSONObject(["iops-total": 0]) }
        let names = QEMUCommandLine.names(volume)
        do {
            _ = try await guest.qmp.execute("qom-set", JSONObject(["path": names.throttleGroup.json, "property": "limits", "value": .object(values)]))
        } catch {
            throw AgentFailure(.connectFailed, "QEMU did not take the new limits of disk \(volume): \(error)")
        }
        guest.spec.disks[index] = disk
        guests[id] = guest
        try writeSpec(guest.spec, to: guest.commandLine)
        logger.info("disk limits changed", metadata: ["vm.id": .string(id.uuid), "volume.id": .string(volume.uuid), "qemu.limits": .string(values.serialized)])
        return AgentResult(vms: [await report(id)].compactMap { $0 })
    }

    /// device_del, wait for the guest to let go (DEVICE_DELETED), then the nodes and objects.
    public func detach(_ volume: VolumeID, from id: VirtualMachineID) async throws -> AgentResult {
        guard var guest = guests[id] else { return AgentResult() }
        guard let disk = guest.spec.disks.first(where: { $0.volumeID == volume }) else { return AgentResult(vms: [await report(id)].compactMap { $0 }) }
        let names = QEMUCommandLine.names(volume)
        let events = await guest.qmp.events()
        do {
            _ = try await guest.qmp.execute("device_del", JSONObject(["id": names.device.json]))
            guard await Self.waitForDeletion(of: names.device, in: events, within: configuration.unplugTimeout) else {
                throw AgentFailure(.busy, "the guest did not release volume \(volume) within \(configuration.unplugTimeout); it stays attached")
            }
        } catch QMPSession.Failure.refused(let errorClass, _) where errorClass == "DeviceNotFound" {
            // Gone already (a repeat after a lost answer).
        }
        // The nodes hold QEMU's iSCSI session: one that stays is thrown, and only "no such
        // node/object" (a repeat, or a disk without throttle or secret) counts as done.
        for node in guest.commandLine.blockNodes(disk).reversed() {
            try await Self.ignoringAbsent { _ = try await guest.qmp.execute("blockdev-del", JSONObject(["node-name": node["node-name"] ?? ""])) }
        }
        for object in [names.throttleGroup, names.secret] {
            try await Self.ignoringAbsent { _ = try await guest.qmp.execute("object-del", JSONObject(["id": object.json])) }
        }
        guest.spec.disks.removeAll { $0.volumeID == volume }
        guests[id] = guest
        try writeSpec(guest.spec, to: guest.commandLine)
        logger.info("disk unplugged", metadata: ["vm.id": .string(id.uuid), "volume.id": .string(volume.uuid)])
        return AgentResult(vms: [await report(id)].compactMap { $0 })
    }

    /// Runs a QMP removal; QEMU's "not found" refusals mean it is gone already.
    static func ignoringAbsent(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch QMPSession.Failure.refused(let errorClass, let description)
            where errorClass == "DeviceNotFound" || description.contains("Failed to find") || description.contains("not found")
        {}
    }

    static func waitForDeletion(of device: String, in events: AsyncStream<QMPEvent>, within timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await event in events where event.name == "DEVICE_DELETED" && event.data?["device"]?.stringValue == device { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    public func takeAway(_ volume: VolumeID) async throws {
        for (id, guest) in guests where guest.spec.disks.contains(where: { $0.volumeID == volume }) {
            _ = try await detach(volume, from: id)
        }
    }

    // MARK: Live migration

    /// The source's part: `migrate` to the receiver with a bandwidth cap, then wait on
    /// `query-migrate`. The cut-over is QEMU's; a failure leaves the guest running here (QEMU
    /// resumes it). A "migration" to this host itself (a rollback) hands over nothing.
    public func migrate(_ id: VirtualMachineID, to destination: MigrationDestination) async throws -> AgentResult {
        guard let guest = guests[id] else { throw AgentFailure(.notFound, "VM \(id) is not on this host") }
        let handed = VMState(nextSequence: [:], acknowledgedWrites: 0)
        guard destination.hostName != configuration.hostName else { return AgentResult(vms: [await report(id)].compactMap { $0 }, migrationState: handed) }
        guard let uri = destination.uri else { throw AgentFailure(.badRequest, "the destination \(destination.hostName) gave no migration address") }
        let qmp = guest.qmp
        _ = try await qmp.execute("migrate-set-parameters", JSONObject(["max-bandwidth": configuration.migrationBandwidth.json]))
        do {
            _ = try await qmp.execute("migrate", JSONObject(["uri": uri.json]))
        } catch QMPSession.Failure.refused(_, let description) {
            throw AgentFailure(.connectFailed, "QEMU would not migrate to \(uri): \(description)")
        }
        let deadline = ContinuousClock.now + configuration.migrationTimeout
        while true {
            let info = try await qmp.execute("query-migrate")
            switch info["status"]?.stringValue ?? "" {
            case "completed":
                let statistics = MigrationStatistics(
                    totalMilliseconds: info["total-time"]?.intValue ?? 0, downtimeMilliseconds: info["downtime"]?.intValue ?? 0,
                    transferredBytes: info["ram"]?["transferred"]?.intValue ?? 0
                )
                logger.info("live migration completed", metadata: ["vm.id": .string(id.uuid), "migration.total_ms": .stringConvertible(statistics.totalMilliseconds), "migration.downtime_ms": .stringConvertible(statistics.downtimeMilliseconds)])
                return AgentResult(vms: [await report(id)].compactMap { $0 }, migrationState: handed, migration: statistics)
            case "failed", "cancelled":
                throw AgentFailure(.ioError, "the live migration to \(destination.hostName) failed: \(info["error-desc"]?.stringValue ?? "no reason given"); the VM runs on here")
            default:
                if ContinuousClock.now > deadline {
                    _ = try await qmp.execute("migrate_cancel")
                    throw AgentFailure(.busy, "the live migration to \(destination.hostName) did not finish within \(configuration.migrationTimeout); cancelled, the VM runs on here")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// A receiver that took the VM over runs by itself once QEMU's migration completes; this
    /// waits for that (bounded). A source resumed after a rollback is told `cont`.
    public func resume(_ id: VirtualMachineID, from state: VMState) async throws -> AgentResult {
        guard var guest = guests[id] else { throw AgentFailure(.notFound, "VM \(id) was not prepared on this host") }
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let status = try await guest.qmp.execute("query-status")["status"]?.stringValue ?? ""
            if status == "running" { break }
            if status == "inmigrate" {
                guard ContinuousClock.now < deadline else { throw AgentFailure(.busy, "the receiver of VM \(id) has not received it") }
                try await Task.sleep(for: .milliseconds(20))
                continue
            }
            guard ["paused", "postmigrate"].contains(status) else { throw AgentFailure(.ioError, "VM \(id) cannot resume from QEMU status \(status)") }
            _ = try await guest.qmp.execute("cont", timeout: .seconds(30))
        }
        guest.receiving = false
        guests[id] = guest
        return AgentResult(vms: [await report(id)].compactMap { $0 })
    }

    // MARK: Files

    func writeSpec(_ spec: VMSpec, to line: QEMUCommandLine) throws {
        var stored = spec
        stored.disks = spec.disks.map(\.withoutSecret)
        try JSONEncoder().encode(stored).write(to: URL(fileURLWithPath: line.directory + "/spec.json"), options: .atomic)
    }

    /// The CHAP secret in a 0600 file QEMU reads (`-object secret,file=`), removed once read.
    func writeSecret(_ disk: DiskSpec, _ line: QEMUCommandLine) throws {
        guard let (_, secret) = QEMUCommandLine.chap(disk) else { return }
        let path = line.secretFile(disk.volumeID)
        guard FileManager.default.createFile(atPath: path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw AgentFailure(.internalError, "cannot write the secret file \(path)")
        }
    }

    func removeSecrets(_ line: QEMUCommandLine) {
        for disk in line.spec.disks { try? FileManager.default.removeItem(atPath: line.secretFile(disk.volumeID)) }
    }

    /// Removes a guest's folder; its console log lives elsewhere and stays.
    func removeFolder(_ directory: String) {
        do { try FileManager.default.removeItem(atPath: directory) } catch { logger.debug("could not remove a guest folder", metadata: ["path": .string(directory)]) }
    }

    /// Keeps each console log bounded: past the limit, the log becomes `.1` and starts again
    /// (QEMU appends, so it writes on at the new end).
    func rotateConsoles() {
        for guest in guests.values {
            let path = guest.commandLine.consoleLog
            guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > configuration.consoleLimit,
                let handle = FileHandle(forUpdatingAtPath: path)
            else { continue }
            do {
                let data = try handle.readToEnd() ?? Data()
                try data.write(to: URL(fileURLWithPath: path + ".1"), options: .atomic)
                try handle.truncate(atOffset: 0)
                try handle.close()
            } catch {
                logger.warning("could not rotate a console log", metadata: ["path": .string(path), "error": .string("\(error)")])
            }
        }
    }
}
