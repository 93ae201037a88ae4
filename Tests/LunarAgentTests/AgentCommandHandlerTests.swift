import Foundation
import Logging
import LunarModel
import LunarWire
import Testing

@testable import LunarAgent

/// The handler over real files (the `local` adaptor): every command idempotent, failures undone.
struct AgentCommandHandlerTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func file(_ size: Int = 1 << 20) -> String {
        let path = NSTemporaryDirectory() + "lunar-agent-" + UUID().uuidString
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = FileHandle(forWritingAtPath: path)!
        try! handle.truncate(atOffset: UInt64(size))
        try! handle.close()
        return path
    }

    func spec(_ paths: [String], workload: WorkloadSpec = .idle) -> VMSpec {
        VMSpec(id: .random(), name: "vm", cpuCores: 1, memoryMB: 512,
               disks: paths.enumerated().map { DiskSpec(volumeID: .random(), deviceID: $0.offset, poolType: "local", sizeBytes: 1 << 20, connection: .file(path: $0.element)) },
               workload: workload)
    }

    @Test func startStopAttachDetachAreIdempotent() async throws {
        let pools = StoragePoolManager(adaptors: [LocalFileAdaptor()])
        let handler = AgentCommandHandler(pools: pools, logger: logger)
        let vm = spec([file()])
        for _ in 0..<2 { #expect(await handler.handle(.startVM(vm)) == .done(AgentResult(vms: [VMReport(id: vm.id, state: .running, volumes: vm.disks.map(\.volumeID), acknowledgedWrites: 0, lastError: nil)]))) }
        let extra = DiskSpec(volumeID: .random(), deviceID: 1, poolType: "local", sizeBytes: 1 << 20, connection: .file(path: file()))
        for _ in 0..<2 { guard case .done = await handler.handle(.attachVolume(vm: vm.id, disk: extra)) else { Issue.record("attach failed"); return } }
        #expect(Set(await pools.connectedDisks()) == Set(vm.disks.map(\.volumeID) + [extra.volumeID]))
        for _ in 0..<2 { guard case .done = await handler.handle(.detachVolume(vm: vm.id, volume: extra.volumeID)) else { Issue.record("detach failed"); return } }
        #expect(await pools.connectedDisks() == vm.disks.map(\.volumeID))
        for _ in 0..<2 { #expect(await handler.handle(.stopVM(vm.id)) == .done(AgentResult())) }
        #expect(await pools.connectedDisks().isEmpty)
    }

    @Test func cleanUpTakesAVolumeTheServerNoLongerExpectsEvenFromARunningVM() async throws {
        let pools = StoragePoolManager(adaptors: [LocalFileAdaptor()])
        let handler = AgentCommandHandler(pools: pools, logger: logger)
        let vm = spec([file()])
        let extra = DiskSpec(volumeID: .random(), deviceID: 1, poolType: "local", sizeBytes: 1 << 20, connection: .file(path: file()))
        _ = await handler.handle(.startVM(vm))
        _ = await handler.handle(.attachVolume(vm: vm.id, disk: extra))
        // The server's DetachVolume was lost; its sweep says the host must not hold `extra`.
        guard case .done(let result) = await handler.handle(.cleanUp(stopVMs: [], disconnectVolumes: [extra.volumeID])) else { Issue.record("clean-up failed"); return }
        #expect(result.connectedVolumes == vm.disks.map(\.volumeID))
        #expect(result.vms.first?.volumes == vm.disks.map(\.volumeID), "the VM no longer has the disk")
        _ = await handler.handle(.stopVM(vm.id))
    }

    @Test func aStartThatCannotConnectEveryDiskDisconnectsTheOthers() async throws {
        let pools = StoragePoolManager(adaptors: [LocalFileAdaptor()])
        let handler = AgentCommandHandler(pools: pools, logger: logger)
        let vm = spec([file(), "/nonexistent/disk"])
        guard case .failed(let failure) = await handler.handle(.startVM(vm)) else { Issue.record("the start should fail"); return }
        #expect(failure.code == .connectFailed)
        #expect(await pools.connectedDisks().isEmpty, "the first disk is disconnected again")
        #expect(await handler.reports().isEmpty)
    }

    @Test func anUnknownPoolTypeIsRefusedNotGuessed() async {
        let handler = AgentCommandHandler(pools: StoragePoolManager(adaptors: [LocalFileAdaptor()]), logger: logger)
        var vm = spec([file()])
        vm.disks[0].poolType = "nfs"
        guard case .failed(let failure) = await handler.handle(.startVM(vm)) else { Issue.record("expected a refusal"); return }
        #expect(failure.code == .badRequest && failure.message.contains("no storage adaptor for pool type nfs"))
    }

    @Test func migrationHandsTheJournalOverWithNoAcknowledgedWriteLost() async throws {
        let pools = StoragePoolManager(adaptors: [LocalFileAdaptor()])
        let source = AgentCommandHandler(pools: pools, logger: logger)
        let destination = AgentCommandHandler(pools: StoragePoolManager(adaptors: [LocalFileAdaptor()]), logger: logger)
        let vm = spec([file()], workload: WorkloadSpec(mode: .journal, queueDepth: 2, journalBlocks: 16))
        guard case .done = await source.handle(.startVM(vm)) else { Issue.record("start failed"); return }
        try await Task.sleep(for: .milliseconds(200))
        guard case .done = await destination.handle(.prepareForMigration(vm)) else { Issue.record("prepare failed"); return }
        guard case .done(let moved) = await source.handle(.migrateVM(vm: vm.id, destination: MigrationDestination(hostID: .random(), hostName: "d"))),
            let state = moved.migrationState
        else { Issue.record("migrate failed"); return }
        #expect(state.acknowledgedWrites > 0)
        // A repeat (lost answer) hands over the same state: the source is paused.
        guard case .done(let again) = await source.handle(.migrateVM(vm: vm.id, destination: MigrationDestination(hostID: .random(), hostName: "d"))) else { return }
        #expect(again.migrationState == state)
        guard case .done(let resumed) = await destination.handle(.resumeMigratedVM(vm: vm.id, state: state)) else { Issue.record("resume failed"); return }
        #expect(resumed.vms.first?.state == .running)
        guard case .done(let stopped) = await destination.handle(.migrateVM(vm: vm.id, destination: MigrationDestination(hostID: .random(), hostName: "s"))),
            let final = stopped.migrationState
        else { return }
        #expect(final.acknowledgedWrites >= state.acknowledgedWrites, "the destination carried the count on")
        // A destination told a later sequence than the disk holds refuses to resume.
        let other = AgentCommandHandler(pools: StoragePoolManager(adaptors: [LocalFileAdaptor()]), logger: logger)
        guard case .done = await other.handle(.prepareForMigration(vm)) else { return }
        var lying = state
        lying.nextSequence = final.nextSequence.mapValues { $0 + 1_000 }
        guard case .failed(let failure) = await other.handle(.resumeMigratedVM(vm: vm.id, state: lying)) else { Issue.record("a lost write went unnoticed"); return }
        #expect(failure.message.contains("is not on volume"))
        _ = await destination.handle(.stopVM(vm.id))
        _ = await source.handle(.stopVM(vm.id))
        _ = await other.handle(.stopVM(vm.id))
    }
}
