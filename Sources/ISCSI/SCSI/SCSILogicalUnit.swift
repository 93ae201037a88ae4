import NIOCore
import Synchronization

/// A direct-access logical unit (SBC-3, SPC-4) over a ``SCSIBlockDevice``. Unknown or malformed
/// CDBs and parameter lists get CHECK CONDITION with ILLEGAL REQUEST sense, never a trap or a
/// dropped connection. `execute` blocks (it does the I/O): transports call it from a thread pool.
///
/// Unit attentions and reservations are kept per I_T nexus (``SCSINexus``); persistent
/// reservations survive a restart through a ``SCSIPersistentReservationStore`` when the
/// initiator asked for it (APTPL).
public final class SCSILogicalUnit: Sendable {
    public let device: any SCSIBlockDevice
    /// Unit serial number (VPD 0x80).
    public let serial: String
    /// 64-bit NAA identifier (VPD 0x83), unique per volume.
    public let naa: UInt64
    let reservationStore: (any SCSIPersistentReservationStore)?
    let state: Mutex<State>
    /// Makes COMPARE AND WRITE (and ORWRITE) atomic against other writes to the same blocks.
    let rangeLock = SCSIBlockRangeLock()

    /// Mutable state shared by every nexus.
    struct State {
        /// Nexuses that have issued a command; a new one gets POWER ON first.
        var knownNexuses: Set<SCSINexus> = []
        /// Pending unit attentions, oldest first, bounded per nexus.
        var unitAttentions: [SCSINexus: [SCSISense]] = [:]
        var reservations = SCSIPersistentReservationState()
        /// The RESERVE(6) holder (SPC-2 reservations).
        var legacyReservation: SCSINexus?
        var preventingRemoval: Set<SCSINexus> = []
        var mode = ModeParameters()
    }

    /// The changeable mode parameters (MODE SELECT).
    struct ModeParameters: Equatable {
        /// WCE in the caching page: writes may sit in the page cache until FUA or SYNCHRONIZE CACHE.
        var writeCacheEnabled = true
        /// D_SENSE in the control page: descriptor-format sense data.
        var descriptorSense = false
    }

    static let maximumUnitAttentions = 16
    static let maximumKnownNexuses = 4096

    /// A logical unit whose persistent reservations live in memory only.
    public init(device: any SCSIBlockDevice, serial: String, naa: UInt64) {
        self.device = device
        self.serial = serial
        self.naa = (naa & 0x0FFF_FFFF_FFFF_FFFF) | 0x6000_0000_0000_0000  // NAA type 6 in the top nibble
        self.reservationStore = nil
        self.state = Mutex(State())
    }

    /// A logical unit whose persistent reservations made with APTPL survive restarts in `reservationStore`.
    /// Throws when the stored state cannot be read: starting without it would silently drop fencing.
    public init(device: any SCSIBlockDevice, serial: String, naa: UInt64, reservationStore: any SCSIPersistentReservationStore) throws {
        self.device = device
        self.serial = serial
        self.naa = (naa & 0x0FFF_FFFF_FFFF_FFFF) | 0x6000_0000_0000_0000
        self.reservationStore = reservationStore
        var initial = State()
        if let stored = try reservationStore.load(), stored.persistThroughPowerLoss {
            initial.reservations = stored
        }
        self.state = Mutex(initial)
    }

    /// Most blocks one READ or WRITE may move (VPD 0xB0), matching the transport's 32 MiB bound.
    public var maximumTransferBlocks: Int { (32 << 20) / device.blockSize }
    /// Most blocks one COMPARE AND WRITE may compare (VPD 0xB0).
    static let maximumCompareAndWriteBlocks = 255
    /// Most blocks one WRITE SAME may write with data (zeroing with UNMAP has no limit).
    var maximumWriteSameBlocks: UInt64 { UInt64((256 << 20) / device.blockSize) }
    static let maximumUnmapDescriptors = 256

    // MARK: Execution

    public func execute(_ request: SCSIRequest) -> SCSICommandResult {
        var result = checkedExecute(request)
        if var sense = result.sense {
            sense.descriptorFormat = sense.descriptorFormat || state.withLock { $0.mode.descriptorSense }
            result.sense = sense
        }
        return result
    }

