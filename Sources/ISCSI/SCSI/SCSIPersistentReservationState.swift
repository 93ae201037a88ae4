/// The persistent reservation state of one logical unit (SPC-4 §5.12): registrations per I_T
/// nexus, the reservation, and the generation. Codable so a ``SCSIPersistentReservationStore``
/// can keep it across restarts.
public struct SCSIPersistentReservationState: Codable, Sendable, Hashable {
    public struct Registration: Codable, Sendable, Hashable {
        public var nexus: SCSINexus
        public var key: UInt64

        public init(nexus: SCSINexus, key: UInt64) {
            self.nexus = nexus
            self.key = key
        }
    }

    public struct Reservation: Codable, Sendable, Hashable {
        /// SPC-4 type code: 1 WE, 3 EA, 5 WERO, 6 EARO, 7 WEAR, 8 EAAR.
        public var type: UInt8
        /// The holder; nil for the all-registrants types, where every registrant holds it.
        public var holder: SCSINexus?

        public init(type: UInt8, holder: SCSINexus?) {
            self.type = type
            self.holder = holder
        }

        public var isAllRegistrants: Bool { type == 7 || type == 8 }
        public var isRegistrantsOnly: Bool { type == 5 || type == 6 }
        /// Exclusive access types block reads too.
        public var isExclusiveAccess: Bool { type == 3 || type == 6 || type == 8 }
    }

    public var generation: UInt32
    public var registrations: [Registration]
    public var reservation: Reservation?
    /// APTPL of the last registration: whether this state must survive a power loss.
    public var persistThroughPowerLoss: Bool

    public init(generation: UInt32 = 0, registrations: [Registration] = [], reservation: Reservation? = nil, persistThroughPowerLoss: Bool = false) {
        self.generation = generation
        self.registrations = registrations
        self.reservation = reservation
        self.persistThroughPowerLoss = persistThroughPowerLoss
    }

    public func key(of nexus: SCSINexus) -> UInt64? {
        registrations.first { $0.nexus == nexus }?.key
    }

    /// Whether `nexus` holds the reservation (every registrant does for the all-registrants types).
    public func isHolder(_ nexus: SCSINexus) -> Bool {
        guard let reservation else { return false }
        if reservation.isAllRegistrants { return key(of: nexus) != nil }
        return reservation.holder == nexus
    }

    /// The key READ RESERVATION reports: the holder's, or zero for the all-registrants types.
    public var reservationKey: UInt64 {
        guard let reservation, !reservation.isAllRegistrants, let holder = reservation.holder else { return 0 }
        return key(of: holder) ?? 0
    }
}

/// Where a logical unit keeps persistent reservations made with APTPL, so they survive a
/// restart of the storage node. `save` must be durable when it returns.
public protocol SCSIPersistentReservationStore: Sendable {
    /// The saved state, or nil when nothing was saved yet.
    func load() throws -> SCSIPersistentReservationState?
    func save(_ state: SCSIPersistentReservationState) throws
}
