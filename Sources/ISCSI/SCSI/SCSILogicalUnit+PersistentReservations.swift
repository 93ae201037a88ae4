import NIOCore

/// PERSISTENT RESERVE IN/OUT (SPC-4 §5.12, §6.15–6.16), the older RESERVE(6)/RELEASE(6), and the
/// conflict rules that decide which commands a reservation blocks.
extension SCSILogicalUnit {
    static let maximumRegistrations = 256
    static let reservationTypes: Set<UInt8> = [1, 3, 5, 6, 7, 8]

    // MARK: Conflicts

    /// Whether a reservation held through another nexus blocks `cdb` (RESERVATION CONFLICT).
    func conflictsWithReservation(_ cdb: SCSICDB, nexus: SCSINexus) -> Bool {
        let opcode = cdb.opcode
        return state.withLock { state in
            let pr = state.reservations
            if let holder = state.legacyReservation, holder != nexus {
                // SPC-2 reservations block everything but identification and sense.
                return ![0x12, 0xA0, 0x03, 0x17, 0x5E].contains(opcode)
            }
            if opcode == 0x16 || opcode == 0x17 {
                // RESERVE(6)/RELEASE(6) while persistent reservations are in use (CRH=0).
                return pr.reservation != nil || !pr.registrations.isEmpty
            }
            guard let reservation = pr.reservation else { return false }
            // Allowed under every reservation type (SPC-4 table 63, SBC-3 table 13).
            if [0x00, 0x03, 0x12, 0x25, 0x4D, 0x5E, 0x5F, 0xA0, 0xA3].contains(opcode) { return false }
            if opcode == 0x9E && cdb.serviceAction == 0x10 { return false }
            let hasAccess = pr.isHolder(nexus) || (reservation.isRegistrantsOnly && pr.key(of: nexus) != nil)
            if hasAccess { return false }
            if reservation.isExclusiveAccess { return true }
            // Write exclusive: what only reads the medium or the unit's parameters may proceed.
            let reads: Set<UInt8> = [0x08, 0x28, 0xA8, 0x88, 0x2F, 0xAF, 0x8F, 0x1A, 0x5A, 0x34, 0x90, 0x37, 0xB7]
            if reads.contains(opcode) { return false }
            if opcode == 0x9E && cdb.serviceAction == 0x12 { return false }
            return true
        }
    }

    // MARK: RESERVE(6), RELEASE(6)

    func reserve6(_ cdb: SCSICDB, nexus: SCSINexus) -> SCSICommandResult {
        // Third-party and extent reservations are obsolete.
        guard cdb[1] & 0x1F == 0 else { return .check(.invalidFieldInCDB) }
        return state.withLock { state in
            if let holder = state.legacyReservation, holder != nexus { return .reservationConflict }
            state.legacyReservation = nexus
            return .good()
        }
    }

    func release6(_ cdb: SCSICDB, nexus: SCSINexus) -> SCSICommandResult {
        guard cdb[1] & 0x1F == 0 else { return .check(.invalidFieldInCDB) }
        state.withLock { state in
            // Releasing someone else's reservation is GOOD and changes nothing.
            if state.legacyReservation == nexus { state.legacyReservation = nil }
        }
        return .good()
    }

    // MARK: PERSISTENT RESERVE IN

    func persistentReserveIn(_ cdb: SCSICDB) -> SCSICommandResult {
        let allocation = Int(cdb.be16(7))
        let pr = state.withLock { $0.reservations }
        let generation = SCSIBytes.be32(pr.generation)
        switch cdb.serviceAction {
        case 0x00:  // READ KEYS
            let keys = pr.registrations.flatMap { SCSIBytes.be64($0.key) }
            return .good(generation + SCSIBytes.be32(UInt32(keys.count)) + keys, allocationLength: allocation)
        case 0x01:  // READ RESERVATION
            guard let reservation = pr.reservation else { return .good(generation + [0, 0, 0, 0], allocationLength: allocation) }
            let descriptor = SCSIBytes.be64(pr.reservationKey) + [0, 0, 0, 0, 0, reservation.type & 0x0F, 0, 0]
            return .good(generation + SCSIBytes.be32(16) + descriptor, allocationLength: allocation)
        case 0x02:  // REPORT CAPABILITIES
            let persistCapable: UInt8 = reservationStore == nil ? 0 : 0x01
            let persistActive: UInt8 = pr.persistThroughPowerLoss ? 0x01 : 0
            // TMV; types: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX, and EX_AC_AR.
            return .good([0x00, 0x08, persistCapable, 0x80 | persistActive, 0xEA, 0x01, 0x00, 0x00], allocationLength: allocation)
        case 0x03:  // READ FULL STATUS
            var descriptors: [UInt8] = []
            for registration in pr.registrations {
                let holds = pr.isHolder(registration.nexus)
                let transportID = Self.transportID(registration.nexus.initiatorPort)
                descriptors += SCSIBytes.be64(registration.key) + [0, 0, 0, 0]
                descriptors += [holds ? 0x01 : 0x00, holds ? (pr.reservation?.type ?? 0) & 0x0F : 0, 0, 0, 0, 0]
                descriptors += SCSIBytes.be16(1) + SCSIBytes.be32(UInt32(transportID.count)) + transportID
            }
            return .good(generation + SCSIBytes.be32(UInt32(descriptors.count)) + descriptors, allocationLength: allocation)
        default:
            return .check(.invalidFieldInCDB)
        }
    }

