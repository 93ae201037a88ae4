import Foundation
import ISCSI
import LunarClient
import LunarModel
import NIOCore
import Synchronization
import Testing

@testable import LunarSAN

/// Volume access groups and revoke-as-fence, through a whole node on 127.0.0.1.
struct AccessGroupTests {
    static let host1 = "iqn.2026-11.org.example:host1"
    static let host2 = "iqn.2026-11.org.example:host2"

    static func refused(_ node: SANNodeTests.Node, _ target: String, as initiator: String) async -> Bool {
        do {
            let session = try await node.login(target, as: initiator)
            await session.logout()
            return false
        } catch ISCSIInitiatorError.loginRefused {
            return true
        } catch {
            Issue.record("unexpected \(error)")
            return false
        }
    }

    @Test func anInitiatorLogsInOnlyWhereAGroupHoldsBoth() async throws {
        try await SANNodeTests.withNode { node in
            let a = try await node.admin.createVolume(name: "a", size: "8M")
            let b = try await node.admin.createVolume(name: "b", size: "8M")
            _ = try await node.admin.createGroup("rack1")
            _ = try await node.admin.addInitiator(Self.host1, toGroup: "rack1")
            let group = try await node.admin.addVolume("a", toGroup: "rack1")
            #expect(group == SANAccessGroupInfo(name: "rack1", initiators: [Self.host1], volumes: ["a"], automatic: false))
            #expect(try await node.admin.volume("a").allowedInitiators == [Self.host1])

            let session = try await node.login(a.iqn, as: Self.host1)
            await session.logout()
            #expect(await Self.refused(node, b.iqn, as: Self.host1))
            #expect(await Self.refused(node, a.iqn, as: Self.host2))

            // allow/disallow are the volume's own group, the same mechanism.
            _ = try await node.admin.allow("b", initiator: Self.host2)
            let groups = try await node.admin.listGroups().map(\.name)
            #expect(groups == ["auto.b", "rack1"])
            #expect(try await node.admin.group("auto.b").automatic)
            let viaGroup = await SANNodeTests.sanError { _ = try await node.admin.disallow("a", initiator: Self.host1) }
            #expect(viaGroup?.status == 409 && viaGroup?.code == "granted_by_group")

            // Deleting the group takes its access away.
            try await node.admin.deleteGroup("rack1")
            #expect(await Self.refused(node, a.iqn, as: Self.host1))
            #expect(try await node.admin.volume("a").allowedInitiators.isEmpty)
        }
    }

    @Test func badGroupRequestsAreRefusedWithACode() async throws {
        try await SANNodeTests.withNode { node in
            let reserved = await SANNodeTests.sanError { _ = try await node.admin.createGroup("auto.x") }
            #expect(reserved?.code == "invalid_name")
            let badName = await SANNodeTests.sanError { _ = try await node.admin.createGroup("Bad Name") }
            #expect(badName?.code == "invalid_name")
            _ = try await node.admin.createGroup("g")
            let twice = await SANNodeTests.sanError { _ = try await node.admin.createGroup("g") }
            #expect(twice?.status == 409 && twice?.code == "group_exists")
            let badIQN = await SANNodeTests.sanError { _ = try await node.admin.addInitiator("not-an-iqn", toGroup: "g") }
            #expect(badIQN?.code == "invalid_initiator")
            let noVolume = await SANNodeTests.sanError { _ = try await node.admin.addVolume("ghost", toGroup: "g") }
            #expect(noVolume?.code == "volume_not_found")
            let noGroup = await SANNodeTests.sanError { _ = try await node.admin.addVolume("ghost", toGroup: "nope") }
            #expect(noGroup?.status == 404 && noGroup?.code == "group_not_found")
            let notMember = await SANNodeTests.sanError { _ = try await node.admin.removeInitiator(Self.host1, fromGroup: "g") }
            #expect(notMember?.code == "not_found")
            #expect(try await node.admin.group("g") == SANAccessGroupInfo(name: "g", initiators: [], volumes: [], automatic: false))
        }
    }

