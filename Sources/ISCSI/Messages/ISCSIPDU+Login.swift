import NIOCore

/// Login stages (RFC 7143 §11.12.3).
public enum ISCSILoginStage: UInt8, Hashable, Sendable {
    case securityNegotiation = 0
    case operationalNegotiation = 1
    case fullFeaturePhase = 3
}

/// A Login Request (RFC 7143 §11.12).
public struct ISCSILoginRequest: Hashable, Sendable {
    public var transit: Bool
    public var continues: Bool
    public var currentStage: UInt8
    public var nextStage: UInt8
    public var versionMax: UInt8
    public var versionMin: UInt8
    /// The 6-byte initiator session id.
    public var isid: UInt64
    public var tsih: UInt16
    public var initiatorTaskTag: UInt32
    public var connectionID: UInt16
    public var commandSequenceNumber: UInt32
    public var expectedStatusSequenceNumber: UInt32
    public var parameters: ISCSITextParameters

    public init(
        transit: Bool, continues: Bool = false, currentStage: ISCSILoginStage, nextStage: ISCSILoginStage, versionMax: UInt8 = 0, versionMin: UInt8 = 0,
        isid: UInt64, tsih: UInt16 = 0, initiatorTaskTag: UInt32, connectionID: UInt16 = 0, commandSequenceNumber: UInt32,
        expectedStatusSequenceNumber: UInt32, parameters: ISCSITextParameters
    ) {
        self.transit = transit
        self.continues = continues
        self.currentStage = currentStage.rawValue
        self.nextStage = nextStage.rawValue
        self.versionMax = versionMax
        self.versionMin = versionMin
        self.isid = isid
        self.tsih = tsih
        self.initiatorTaskTag = initiatorTaskTag
        self.connectionID = connectionID
        self.commandSequenceNumber = commandSequenceNumber
        self.expectedStatusSequenceNumber = expectedStatusSequenceNumber
        self.parameters = parameters
    }

    public init(_ pdu: ISCSIPDU) throws {
        precondition(pdu.opcode == .loginRequest)
        let header = pdu.header
        self.transit = header.flags & 0x80 != 0
        self.continues = header.flags & 0x40 != 0
        self.currentStage = (header.flags >> 2) & 0x03
        self.nextStage = header.flags & 0x03
        self.versionMax = header.uint8(at: 2)
        self.versionMin = header.uint8(at: 3)
        self.isid = header.uint64(at: 8) >> 16
        self.tsih = header.uint16(at: 14)
        self.initiatorTaskTag = header.initiatorTaskTag
        self.connectionID = header.uint16(at: 20)
        self.commandSequenceNumber = header.uint32(at: 24)
        self.expectedStatusSequenceNumber = header.uint32(at: 28)
        self.parameters = try ISCSITextParameters.parse(pdu.data)
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .loginRequest, immediate: true)
        header.flags = (transit ? 0x80 : 0) | (continues ? 0x40 : 0) | (currentStage & 0x03) << 2 | (nextStage & 0x03)
        header.setUInt8(versionMax, at: 2)
        header.setUInt8(versionMin, at: 3)
        header.setUInt64(isid << 16 | UInt64(tsih), at: 8)
        header.initiatorTaskTag = initiatorTaskTag
        header.setUInt16(connectionID, at: 20)
        header.setUInt32(commandSequenceNumber, at: 24)
        header.setUInt32(expectedStatusSequenceNumber, at: 28)
        return ISCSIPDU(header: header, data: parameters.encoded())
    }
}

/// A Login Response (RFC 7143 §11.13).
public struct ISCSILoginResponse: Hashable, Sendable {
    /// Status-Class and Status-Detail (RFC 7143 §11.13.5), e.g. 0x0201 authentication failure.
    public struct Status: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let success = Status(rawValue: 0x0000)
        public static let initiatorError = Status(rawValue: 0x0200)
        public static let authenticationFailure = Status(rawValue: 0x0201)
        public static let authorizationFailure = Status(rawValue: 0x0202)
        public static let notFound = Status(rawValue: 0x0203)
        public static let unsupportedVersion = Status(rawValue: 0x0205)
        public static let missingParameter = Status(rawValue: 0x0207)
        public static let sessionTypeNotSupported = Status(rawValue: 0x0209)
        public static let sessionDoesNotExist = Status(rawValue: 0x020A)
        public static let invalidDuringLogin = Status(rawValue: 0x020B)
        public static let targetError = Status(rawValue: 0x0300)
        public static let outOfResources = Status(rawValue: 0x0302)

