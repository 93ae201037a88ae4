import Foundation
import LunarModel
import LunarWire
import NIOCore
import Testing

@testable import LunarAgent

struct AgentWireTests {
    @Test func everyMessageRoundTrips() throws {
        let volume = VolumeID.random()
        let vm = VirtualMachineID.random()
        let disk = DiskSpec(volumeID: volume, deviceID: 1, poolType: "lunar", sizeBytes: 1 << 30,
                            connection: .iscsi(portal: "127.0.0.1:3260", iqn: "iqn.x:vol", lun: 0, chapUser: "u", chapSecret: "s"))
        let spec = VMSpec(id: vm, name: "v", cpuCores: 1, memoryMB: 512, disks: [disk], workload: WorkloadSpec(mode: .journal, queueDepth: 4))
        let messages: [AgentMessage] = [
            .register(AgentRegistration(token: "t", hostName: "h", ipAddress: "127.0.0.1", initiatorIQN: "iqn.x:h", hypervisor: "Simulator", cluster: nil,
                                        cpuCores: 1, cpuSpeedMHz: 1, memoryBytes: 1, vms: [], connectedVolumes: [volume])),
            .registered(RegistrationAccepted(hostID: .random(), heartbeatIntervalMilliseconds: 1000)),
            .refused(reason: "no"),
            .heartbeat(AgentHeartbeat(sequence: 3, vms: [VMReport(id: vm, state: .running, volumes: [volume], acknowledgedWrites: 9, lastError: nil)], connectedVolumes: [volume])),
            .command(id: 1, command: .startVM(spec)),
            .command(id: 2, command: .migrateVM(vm: vm, destination: MigrationDestination(hostID: .random(), hostName: "h2"))),
            .command(id: 3, command: .cleanUp(stopVMs: [vm], disconnectVolumes: [volume])),
            .answer(id: 2, answer: .done(AgentResult(migrationState: VMState(nextSequence: ["a#0": 5], acknowledgedWrites: 5)))),
            .answer(id: 3, answer: .failed(AgentFailure(.accessDenied, "refused"))),
        ]
        for message in messages {
            #expect(try AgentMessage.decode(try message.encoded()) == message)
        }
    }

    @Test func oversizedAndMalformedMessagesAreRefused() {
        #expect(throws: AgentWireError.self) { try AgentMessage.decode(String(repeating: " ", count: AgentMessage.maximumBytes + 1)) }
        #expect(throws: (any Error).self) { try AgentMessage.decode("{\"command\":{\"id\":\"x\"}}") }
        #expect(throws: (any Error).self) { try AgentMessage.decode("{\"register\":{\"token\":\"t\"}}") }
    }

    @Test func faultRulesParse() {
        #expect(ScriptedFaults.parse("StartVM=lose-answer") == .init(command: "StartVM", action: .fault(.loseAnswer), count: 1))
        #expect(ScriptedFaults.parse("MigrateVM=delay:5000*2") == .init(command: "MigrateVM", action: .delay(milliseconds: 5000), count: 2))
        #expect(ScriptedFaults.parse("StartVM=explode") == nil)
        #expect(ScriptedFaults.parse("=refuse") == nil)
        #expect(ScriptedFaults.parse("StartVM=refuse*0") == nil)
    }

    @Test func journalBlocksDetectTornAndForeignData() {
        let volume = VolumeID.random()
        let block = JournalBlock(volumeID: volume, lane: 2, sequence: 77)
        var encoded = block.encoded()
        #expect(encoded.readableBytes == JournalBlock.size)
        #expect(JournalBlock.decode(encoded) == block)
        encoded.setInteger(UInt8(0), at: 4000)
        #expect(JournalBlock.decode(encoded) == nil, "a torn block is not a journal block")
        #expect(JournalBlock.decode(ByteBuffer(repeating: 0, count: 4096)) == nil)
    }
}