    @Test func groupsSurviveARestartAndFollowVolumeDeletes() async throws {
        let folder = VolumeStoreTests.folder()
        try await SANNodeTests.withNode(dataDirectory: folder) { node in
            _ = try await node.admin.createVolume(name: "kept", size: "8M")
            _ = try await node.admin.createVolume(name: "gone", size: "8M")
            _ = try await node.admin.createGroup("g")
            _ = try await node.admin.addInitiator(Self.host1, toGroup: "g")
            _ = try await node.admin.addVolume("kept", toGroup: "g")
            _ = try await node.admin.addVolume("gone", toGroup: "g")
            _ = try await node.admin.allow("gone", initiator: Self.host2)
            try await node.admin.deleteVolume("gone")
        }
        try await SANNodeTests.withNode(dataDirectory: folder) { node in
            let groups = try await node.admin.listGroups()
            #expect(groups == [SANAccessGroupInfo(name: "g", initiators: [Self.host1], volumes: ["kept"], automatic: false)])
            let session = try await node.login(try await node.admin.volume("kept").iqn, as: Self.host1)
            await session.logout()
        }
    }

    /// Volumes from before groups kept their initiators in their own metadata.
    @Test func initiatorsInOldMetadataMoveToTheVolumesGroup() async throws {
        let folder = VolumeStoreTests.folder()
        var configuration = SANConfiguration(dataDirectory: folder)
        configuration.capacityIOPS = 1_000_000
        do {
            let store = try VolumeStore(configuration: configuration, logger: VolumeStoreTests.quiet)
            _ = try await store.create(name: "old", sizeBytes: 8 << 20)
        }
        let path = VolumeStore.metadataPath(configuration.volumesDirectory, "old")
        var metadata = try VolumeMetadata.decoder.decode(VolumeMetadata.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        metadata.allowedInitiators = [Self.host1]
        try DurableFile.write(try VolumeMetadata.encoder.encode(metadata), to: path)

        let store = try VolumeStore(configuration: configuration, logger: VolumeStoreTests.quiet)
        #expect(try await store.show("old").allowedInitiators == [Self.host1])
        #expect(await store.listGroups() == [SANAccessGroupInfo(name: "auto.old", initiators: [Self.host1], volumes: ["old"], automatic: true)])
        let rewritten = try VolumeMetadata.decoder.decode(VolumeMetadata.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(rewritten.allowedInitiators.isEmpty)
        #expect(store.catalog.authorize(initiator: Self.host1, target: "iqn.2026-11.org.lunar:old") == .allowed)
    }

    /// The fence: a writer streams through an open session, with commands queued behind QoS;
    /// when the revoke returns, the backing file holds everything that was acknowledged and
    /// never changes again, the writer's later commands fail, and it cannot log in again.
    @Test(arguments: ["disallow", "remove-initiator", "remove-volume"])
    func revokeIsAFence(how: String) async throws {
        try await SANNodeTests.withNode { node in
            let volume = try await node.admin.createVolume(name: "fenced", size: "16M", qos: SANVolumeQoS(minIOPS: 50, maxIOPS: 100, burstIOPS: 100))
            if how == "disallow" {
                _ = try await node.admin.allow("fenced", initiator: Self.host1)
            } else {
                _ = try await node.admin.createGroup("g")
                _ = try await node.admin.addInitiator(Self.host1, toGroup: "g")
                _ = try await node.admin.addVolume("fenced", toGroup: "g")
            }
            let session = try await node.login(volume.iqn, as: Self.host1)
            try await session.clearUnitAttentions()
            let acknowledged = AcknowledgedWrites()
            // 32 writers, each writing 4 KiB blocks stamped with its index and a sequence number.
            let writers = Task {
                await withTaskGroup(of: Void.self) { group in
                    for writer in 0..<32 {
                        group.addTask {
                            var sequence: UInt64 = 0
                            while true {
                                sequence += 1
                                let block = UInt64(writer) * 64 + sequence % 64
                                var data = ByteBuffer()
                                for _ in 0..<(4096 / 16) {
                                    data.writeInteger(UInt64(writer))
                                    data.writeInteger(sequence)
                                }
                                do {
                                    // FUA: the write goes to the I/O threads and waits for fdatasync, so
                                    // some are always at the backing file when the revoke comes.
                                    try await session.write(lba: block * 8, data: data, fua: true)
                                    acknowledged.record(block: block, writer: UInt64(writer), sequence: sequence)
                                } catch {
                                    return
                                }
                            }
                        }
                    }
                }
            }
            // Let writes flow and pile up in the QoS queue.
            for _ in 0..<1000 where try await node.admin.statistics("fenced").queued < 16 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(try await node.admin.statistics("fenced").queued >= 16)

            switch how {
            case "disallow": _ = try await node.admin.disallow("fenced", initiator: Self.host1)
            case "remove-initiator": _ = try await node.admin.removeInitiator(Self.host1, fromGroup: "g")
            default: _ = try await node.admin.removeVolume("fenced", fromGroup: "g")
            }
            let image = VolumeStore.imagePath((node.dataDirectory as NSString).appendingPathComponent("san/volumes"), "fenced")
            let atReturn = try Data(contentsOf: URL(fileURLWithPath: image))
            // Everything acknowledged landed (a later acknowledged write to the same block wins).
            for (block, stamp) in acknowledged.latest() {
                let offset = Int(block) * 4096
                let writer = atReturn[offset..<(offset + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).bigEndian }
                let sequence = atReturn[(offset + 8)..<(offset + 16)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).bigEndian }
                #expect(writer == stamp.writer && sequence >= stamp.sequence, "block \(block)")
            }
            await writers.value  // every writer saw its session end
            try await Task.sleep(for: .milliseconds(300))
            let later = try Data(contentsOf: URL(fileURLWithPath: image))
            #expect(later == atReturn, "a write landed after the revoke returned")
            let stats = try await node.admin.statistics("fenced")
            #expect(stats.queued == 0)
            #expect(await Self.refused(node, volume.iqn, as: Self.host1))
            #expect(try await node.admin.volume("fenced").sessions.isEmpty)
        }
    }
}

/// What the writers of the fence test were told landed.
final class AcknowledgedWrites: Sendable {
    struct Stamp: Sendable {
        var writer: UInt64
        var sequence: UInt64
    }