    func checkedExecute(_ request: SCSIRequest) -> SCSICommandResult {
        let cdb = SCSICDB(request.cdb)
        guard let length = SCSICDB.length(ofOpcode: cdb.opcode), request.cdb.count >= length else { return .check(.invalidOperationCode) }
        if let attention = takeUnitAttention(for: request.nexus, opcode: cdb.opcode) { return .check(attention) }
        guard Self.isSupported(cdb) else { return .check(.invalidOperationCode) }
        // NACA and LINK: ACA and linked commands are not supported.
        guard cdb[length - 1] & 0x05 == 0 else { return .check(.invalidFieldInCDB) }
        if conflictsWithReservation(cdb, nexus: request.nexus) { return .reservationConflict }
        do {
            return try dispatch(cdb, request)
        } catch let error as SCSIDeviceError {
            return .check(error.operation.hasPrefix("read") || error.operation.hasPrefix("seek") ? .mediumError : .writeError)
        } catch {
            return .check(.internalTargetFailure)
        }
    }

    func dispatch(_ cdb: SCSICDB, _ request: SCSIRequest) throws -> SCSICommandResult {
        switch cdb.opcode {
        case 0x00: return .good()  // TEST UNIT READY
        case 0x03: return requestSense(cdb, nexus: request.nexus)
        case 0x12: return inquiry(cdb, nexus: request.nexus)
        case 0xA0: return reportLUNs(cdb)
        case 0xA3: return reportSupportedOperationCodes(cdb)
        case 0x25: return readCapacity10(cdb)
        case 0x9E where cdb.serviceAction == 0x10: return readCapacity16(cdb)
        case 0x9E where cdb.serviceAction == 0x12: return try getLBAStatus(cdb)
        case 0x9E: return .check(.invalidFieldInCDB)
        case 0x08, 0x28, 0xA8, 0x88: return try read(cdb, prefetched: request.prefetched)
        case 0x0A, 0x2A, 0xAA, 0x8A, 0x2E, 0xAE, 0x8E: return try write(cdb, data: request.dataOut)
        case 0x2F, 0xAF, 0x8F: return try verify(cdb, data: request.dataOut)
        case 0x89: return try compareAndWrite(cdb, data: request.dataOut)
        case 0x8B: return try orWrite(cdb, data: request.dataOut)
        case 0x41, 0x93: return try writeSame(cdb, data: request.dataOut)
        case 0x42: return try unmap(cdb, data: request.dataOut)
        case 0x35, 0x91: return try synchronizeCache(cdb)
        case 0x34, 0x90: return prefetch(cdb)
        case 0x1A, 0x5A: return modeSense(cdb)
        case 0x15, 0x55: return modeSelect(cdb, data: request.dataOut, nexus: request.nexus)
        case 0x5E: return persistentReserveIn(cdb)
        case 0x5F: return persistentReserveOut(cdb, data: request.dataOut, nexus: request.nexus)
        case 0x16: return reserve6(cdb, nexus: request.nexus)
        case 0x17: return release6(cdb, nexus: request.nexus)
        case 0x1B: return startStopUnit(cdb)
        case 0x1E: return preventAllowMediumRemoval(cdb, nexus: request.nexus)
        case 0x1D: return sendDiagnostic(cdb)
        case 0x37, 0xB7: return readDefectData(cdb)
        default: return .check(.invalidOperationCode)
        }
    }

    // MARK: Resets and events

    /// LOGICAL UNIT RESET (and target resets): the transport has aborted the tasks. Clears the
    /// state SAM-5 ties to the logical unit (RESERVE(6), PREVENT) but not persistent reservations,
    /// and tells every nexus, the issuer included, with BUS DEVICE RESET FUNCTION OCCURRED
    /// (SAM-5; libiscsi's MultipathIO.Reset checks every path hears it).
    public func reset(initiatedBy nexus: SCSINexus) {
        state.withLock { state in
            state.legacyReservation = nil
            state.preventingRemoval.removeAll()
            Self.establish(.busDeviceReset, forAll: state.knownNexuses, except: nil, in: &state)
        }
    }

