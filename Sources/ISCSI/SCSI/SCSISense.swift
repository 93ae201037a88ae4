/// SCSI status codes and sense data (SPC-4 §4.5).
public enum SCSIStatus {
    public static let good: UInt8 = 0x00
    public static let checkCondition: UInt8 = 0x02
    public static let reservationConflict: UInt8 = 0x18
}

public struct SCSISense: Hashable, Sendable {
    public var key: UInt8
    public var additionalSenseCode: UInt8
    public var additionalSenseCodeQualifier: UInt8
    /// The INFORMATION field (e.g. the miscompare offset); nil leaves VALID clear.
    public var information: UInt64?
    /// Descriptor format (D_SENSE in the control mode page, or REQUEST SENSE with DESC).
    public var descriptorFormat = false
    /// The CDB byte an INVALID FIELD IN CDB points at (sense-key specific, SKSV and C/D set).
    public var cdbFieldPointer: UInt16?

    public init(key: UInt8, code: UInt8, qualifier: UInt8 = 0, information: UInt64? = nil) {
        self.key = key
        self.additionalSenseCode = code
        self.additionalSenseCodeQualifier = qualifier
        self.information = information
    }

    public static let noSense = SCSISense(key: 0x00, code: 0x00)
    public static let invalidOperationCode = SCSISense(key: 0x05, code: 0x20)
    public static let lbaOutOfRange = SCSISense(key: 0x05, code: 0x21)
    public static let invalidFieldInCDB = SCSISense(key: 0x05, code: 0x24)
    public static let logicalUnitNotSupported = SCSISense(key: 0x05, code: 0x25)
    public static let invalidFieldInParameterList = SCSISense(key: 0x05, code: 0x26)
    public static let parameterListLengthError = SCSISense(key: 0x05, code: 0x1A)
    public static let invalidReleaseOfPersistentReservation = SCSISense(key: 0x05, code: 0x26, qualifier: 0x04)
    public static let savingParametersNotSupported = SCSISense(key: 0x05, code: 0x39)
    public static let insufficientRegistrationResources = SCSISense(key: 0x05, code: 0x55, qualifier: 0x04)
    public static let mediumError = SCSISense(key: 0x03, code: 0x11)  // unrecovered read error
    public static let writeError = SCSISense(key: 0x03, code: 0x0C)
    public static let internalTargetFailure = SCSISense(key: 0x04, code: 0x44)
    /// ABORTED COMMAND: iSCSI's answer to data it must treat as lost (RFC 7143 §7.8, ERL 0).
    public static let protocolServiceCRCError = SCSISense(key: 0x0B, code: 0x47, qualifier: 0x05)
    public static let verifyMiscompare = SCSISense(key: 0x0E, code: 0x1D)

    // Unit attentions (sense key 6).
    public static let powerOnOrReset = SCSISense(key: 0x06, code: 0x29, qualifier: 0x00)
    public static let busDeviceReset = SCSISense(key: 0x06, code: 0x29, qualifier: 0x03)
    public static let modeParametersChanged = SCSISense(key: 0x06, code: 0x2A, qualifier: 0x01)
    public static let reservationsPreempted = SCSISense(key: 0x06, code: 0x2A, qualifier: 0x03)
    public static let reservationsReleased = SCSISense(key: 0x06, code: 0x2A, qualifier: 0x04)
    public static let registrationsPreempted = SCSISense(key: 0x06, code: 0x2A, qualifier: 0x05)
    public static let capacityDataChanged = SCSISense(key: 0x06, code: 0x2A, qualifier: 0x09)

    /// INVALID FIELD IN CDB naming the offending byte, so an initiator can tell a bad field
    /// from an unsupported command (libiscsi treats a pointer-less answer to a two-byte opcode as
    /// "not implemented").
    public static func invalidField(inCDBByte byte: UInt16) -> SCSISense {
        var sense = SCSISense.invalidFieldInCDB
        sense.cdbFieldPointer = byte
        return sense
    }

    /// SKSV | C/D, then the field pointer (SPC-4 §4.5.2.4.2).
    var senseKeySpecific: [UInt8]? {
        cdbFieldPointer.map { [0xC0, UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// A miscompare at `offset` bytes into the compared data (COMPARE AND WRITE, VERIFY).
    public static func miscompare(atOffset offset: Int) -> SCSISense {
        SCSISense(key: 0x0E, code: 0x1D, information: UInt64(offset))
    }

    /// Fixed (18 bytes) or descriptor (8 + information descriptor) format, per `descriptorFormat`.
    public var bytes: [UInt8] {
        descriptorFormat ? descriptorBytes : fixedBytes
    }

    public var fixedBytes: [UInt8] {
        var bytes: [UInt8] = [0x70, 0, key & 0x0F, 0, 0, 0, 0, 10, 0, 0, 0, 0, additionalSenseCode, additionalSenseCodeQualifier, 0, 0, 0, 0]
        if let information {
            // Fixed format has 32 bits of INFORMATION; a larger value cannot be VALID.
            if information <= UInt64(UInt32.max) {
                bytes[0] |= 0x80
                bytes[3] = UInt8(truncatingIfNeeded: information >> 24)
                bytes[4] = UInt8(truncatingIfNeeded: information >> 16)
                bytes[5] = UInt8(truncatingIfNeeded: information >> 8)
                bytes[6] = UInt8(truncatingIfNeeded: information)
            }
        }
        if let specific = senseKeySpecific { bytes.replaceSubrange(15..<18, with: specific) }
        return bytes
    }

    public var descriptorBytes: [UInt8] {
        var bytes: [UInt8] = [0x72, key & 0x0F, additionalSenseCode, additionalSenseCodeQualifier, 0, 0, 0, 0]
        if let information {
            bytes += [0x00, 0x0A, 0x80, 0x00]  // information descriptor, VALID
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: information >> UInt64(shift))) }
        }
        if let specific = senseKeySpecific { bytes += [0x02, 0x06, 0, 0] + specific + [0] }
        bytes[7] = UInt8(bytes.count - 8)
        return bytes
    }
}
