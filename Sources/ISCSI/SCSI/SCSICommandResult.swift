import NIOCore

/// What a command produced: status, data for the initiator, sense on CHECK CONDITION.
public struct SCSICommandResult: Sendable {
    public var status: UInt8
    public var data: ByteBuffer
    public var sense: SCSISense?
    /// For commands that take data: how many bytes the CDB asked for, so the transport reports
    /// the residual against the Expected Data Transfer Length (also on CHECK CONDITION).
    public var dataOutLength: Int?

    public init(status: UInt8, data: ByteBuffer = ByteBuffer(), sense: SCSISense? = nil, dataOutLength: Int? = nil) {
        self.status = status
        self.data = data
        self.sense = sense
        self.dataOutLength = dataOutLength
    }

    public static func good(_ data: ByteBuffer = ByteBuffer()) -> SCSICommandResult {
        SCSICommandResult(status: SCSIStatus.good, data: data, sense: nil)
    }

    static func good(_ bytes: [UInt8], allocationLength: Int) -> SCSICommandResult {
        .good(ByteBuffer(bytes: bytes.prefix(max(0, allocationLength))))
    }

    public static func check(_ sense: SCSISense) -> SCSICommandResult {
        SCSICommandResult(status: SCSIStatus.checkCondition, data: ByteBuffer(), sense: sense)
    }

    public static let reservationConflict = SCSICommandResult(status: SCSIStatus.reservationConflict)

    func expecting(dataOut length: Int) -> SCSICommandResult {
        var result = self
        result.dataOutLength = length
        return result
    }
}