    /// The I_T nexus is gone (logout, connection loss): its RESERVE(6) and PREVENT end, and its
    /// unit attentions with it. Persistent reservations stay.
    public func nexusLost(_ nexus: SCSINexus) {
        state.withLock { state in
            if state.legacyReservation == nexus { state.legacyReservation = nil }
            state.preventingRemoval.remove(nexus)
            state.knownNexuses.remove(nexus)
            state.unitAttentions[nexus] = nil
        }
    }

    /// Call after growing the device: every nexus learns CAPACITY DATA HAS CHANGED.
    public func capacityChanged() {
        state.withLock { state in
            for known in state.knownNexuses { Self.establish(.capacityDataChanged, for: known, in: &state) }
        }
    }

    // MARK: Simple commands

    func reportLUNs(_ cdb: SCSICDB) -> SCSICommandResult {
        let lunList: [UInt8]
        switch cdb[2] {
        case 0x00, 0x02: lunList = [UInt8](repeating: 0, count: 8)  // LUN 0
        case 0x01: lunList = []  // well-known logical units only: none
        default: return .check(.invalidFieldInCDB)
        }
        let bytes = SCSIBytes.be32(UInt32(lunList.count)) + [0, 0, 0, 0] + lunList
        return .good(bytes, allocationLength: Int(cdb.be32(6)))
    }

    func readCapacity10(_ cdb: SCSICDB) -> SCSICommandResult {
        // Without PMI the LOGICAL BLOCK ADDRESS field must be zero.
        guard cdb[8] & 0x01 != 0 || cdb.be32(2) == 0 else { return .check(.invalidFieldInCDB) }
        let last = device.blockCount == 0 ? 0 : device.blockCount - 1
        let bytes = SCSIBytes.be32(last > UInt64(UInt32.max) ? UInt32.max : UInt32(last)) + SCSIBytes.be32(UInt32(device.blockSize))
        return .good(ByteBuffer(bytes: bytes))
    }

    func readCapacity16(_ cdb: SCSICDB) -> SCSICommandResult {
        var bytes = SCSIBytes.be64(device.blockCount == 0 ? 0 : device.blockCount - 1) + SCSIBytes.be32(UInt32(device.blockSize))
        bytes += [0x00, 0x00, 0xC0, 0x00]  // no protection; LBPME and LBPRZ: thin, holes read as zeros
        bytes += [UInt8](repeating: 0, count: 16)
        return .good(bytes, allocationLength: Int(cdb.be32(10)))
    }

    func startStopUnit(_ cdb: SCSICDB) -> SCSICommandResult {
        // Power conditions beyond the SBC-3 ones are reserved.
        let powerCondition = cdb[4] >> 4
        guard [0x0, 0x1, 0x2, 0x3, 0x5, 0x7, 0xA, 0xB].contains(powerCondition) else { return .check(.invalidFieldInCDB) }
        return .good()  // a virtual disk has no motor to stop and no medium to eject
    }

    func preventAllowMediumRemoval(_ cdb: SCSICDB, nexus: SCSINexus) -> SCSICommandResult {
        let prevent = cdb[4] & 0x03
        state.withLock { state in
            if prevent & 0x01 != 0 { state.preventingRemoval.insert(nexus) } else { state.preventingRemoval.remove(nexus) }
        }
        return .good()
    }

    func sendDiagnostic(_ cdb: SCSICDB) -> SCSICommandResult {
        // Only the default self-test, which a file always passes; no diagnostic pages.
        guard cdb[1] & 0x04 != 0, cdb[1] & 0xE0 == 0, cdb.be16(3) == 0 else { return .check(.invalidFieldInCDB) }
        return .good()
    }

    func readDefectData(_ cdb: SCSICDB) -> SCSICommandResult {
        // No defects: the header alone, echoing the requested lists and format.
        if cdb.opcode == 0x37 {
            return .good([0, cdb[2] & 0x1F, 0, 0], allocationLength: Int(cdb.be16(7)))
        }
        return .good([0, cdb[1] & 0x1F, 0, 0, 0, 0, 0, 0], allocationLength: Int(cdb.be32(6)))
    }
}
