import ISCSI

/// A storage node error: a stable code the admin API returns with its HTTP status.
public struct SANError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        public let name: String
        public let httpStatus: Int

        public static let invalidRequest = Code(name: "invalid_request", httpStatus: 400)
        public static let invalidName = Code(name: "invalid_name", httpStatus: 400)
        public static let invalidSize = Code(name: "invalid_size", httpStatus: 400)
        public static let invalidInitiator = Code(name: "invalid_initiator", httpStatus: 400)
        public static let invalidQoS = Code(name: "invalid_qos", httpStatus: 400)
        public static let unauthorized = Code(name: "unauthorized", httpStatus: 401)
        public static let volumeNotFound = Code(name: "volume_not_found", httpStatus: 404)
        public static let notFound = Code(name: "not_found", httpStatus: 404)
        public static let volumeExists = Code(name: "volume_exists", httpStatus: 409)
        public static let volumeInUse = Code(name: "volume_in_use", httpStatus: 409)
        public static let groupNotFound = Code(name: "group_not_found", httpStatus: 404)
        public static let groupExists = Code(name: "group_exists", httpStatus: 409)
        public static let grantedByGroup = Code(name: "granted_by_group", httpStatus: 409)
        public static let accountNotFound = Code(name: "account_not_found", httpStatus: 404)
        public static let accountExists = Code(name: "account_exists", httpStatus: 409)
        public static let accountInUse = Code(name: "account_in_use", httpStatus: 409)
        public static let invalidSecret = Code(name: "invalid_secret", httpStatus: 400)
        public static let limitExceeded = Code(name: "limit_exceeded", httpStatus: 409)
        public static let storageFailure = Code(name: "storage_failure", httpStatus: 500)
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name): \(message)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

/// The IQN prefix must itself be a valid name once a volume is appended.
enum ISCSIPrefixCheck {
    static func valid(_ prefix: String) -> Bool { ISCSIName.normalized(prefix + ":v") == prefix + ":v" }
}