    let stamps = Mutex<[UInt64: Stamp]>([:])

    func record(block: UInt64, writer: UInt64, sequence: UInt64) {
        stamps.withLock { stamps in
            if (stamps[block]?.sequence ?? 0) < sequence { stamps[block] = Stamp(writer: writer, sequence: sequence) }
        }
    }

    func latest() -> [UInt64: Stamp] { stamps.withLock { $0 } }
}

/// Accounts: CHAP identities that own volumes, their secrets sealed at rest.
struct AccountTests {
    @Test func accountsSurviveARestartSealedAndVolumesTheyOwnRequireCHAP() async throws {
        let folder = VolumeStoreTests.folder()
        var configuration = SANConfiguration(dataDirectory: folder)
        configuration.capacityIOPS = 1_000_000
        do {
            let store = try VolumeStore(configuration: configuration, logger: VolumeStoreTests.quiet)
            let secrets = try await store.createAccount("acme", initiatorSecret: "Initiator-1234", targetSecret: nil)
            #expect(secrets.initiatorSecret == "Initiator-1234" && (12...16).contains(secrets.targetSecret.count))
            _ = try await store.create(name: "owned", sizeBytes: 8 << 20, account: "acme")
            _ = try await store.allow(name: "owned", initiator: AccessGroupTests.host1)
        }
        let sealed = try String(contentsOfFile: configuration.accountsFile, encoding: .utf8)
        #expect(sealed.contains("acme") && !sealed.contains("Initiator-1234"))

        let store = try VolumeStore(configuration: configuration, logger: VolumeStoreTests.quiet)
        #expect(try await store.accountSecrets("acme").initiatorSecret == "Initiator-1234")
        #expect(try await store.showAccount("acme").volumes == ["owned"])
        guard case .allowedWithCHAP(let credentials) = store.catalog.authorize(initiator: AccessGroupTests.host1, target: "iqn.2026-11.org.lunar:owned") else {
            Issue.record("a volume with an account must require CHAP")
            return
        }
        #expect(credentials.user == "acme" && credentials.initiatorSecret == Array("Initiator-1234".utf8))
        await #expect(throws: SANError.self) { try await store.deleteAccount("acme") }

        // A different key cannot open them: the node refuses to start rather than lose them.
        try Data((0..<32).map { _ in UInt8(7) }).write(to: URL(fileURLWithPath: configuration.secretKeyFile))
        #expect(throws: SANError.self) { _ = try VolumeStore(configuration: configuration, logger: VolumeStoreTests.quiet) }
    }
}

/// SCSI-3 persistent reservations across groups, CHAP and fencing: a preempt-and-abort from one
/// host fences the other at the SCSI level; the reservation outlives the revoke and a restart.
struct ReservationFencingTests {
    /// APTPL is set on REGISTER: reservations then persist through power loss (SPC-4 §5.14.5).
    static func persistentReserveOut(serviceAction: UInt8, type: UInt8 = 0, key: UInt64, serviceActionKey: UInt64) -> ISCSIInitiatorRequest {
        var parameters = ByteBuffer()
        parameters.writeInteger(key)
        parameters.writeInteger(serviceActionKey)
        parameters.writeBytes([0, 0, 0, 0, serviceAction == 0 ? 0x01 : 0, 0, 0, 0])
        return ISCSIInitiatorRequest(cdb: [0x5F, serviceAction, type, 0, 0, 0, 0, 0, 24, 0], dataOut: parameters)
    }

