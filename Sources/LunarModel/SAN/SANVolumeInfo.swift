/// A SAN volume as its admin API shows it (the JSON the `lunar san volume` verbs print).
public struct SANVolumeInfo: Codable, Sendable, Hashable {
    public var name: String
    public var sizeBytes: UInt64
    /// Bytes the volume's sparse file really occupies (thin provisioning).
    public var allocatedBytes: UInt64
    public var iqn: String
    public var lun: Int
    public var serial: String
    /// The NAA designator of VPD page 0x83, `0x6…` (16 hex digits).
    public var naa: String
    public var allowedInitiators: [String]
    /// Initiator names logged in right now.
    public var sessions: [String]
    /// ISO 8601.
    public var created: String
    public var qos: SANVolumeQoS?
    /// The owning account (CHAP user), if any.
    public var account: String?

    public init(
        name: String, sizeBytes: UInt64, allocatedBytes: UInt64, iqn: String, lun: Int, serial: String, naa: String, allowedInitiators: [String],
        sessions: [String], created: String, qos: SANVolumeQoS? = nil, account: String? = nil
    ) {
        self.qos = qos
        self.account = account
        self.name = name
        self.sizeBytes = sizeBytes
        self.allocatedBytes = allocatedBytes
        self.iqn = iqn
        self.lun = lun
        self.serial = serial
        self.naa = naa
        self.allowedInitiators = allowedInitiators
        self.sessions = sessions
        self.created = created
    }

    enum CodingKeys: String, CodingKey {
        case name, iqn, lun, serial, naa, sessions, created, qos, account
        case sizeBytes = "size_bytes"
        case allocatedBytes = "allocated_bytes"
        case allowedInitiators = "allowed_initiators"
    }
}

/// The body of every SAN admin API error: a stable code and a sentence.
public struct SANErrorBody: Codable, Sendable, Hashable {
    public struct Detail: Codable, Sendable, Hashable {
        public var code: String
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var error: Detail

    public init(code: String, message: String) {
        self.error = Detail(code: code, message: message)
    }
}
