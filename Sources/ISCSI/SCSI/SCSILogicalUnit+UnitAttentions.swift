import NIOCore

/// Unit attentions per I_T nexus (SAM-5 §5.14, SPC-4 §5.14).
extension SCSILogicalUnit {
    /// Queues `sense` for `nexus`; the oldest is dropped when the queue is full, and a duplicate is
    /// not queued twice (the initiator needs to learn a condition once).
    static func establish(_ sense: SCSISense, for nexus: SCSINexus, in state: inout State) {
        var queue = state.unitAttentions[nexus] ?? []
        guard !queue.contains(sense) else { return }
        if queue.count >= maximumUnitAttentions { queue.removeFirst() }
        queue.append(sense)
        state.unitAttentions[nexus] = queue
    }

    /// Registers a first-time nexus (POWER ON, RESET, OR BUS DEVICE RESET OCCURRED) and, unless the
    /// command is one that never reports unit attentions, takes the oldest pending one.
    func takeUnitAttention(for nexus: SCSINexus, opcode: UInt8) -> SCSISense? {
        state.withLock { state in
            if !state.knownNexuses.contains(nexus) {
                if state.knownNexuses.count >= Self.maximumKnownNexuses, let evicted = state.knownNexuses.first {
                    // Forgetting a nexus only means it hears POWER ON again.
                    state.knownNexuses.remove(evicted)
                    state.unitAttentions[evicted] = nil
                }
                state.knownNexuses.insert(nexus)
                state.unitAttentions[nexus] = [.powerOnOrReset]  // supersedes anything queued before
            }
            // INQUIRY, REPORT LUNS and REQUEST SENSE (which returns it as data) leave it pending.
            guard ![0x12, 0xA0, 0x03].contains(opcode) else { return nil }
            return Self.popUnitAttention(for: nexus, in: &state)
        }
    }

    static func popUnitAttention(for nexus: SCSINexus, in state: inout State) -> SCSISense? {
        guard var queue = state.unitAttentions[nexus], !queue.isEmpty else { return nil }
        let sense = queue.removeFirst()
        state.unitAttentions[nexus] = queue.isEmpty ? nil : queue
        return sense
    }

    /// Establishes `sense` for every known nexus in `nexuses` but `except`.
    static func establish(_ sense: SCSISense, forAll nexuses: some Sequence<SCSINexus>, except: SCSINexus?, in state: inout State) {
        for nexus in Set(nexuses) where nexus != except && state.knownNexuses.contains(nexus) {
            establish(sense, for: nexus, in: &state)
        }
    }

    /// REQUEST SENSE: the pending unit attention (cleared by being reported), else NO SENSE.
    func requestSense(_ cdb: SCSICDB, nexus: SCSINexus) -> SCSICommandResult {
        let descriptor = cdb[1] & 0x01 != 0
        var sense = state.withLock { Self.popUnitAttention(for: nexus, in: &$0) } ?? .noSense
        sense.descriptorFormat = descriptor
        return .good(sense.bytes, allocationLength: Int(cdb[4]))
    }
}
