import Logging
import LunarModel
import LunarWire
import NIOCore

/// A VM of the `simulator` hypervisor: a task per disk lane doing real I/O through the connected
/// disks. Its memory (journal positions, counters) lives only in this process; migration hands it
/// over in a `VMState`.
actor SimulatedVM {
    let id: VirtualMachineID
    private(set) var spec: VMSpec
    private(set) var disks: [VolumeID: any PhysicalDisk]
    private(set) var state: VMReport.State = .paused
    var nextSequence: [String: UInt64] = [:]
    var acknowledgedWrites: UInt64 = 0
    var lastError: String?
    var lanes: [VolumeID: [Task<Void, Never>]] = [:]
    let logger: Logger

    init(spec: VMSpec, disks: [VolumeID: any PhysicalDisk], logger: Logger) {
        self.id = spec.id
        self.spec = spec
        self.disks = disks
        self.logger = logger
    }

    var volumes: [VolumeID] { spec.disks.map(\.volumeID) }

    func report() -> VMReport {
        VMReport(id: id, state: state, volumes: volumes, acknowledgedWrites: acknowledgedWrites, lastError: lastError)
    }

    func snapshot() -> VMState { VMState(nextSequence: nextSequence, acknowledgedWrites: acknowledgedWrites) }

    /// Boots: reads the first block of every disk (so a refused disk fails the start), then runs.
    func start() async throws {
        guard state != .running else { return }
        for disk in spec.disks {
            guard let physical = disks[disk.volumeID] else { throw AgentFailure(.internalError, "disk \(disk.volumeID) is not connected") }
            do {
                _ = try await physical.read(lba: 0, blocks: 1)
            } catch {
                throw AgentFailure(.ioError, "VM \(spec.name) could not read disk \(disk.deviceID): \(error)")
            }
        }
        run()
    }

    /// Continues from a state handed over by a migration source (or its own after a rollback),
    /// checking first that every write the source had acknowledged is on the disks.
    func resume(from handed: VMState) async throws {
        guard state != .running else { return }
        nextSequence = handed.nextSequence
        acknowledgedWrites = handed.acknowledgedWrites
        if spec.workload.mode == .journal {
            for disk in spec.disks {
                guard let physical = disks[disk.volumeID] else { continue }
                if let missing = try await firstMissingWrite(on: physical) {
                    throw AgentFailure(.ioError, "acknowledged write \(missing) is not on volume \(disk.volumeID)")
                }
            }
        }
        run()
    }

    /// Stops every write and waits until none is in flight.
    func pause() async -> VMState {
        let running = lanes.values.flatMap { $0 }
        lanes = [:]
        for task in running { task.cancel() }
        for task in running { await task.value }
        state = .paused
        return snapshot()
    }

    func attach(_ disk: DiskSpec, physical: any PhysicalDisk) {
        if spec.disks.contains(where: { $0.volumeID == disk.volumeID }) { return }
        spec.disks.append(disk)
        disks[disk.volumeID] = physical
        if state == .running { startLanes(for: disk.volumeID) }
    }

    /// Stops the disk's writes and forgets it.
    func detach(_ volumeID: VolumeID) async {
        let running = lanes.removeValue(forKey: volumeID) ?? []
        for task in running { task.cancel() }
        for task in running { await task.value }
        spec.disks.removeAll { $0.volumeID == volumeID }
        disks[volumeID] = nil
    }

    private func run() {
        state = .running
        lastError = nil
        for disk in spec.disks { startLanes(for: disk.volumeID) }
    }

    private func startLanes(for volumeID: VolumeID) {
        guard spec.workload.mode == .journal, lanes[volumeID] == nil, let physical = disks[volumeID] else { return }
        let blocksPerLane = blocksPerLane(on: physical)
        guard blocksPerLane > 0 else { return }
        lanes[volumeID] = (0..<max(1, spec.workload.queueDepth)).map { lane in
            Deterministic.task { await self.journal(on: physical, lane: lane, blocksPerLane: blocksPerLane) }
        }
    }

    func blocksPerLane(on disk: any PhysicalDisk) -> Int {
        let lanes = max(1, spec.workload.queueDepth)
        let available = Int(min(disk.blockCount * UInt64(disk.blockSize) / UInt64(JournalBlock.size), UInt64(Int32.max)))
        return min(spec.workload.journalBlocks, available / lanes)
    }

    static func key(_ volumeID: VolumeID, lane: Int) -> String { "\(volumeID.uuid)#\(lane)" }

    /// One lane: FUA-writes numbered blocks in order; a write counts only once acknowledged.
    private func journal(on disk: any PhysicalDisk, lane: Int, blocksPerLane: Int) async {
        let key = Self.key(disk.volumeID, lane: lane)
        let sectorsPerBlock = UInt64(JournalBlock.size / disk.blockSize)
        while !Task.isCancelled {
            let sequence = nextSequence[key] ?? 0
            let block = JournalBlock(volumeID: disk.volumeID, lane: UInt32(lane), sequence: sequence)
            let slot = JournalBlock.slot(lane: lane, sequence: sequence, blocksPerLane: blocksPerLane)
            do {
                try await disk.write(lba: UInt64(slot) * sectorsPerBlock, data: block.encoded(), fua: true)
                nextSequence[key] = sequence + 1
                acknowledgedWrites += 1
            } catch {
                // Logged when the reason changes, not on every retry.
                if lastError != "\(error)" { logger.warning("VM write failed", metadata: ["vm.id": .string(id.uuid), "error": .string("\(error)")]) }
                lastError = "\(error)"
                // A fenced or lost disk: keep trying, slowly, as a guest would.
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// The first acknowledged write (as `volume#lane:sequence`) missing from the disk, if any.
    func firstMissingWrite(on disk: any PhysicalDisk) async throws -> String? {
        let blocksPerLane = blocksPerLane(on: disk)
        guard blocksPerLane > 0 else { return nil }
        let sectorsPerBlock = UInt64(JournalBlock.size / disk.blockSize)
        for lane in 0..<max(1, spec.workload.queueDepth) {
            let next = nextSequence[Self.key(disk.volumeID, lane: lane)] ?? 0
            let first = next > UInt64(blocksPerLane) ? next - UInt64(blocksPerLane) : 0
            for sequence in first..<next {
                let slot = JournalBlock.slot(lane: lane, sequence: sequence, blocksPerLane: blocksPerLane)
                let data = try await disk.read(lba: UInt64(slot) * sectorsPerBlock, blocks: UInt32(sectorsPerBlock))
                guard let found = JournalBlock.decode(data), found.volumeID == disk.volumeID, found.lane == UInt32(lane), found.sequence >= sequence,
                    found.sequence % UInt64(blocksPerLane) == sequence % UInt64(blocksPerLane)
                else { return "\(Self.key(disk.volumeID, lane: lane)):\(sequence)" }
            }
        }
        return nil
    }
}
