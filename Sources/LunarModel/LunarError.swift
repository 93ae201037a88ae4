/// An error a client can act on, with CloudStack's stable codes: `errorCode` is the HTTP status and
/// the `errorcode` field, `csErrorCode` the `cserrorcode` field (CloudStack's exception class code).
///
/// Equality compares codes only, so tests match on the kind of failure, not the wording.
public struct LunarError: Error, Sendable, Hashable, CustomStringConvertible {
    /// CloudStack's API error codes (`ApiErrorCode`), which are also the HTTP statuses.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// Bad API key, signature, or expired request.
        public static let unauthorized = Code(rawValue: 401)
        /// Too many requests or jobs in flight.
        public static let limitExceeded = Code(rawValue: 429)
        /// A missing or invalid parameter, or an id that names nothing this caller may see.
        public static let parameterError = Code(rawValue: 431)
        /// A command that does not exist or that this caller may not use.
        public static let unsupportedAction = Code(rawValue: 432)
        /// Anything the server did not expect.
        public static let internalError = Code(rawValue: 530)
        /// A sign-in that failed (CloudStack's ACCOUNT_ERROR).
        public static let accountError = Code(rawValue: 531)
        /// Capacity is exhausted (placement).
        public static let insufficientCapacity = Code(rawValue: 533)
        /// A resource the call needs cannot be reached now (a storage node that does not answer):
        /// nothing was changed, and the same call can be made again later.
        public static let resourceUnavailable = Code(rawValue: 534)
        /// A resource is in use and cannot be changed that way now.
        public static let resourceInUse = Code(rawValue: 536)

        public var description: String { String(rawValue) }
    }

    public let code: Code
    /// CloudStack's `cserrorcode` (the exception class), e.g. 4350 for an invalid parameter value.
    public let csErrorCode: Int
    /// The sentence the client sees as `errortext`.
    public let text: String

    public init(_ code: Code, csErrorCode: Int? = nil, _ text: String) {
        self.code = code
        self.csErrorCode = csErrorCode ?? Self.defaultCSErrorCode(for: code)
        self.text = text
    }

    public var description: String { "\(code.rawValue): \(text)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    static func defaultCSErrorCode(for code: Code) -> Int {
        switch code {
        case .parameterError: 4350  // InvalidParameterValueException
        case .resourceInUse: 4375  // ResourceInUseException
        case .insufficientCapacity: 4325  // InsufficientCapacityException
        case .internalError: 4250  // CloudRuntimeException
        case .resourceUnavailable: 4380  // ResourceUnavailableException
        default: 9999  // ServerApiException
        }
    }
}

extension LunarError {
    /// A required parameter is absent.
    public static func missingParameter(_ name: String, command: String) -> LunarError {
        LunarError(.parameterError, "Unable to execute API command \(command.lowercased()) due to missing parameter \(name)")
    }

    /// A parameter has a value of the wrong form.
    public static func invalidParameter(_ name: String, value: String, reason: String) -> LunarError {
        LunarError(.parameterError, "Invalid value '\(value)' for parameter \(name): \(reason)")
    }

    /// An id that does not exist, or that this caller may not see (the two are not told apart).
    public static func unknownID(_ entity: String, _ id: String, parameter: String = "id") -> LunarError {
        LunarError(.parameterError, "Unable to find \(entity) with \(parameter)=\(id)")
    }

    /// A storage system (or another resource) did not answer; nothing was changed.
    public static func unavailable(_ text: String) -> LunarError {
        LunarError(.resourceUnavailable, text)
    }

    /// A rule of the domain refused the request.
    public static func refused(_ text: String) -> LunarError {
        LunarError(.parameterError, text)
    }
}