        public var statusClass: UInt8 { UInt8(rawValue >> 8) }
        public var statusDetail: UInt8 { UInt8(rawValue & 0xFF) }

        public var description: String {
            switch self {
            case .success: "success"
            case .initiatorError: "initiator error"
            case .authenticationFailure: "authentication failure"
            case .authorizationFailure: "authorization failure"
            case .notFound: "not found"
            case .unsupportedVersion: "unsupported version"
            case .missingParameter: "missing parameter"
            case .sessionTypeNotSupported: "session type not supported"
            case .sessionDoesNotExist: "session does not exist"
            case .invalidDuringLogin: "invalid request during login"
            case .targetError: "target error"
            case .outOfResources: "out of resources"
            default: "status 0x" + String(rawValue, radix: 16)
            }
        }
    }

    public var transit: Bool
    public var continues: Bool
    public var currentStage: UInt8
    public var nextStage: UInt8
    public var versionMax: UInt8
    public var versionActive: UInt8
    public var isid: UInt64
    public var tsih: UInt16
    public var initiatorTaskTag: UInt32
    public var statusSequenceNumber: UInt32
    public var expectedCommandSequenceNumber: UInt32
    public var maximumCommandSequenceNumber: UInt32
    public var status: Status
    public var parameters: ISCSITextParameters

    public init(
        transit: Bool, continues: Bool = false, currentStage: UInt8, nextStage: UInt8, versionMax: UInt8 = 0, versionActive: UInt8 = 0, isid: UInt64,
        tsih: UInt16, initiatorTaskTag: UInt32, statusSequenceNumber: UInt32, expectedCommandSequenceNumber: UInt32,
        maximumCommandSequenceNumber: UInt32, status: Status, parameters: ISCSITextParameters
    ) {
        self.transit = transit
        self.continues = continues
        self.currentStage = currentStage
        self.nextStage = nextStage
        self.versionMax = versionMax
        self.versionActive = versionActive
        self.isid = isid
        self.tsih = tsih
        self.initiatorTaskTag = initiatorTaskTag
        self.statusSequenceNumber = statusSequenceNumber
        self.expectedCommandSequenceNumber = expectedCommandSequenceNumber
        self.maximumCommandSequenceNumber = maximumCommandSequenceNumber
        self.status = status
        self.parameters = parameters
    }

    public init(_ pdu: ISCSIPDU) throws {
        precondition(pdu.opcode == .loginResponse)
        let header = pdu.header
        self.transit = header.flags & 0x80 != 0
        self.continues = header.flags & 0x40 != 0
        self.currentStage = (header.flags >> 2) & 0x03
        self.nextStage = header.flags & 0x03
        self.versionMax = header.uint8(at: 2)
        self.versionActive = header.uint8(at: 3)
        self.isid = header.uint64(at: 8) >> 16
        self.tsih = header.uint16(at: 14)
        self.initiatorTaskTag = header.initiatorTaskTag
        self.statusSequenceNumber = header.uint32(at: 24)
        self.expectedCommandSequenceNumber = header.uint32(at: 28)
        self.maximumCommandSequenceNumber = header.uint32(at: 32)
        self.status = Status(rawValue: header.uint16(at: 36))
        self.parameters = try ISCSITextParameters.parse(pdu.data)
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .loginResponse)
        header.flags = (transit ? 0x80 : 0) | (continues ? 0x40 : 0) | (currentStage & 0x03) << 2 | (nextStage & 0x03)
        header.setUInt8(versionMax, at: 2)
        header.setUInt8(versionActive, at: 3)
        header.setUInt64(isid << 16 | UInt64(tsih), at: 8)
        header.initiatorTaskTag = initiatorTaskTag
        header.setUInt32(statusSequenceNumber, at: 24)
        header.setUInt32(expectedCommandSequenceNumber, at: 28)
        header.setUInt32(maximumCommandSequenceNumber, at: 32)
        header.setUInt16(status.rawValue, at: 36)
        return ISCSIPDU(header: header, data: parameters.encoded())
    }
}
