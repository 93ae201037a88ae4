/// SCSI status codes and fixed-format sense data (SPC-4 §4.5.3).
public enum SCSIStatus {
    public static let good: UInt8 = 0x00
    public static let checkCondition: UInt8 = 0x02
    public static let reservationConflict: UInt8 = 0x18
}

public struct SCSISense: Hashable, Sendable {
    public var key: UInt8
    public var additionalSenseCode: UInt8
    public var additionalSenseCodeQualifier: UInt8

    public init(key: UInt8, code: UInt8, qualifier: UInt8 = 0) {
        self.key = key
        self.additionalSenseCode = code
        self.additionalSenseCodeQualifier = qualifier
    }

    public static let invalidOperationCode = SCSISense(key: 0x05, code: 0x20)
    public static let lbaOutOfRange = SCSISense(key: 0x05, code: 0x21)
    public static let invalidFieldInCDB = SCSISense(key: 0x05, code: 0x24)
    public static let logicalUnitNotSupported = SCSISense(key: 0x05, code: 0x25)
    public static let mediumError = SCSISense(key: 0x03, code: 0x11)  // unrecovered read error
    public static let writeError = SCSISense(key: 0x03, code: 0x0C)
    public static let internalTargetFailure = SCSISense(key: 0x04, code: 0x44)

    /// 18 bytes of fixed-format sense.
    public var bytes: [UInt8] {
        [0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, additionalSenseCode, additionalSenseCodeQualifier, 0, 0, 0, 0]
    }
}