    static func write(_ session: ISCSIInitiatorSession) async throws -> UInt8 {
        try await session.execute(ISCSIInitiatorSession.write16(lba: 0, data: ByteBuffer(repeating: 9, count: 512), blockSize: 512)).status
    }

    @Test func preemptAndAbortFencesTheOtherHostAndTheReservationOutlivesRevokeAndRestart() async throws {
        let folder = VolumeStoreTests.folder()
        let target = try await SANNodeTests.withNode(dataDirectory: folder) { node -> String in
            let secrets = try await node.admin.createAccount("acme")
            let volume = try await node.admin.createVolume(name: "shared", size: "8M", account: "acme")
            _ = try await node.admin.createGroup("cluster")
            for host in [AccessGroupTests.host1, AccessGroupTests.host2] { _ = try await node.admin.addInitiator(host, toGroup: "cluster") }
            _ = try await node.admin.addVolume("shared", toGroup: "cluster")
            func login(_ host: String) async throws -> ISCSIInitiatorSession {
                var configuration = ISCSIInitiatorSession.Configuration(initiatorName: host, targetName: volume.iqn)
                configuration.chap = .init(user: "acme", secret: secrets.initiatorSecret, targetSecret: secrets.targetSecret)
                let session = try await ISCSIInitiatorSession.login(
                    host: node.portalHost, port: node.portalPort, configuration: configuration, logger: VolumeStoreTests.quiet
                )
                try await session.clearUnitAttentions()
                return session
            }
            let one = try await login(AccessGroupTests.host1)
            let two = try await login(AccessGroupTests.host2)
            // host1 registers and holds WRITE EXCLUSIVE; host2 registers and is kept out.
            #expect(try await one.execute(Self.persistentReserveOut(serviceAction: 0, key: 0, serviceActionKey: 0x11)).status == 0)
            #expect(try await one.execute(Self.persistentReserveOut(serviceAction: 1, type: 1, key: 0x11, serviceActionKey: 0)).status == 0)
            #expect(try await two.execute(Self.persistentReserveOut(serviceAction: 0, key: 0, serviceActionKey: 0x22)).status == 0)
            #expect(try await Self.write(two) == 0x18)
            #expect(try await Self.write(one) == 0)
            // host2 preempts and aborts: now host1 is the one kept out.
            #expect(try await two.execute(Self.persistentReserveOut(serviceAction: 5, type: 1, key: 0x22, serviceActionKey: 0x11)).status == 0)
            #expect(try await Self.write(two) == 0)
            let first = try await one.execute(ISCSIInitiatorSession.write16(lba: 0, data: ByteBuffer(repeating: 1, count: 512), blockSize: 512))
            #expect(first.status == 0x02 && first.sense?.key == 0x06, "a unit attention tells host1 its registration went")
            #expect(try await Self.write(one) == 0x18)
            // The revoke fences host1's session; host2's reservation stays.
            _ = try await node.admin.removeInitiator(AccessGroupTests.host1, fromGroup: "cluster")
            await #expect(throws: (any Error).self) { _ = try await Self.write(one) }
            #expect(try await Self.write(two) == 0)
            await two.logout()
            return volume.iqn
        }
        // After a restart host2 still holds it: another registrant is kept out.
        try await SANNodeTests.withNode(dataDirectory: folder) { node in
            let secrets = try await node.admin.accountSecrets("acme")
            _ = try await node.admin.addInitiator("iqn.2026-11.org.example:host3", toGroup: "cluster")
            var configuration = ISCSIInitiatorSession.Configuration(initiatorName: "iqn.2026-11.org.example:host3", targetName: target)
            configuration.chap = .init(user: "acme", secret: secrets.initiatorSecret)
            let three = try await ISCSIInitiatorSession.login(host: node.portalHost, port: node.portalPort, configuration: configuration, logger: VolumeStoreTests.quiet)
            try await three.clearUnitAttentions()
            #expect(try await Self.write(three) == 0x18)
            await three.logout()
        }
    }
}
