import Foundation
import ISCSI
import NIOCore

/// A logical unit on a sparse temporary file, and helpers to send it CDBs.
final class SCSITestUnit {
    let path: String
    let device: FileBlockDevice
    var unit: SCSILogicalUnit
    let first = SCSINexus(initiatorPort: "iqn.2026-11.test:a,i,0x1", targetPort: "iqn.2026-11.test:t,t,0x1")
    let second = SCSINexus(initiatorPort: "iqn.2026-11.test:b,i,0x2", targetPort: "iqn.2026-11.test:t,t,0x1")

    init(sizeBytes: UInt64 = 16 << 20, store: (any SCSIPersistentReservationStore)? = nil) throws {
        path = NSTemporaryDirectory() + "lunar-scsi-" + UUID().uuidString
        device = try FileBlockDevice(path: path, sizeBytes: sizeBytes)
        if let store {
            unit = try SCSILogicalUnit(device: device, serial: "unit-test", naa: 0xABCD, reservationStore: store)
        } else {
            unit = SCSILogicalUnit(device: device, serial: "unit-test", naa: 0xABCD)
        }
        // Consume POWER ON so each test starts clean.
        _ = unit.execute(SCSIRequest(cdb: [0, 0, 0, 0, 0, 0], nexus: first))
        _ = unit.execute(SCSIRequest(cdb: [0, 0, 0, 0, 0, 0], nexus: second))
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func run(_ cdb: [UInt8], _ data: [UInt8] = [], nexus: SCSINexus? = nil) -> SCSICommandResult {
        var padded = cdb
        if padded.count < 16 { padded += [UInt8](repeating: 0, count: 16 - padded.count) }
        return unit.execute(SCSIRequest(cdb: padded, dataOut: ByteBuffer(bytes: data), nexus: nexus ?? first, expectedDataTransferLength: data.count))
    }

    static func be(_ value: UInt64, _ bytes: Int) -> [UInt8] {
        (0..<bytes).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    func write16(_ lba: UInt64, _ data: [UInt8], fua: Bool = false) -> SCSICommandResult {
        run([0x8A, fua ? 0x08 : 0] + Self.be(lba, 8) + Self.be(UInt64(data.count / 512), 4) + [0, 0], data)
    }

    func read16(_ lba: UInt64, _ blocks: Int) -> SCSICommandResult {
        run([0x88, 0] + Self.be(lba, 8) + Self.be(UInt64(blocks), 4) + [0, 0])
    }

    /// Allocated bytes of the backing file, per stat's st_blocks.
    var allocatedBytes: Int {
        var info = stat()
        _ = stat(path, &info)
        return Int(info.st_blocks) * 512
    }
}

extension SCSICommandResult {
    var bytes: [UInt8] { Array(data.readableBytesView) }
    var senseTriple: (UInt8, UInt8, UInt8)? { sense.map { ($0.key, $0.additionalSenseCode, $0.additionalSenseCodeQualifier) } }
}