    /// An iSCSI TransportID, format 01b: the initiator port name `<name>,i,0x<ISID>`.
    static func transportID(_ initiatorPort: String) -> [UInt8] {
        var name = Array(initiatorPort.utf8.prefix(223)) + [0]
        while name.count % 4 != 0 { name.append(0) }
        return [0x45, 0x00] + SCSIBytes.be16(UInt16(name.count)) + name
    }

    // MARK: PERSISTENT RESERVE OUT

    func persistentReserveOut(_ cdb: SCSICDB, data: ByteBuffer, nexus: SCSINexus) -> SCSICommandResult {
        let length = Int(cdb.be32(5))
        func fail(_ sense: SCSISense) -> SCSICommandResult { SCSICommandResult.check(sense).expecting(dataOut: length) }
        let action = cdb.serviceAction
        // REGISTER AND MOVE (7) is not supported; 8 and up are reserved.
        guard action <= 6 else { return fail(.invalidFieldInCDB) }
        guard data.readableBytes == length else { return fail(Self.invalidFieldInInformationUnit) }
        guard length == 24 else { return fail(.parameterListLengthError) }
        let list = Array(data.readableBytesView)
        let flags = list[20]
        // SPEC_I_PT and ALL_TG_PT are not supported; APTPL only with somewhere to persist.
        guard flags & 0x0C == 0 else { return fail(.invalidFieldInParameterList) }
        if flags & 0x01 != 0 && reservationStore == nil && (action == 0 || action == 6) { return fail(.invalidFieldInParameterList) }
        let request = PROutRequest(
            action: action, scope: cdb[2] >> 4, type: cdb[2] & 0x0F, key: SCSIBytes.read(list, 0, 8),
            serviceActionKey: SCSIBytes.read(list, 8, 8), persist: flags & 0x01 != 0, nexus: nexus
        )
        let result: SCSICommandResult = state.withLock { state in
            var outcome = PROutOutcome(state: state.reservations)
            let result = Self.apply(request, to: &outcome)
            guard result.status == SCSIStatus.good, outcome.state != state.reservations else { return result }
            if let reservationStore {
                // Not durable, not done: the initiator must not believe in a reservation a restart loses.
                do { try reservationStore.save(outcome.state) } catch { return .check(.internalTargetFailure) }
            }
            state.reservations = outcome.state
            for (sense, target) in outcome.attentions where state.knownNexuses.contains(target) {
                Self.establish(sense, for: target, in: &state)
            }
            return result
        }
        return result.expecting(dataOut: length)
    }

    struct PROutRequest {
        var action: UInt8
        var scope: UInt8
        var type: UInt8
        var key: UInt64
        var serviceActionKey: UInt64
        var persist: Bool
        var nexus: SCSINexus
    }

    struct PROutOutcome {
        var state: SCSIPersistentReservationState
        var attentions: [(SCSISense, SCSINexus)] = []
    }

