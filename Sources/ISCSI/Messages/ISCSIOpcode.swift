/// An iSCSI PDU opcode (RFC 7143 §11.2.1.2): the low six bits of the first header byte.
public struct ISCSIOpcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue & 0x3F
    }

    // Initiator opcodes.
    public static let nopOut = ISCSIOpcode(rawValue: 0x00)
    public static let scsiCommand = ISCSIOpcode(rawValue: 0x01)
    public static let taskManagementRequest = ISCSIOpcode(rawValue: 0x02)
    public static let loginRequest = ISCSIOpcode(rawValue: 0x03)
    public static let textRequest = ISCSIOpcode(rawValue: 0x04)
    public static let dataOut = ISCSIOpcode(rawValue: 0x05)
    public static let logoutRequest = ISCSIOpcode(rawValue: 0x06)
    public static let snackRequest = ISCSIOpcode(rawValue: 0x10)

    // Target opcodes.
    public static let nopIn = ISCSIOpcode(rawValue: 0x20)
    public static let scsiResponse = ISCSIOpcode(rawValue: 0x21)
    public static let taskManagementResponse = ISCSIOpcode(rawValue: 0x22)
    public static let loginResponse = ISCSIOpcode(rawValue: 0x23)
    public static let textResponse = ISCSIOpcode(rawValue: 0x24)
    public static let dataIn = ISCSIOpcode(rawValue: 0x25)
    public static let logoutResponse = ISCSIOpcode(rawValue: 0x26)
    public static let readyToTransfer = ISCSIOpcode(rawValue: 0x31)
    public static let asyncMessage = ISCSIOpcode(rawValue: 0x32)
    public static let reject = ISCSIOpcode(rawValue: 0x3F)

    /// Whether initiators send this opcode (targets send the rest).
    public var isInitiatorOpcode: Bool { rawValue < 0x20 }

    public var description: String {
        switch self {
        case .nopOut: "NOP-Out"
        case .scsiCommand: "SCSI Command"
        case .taskManagementRequest: "Task Management Request"
        case .loginRequest: "Login Request"
        case .textRequest: "Text Request"
        case .dataOut: "Data-Out"
        case .logoutRequest: "Logout Request"
        case .snackRequest: "SNACK Request"
        case .nopIn: "NOP-In"
        case .scsiResponse: "SCSI Response"
        case .taskManagementResponse: "Task Management Response"
        case .loginResponse: "Login Response"
        case .textResponse: "Text Response"
        case .dataIn: "Data-In"
        case .logoutResponse: "Logout Response"
        case .readyToTransfer: "R2T"
        case .asyncMessage: "Asynchronous Message"
        case .reject: "Reject"
        default: "opcode 0x" + String(rawValue, radix: 16)
        }
    }
}