    /// The state change one PERSISTENT RESERVE OUT makes, as a pure function of the old state.
    static func apply(_ request: PROutRequest, to outcome: inout PROutOutcome) -> SCSICommandResult {
        let nexus = request.nexus
        let registered = outcome.state.key(of: nexus)
        switch request.action {
        case 0x00, 0x06:  // REGISTER, REGISTER AND IGNORE EXISTING KEY
            if request.action == 0x00 && request.key != (registered ?? 0) { return .reservationConflict }
            if registered == nil {
                guard request.serviceActionKey != 0 else { return .good() }
                guard outcome.state.registrations.count < maximumRegistrations else { return .check(.insufficientRegistrationResources) }
                outcome.state.registrations.append(.init(nexus: nexus, key: request.serviceActionKey))
            } else if request.serviceActionKey == 0 {
                unregister([nexus], in: &outcome, by: nexus)
            } else if let index = outcome.state.registrations.firstIndex(where: { $0.nexus == nexus }) {
                outcome.state.registrations[index].key = request.serviceActionKey
            }
            outcome.state.persistThroughPowerLoss = request.persist
            outcome.state.generation &+= 1
            return .good()
        default:
            break
        }
        // Every other action needs a registered nexus quoting its own key.
        guard let registered, registered == request.key else { return .reservationConflict }
        switch request.action {
        case 0x01:  // RESERVE
            guard request.scope == 0, reservationTypes.contains(request.type) else { return .check(.invalidFieldInCDB) }
            if let reservation = outcome.state.reservation {
                return outcome.state.isHolder(nexus) && reservation.type == request.type ? .good() : .reservationConflict
            }
            outcome.state.reservation = .init(type: request.type, holder: request.type == 7 || request.type == 8 ? nil : nexus)
            return .good()
        case 0x02:  // RELEASE
            guard let reservation = outcome.state.reservation, outcome.state.isHolder(nexus) else { return .good() }
            guard request.scope == 0, reservation.type == request.type else { return .check(.invalidReleaseOfPersistentReservation) }
            outcome.state.reservation = nil
            if reservation.isRegistrantsOnly || reservation.isAllRegistrants {
                for other in outcome.state.registrations where other.nexus != nexus {
                    outcome.attentions.append((.reservationsReleased, other.nexus))
                }
            }
            return .good()
        case 0x03:  // CLEAR
            for other in outcome.state.registrations where other.nexus != nexus {
                outcome.attentions.append((.reservationsPreempted, other.nexus))
            }
            outcome.state.registrations.removeAll()
            outcome.state.reservation = nil
            outcome.state.generation &+= 1
            return .good()
        default:  // PREEMPT, PREEMPT AND ABORT (the transport aborts no other session's tasks)
            return preempt(request, in: &outcome)
        }
    }

    static func preempt(_ request: PROutRequest, in outcome: inout PROutOutcome) -> SCSICommandResult {
        let nexus = request.nexus
        let victims = outcome.state.registrations.filter { $0.key == request.serviceActionKey && $0.nexus != nexus }.map(\.nexus)
        guard let reservation = outcome.state.reservation else {
            guard request.serviceActionKey != 0 else { return .check(.invalidFieldInParameterList) }
            guard !victims.isEmpty else { return .reservationConflict }
            unregister(victims, in: &outcome, by: nexus)
            outcome.state.generation &+= 1
            return .good()
        }
        let takesOver = reservation.isAllRegistrants ? request.serviceActionKey == 0 : request.serviceActionKey == outcome.state.reservationKey
        guard takesOver else {
            // Only removes registrations; the reservation stays.
            guard request.serviceActionKey != 0 else { return .check(.invalidFieldInParameterList) }
            guard !victims.isEmpty else { return .reservationConflict }
            unregister(victims, in: &outcome, by: nexus)
            outcome.state.generation &+= 1
            return .good()
        }
        guard request.scope == 0, reservationTypes.contains(request.type) else { return .check(.invalidFieldInCDB) }
        let removed = reservation.isAllRegistrants ? outcome.state.registrations.map(\.nexus).filter { $0 != nexus } : victims
        outcome.state.registrations.removeAll { removed.contains($0.nexus) }
        for victim in removed { outcome.attentions.append((.registrationsPreempted, victim)) }
        outcome.state.reservation = .init(type: request.type, holder: request.type == 7 || request.type == 8 ? nil : nexus)
        if reservation.type != request.type {
            for other in outcome.state.registrations where other.nexus != nexus {
                outcome.attentions.append((.reservationsReleased, other.nexus))
            }
        }
        outcome.state.generation &+= 1
        return .good()
    }

    /// Removes registrations and the reservation they alone held. Preempted nexuses learn
    /// REGISTRATIONS PREEMPTED; registrants of a released registrants-only reservation learn
    /// RESERVATIONS RELEASED.
    static func unregister(_ nexuses: [SCSINexus], in outcome: inout PROutOutcome, by actor: SCSINexus) {
        let set = Set(nexuses)
        outcome.state.registrations.removeAll { set.contains($0.nexus) }
        for victim in set where victim != actor { outcome.attentions.append((.registrationsPreempted, victim)) }
        guard let reservation = outcome.state.reservation else { return }
        if reservation.isAllRegistrants {
            if outcome.state.registrations.isEmpty { outcome.state.reservation = nil }
        } else if let holder = reservation.holder, set.contains(holder) {
            outcome.state.reservation = nil
            if reservation.isRegistrantsOnly {
                for other in outcome.state.registrations { outcome.attentions.append((.reservationsReleased, other.nexus)) }
            }
        }
    }
}
