import LunarModel
import Testing

/// Every (position, event) pair of the VM lifecycle against a table written out by hand: what is
/// allowed goes where the table says and releases exactly the hosts it leaves; everything else
/// is refused with a 536.
struct VMStateMachineTests {
    static let a = HostID(trusted: "aaaaaaaa-0000-0000-0000-000000000001")
    static let b = HostID(trusted: "bbbbbbbb-0000-0000-0000-000000000002")
    static let c = HostID(trusted: "cccccccc-0000-0000-0000-000000000003")

    /// Every position a VM can be in, with hosts filled in as the flows do (and some they should not).
    static let positions: [VMPosition] = VirtualMachine.State.allCases.flatMap { state in
        [VMPosition(state: state), VMPosition(state: state, host: a), VMPosition(state: state, host: a, migrationHost: b)]
    }

    static let events: [VMEvent] = [
        .startRequested(host: a), .startRequested(host: c), .started, .startRolledBack, .stopRequested, .stopRefused, .stopped,
        .migrationRequested(destination: b), .migrationRequested(destination: a), .migrationCompleted, .migrationRolledBack,
        .restartRequested, .fenceFailed, .cutOverFenceFailed, .fenced, .recovered, .lost, .destroyed,
    ]

    /// The expected next position, or nil when the event must be refused.
    static func expected(_ p: VMPosition, _ e: VMEvent) -> VMPosition? {
        let hostless = p.host == nil && p.migrationHost == nil
        switch (p.state, e) {
        case (.stopped, .startRequested(let h)): return VMPosition(state: .starting, host: h)
        case (.error, .startRequested(let h)): return hostless ? VMPosition(state: .starting, host: h) : nil
        case (.starting, .started): return VMPosition(state: .running, host: p.host)
        case (.starting, .startRolledBack), (.starting, .stopped): return VMPosition(state: .stopped)
        case (.running, .stopRequested), (.stopping, .stopRequested), (.error, .stopRequested):
            return VMPosition(state: .stopping, host: p.host, migrationHost: p.migrationHost)
        case (.stopping, .stopRefused): return p.host != nil && p.migrationHost == nil ? VMPosition(state: .running, host: p.host) : nil
        case (.stopping, .stopped): return VMPosition(state: .stopped)
        case (.running, .migrationRequested(let d)): return p.host != nil && d != p.host ? VMPosition(state: .migrating, host: p.host, migrationHost: d) : nil
        case (.migrating, .migrationCompleted): return VMPosition(state: .running, host: p.migrationHost)
        case (.migrating, .migrationRolledBack): return VMPosition(state: .running, host: p.host)
        case (.running, .restartRequested): return VMPosition(state: .starting, host: p.host)
        case (.starting, .fenceFailed), (.stopping, .fenceFailed), (.migrating, .fenceFailed), (.running, .fenceFailed), (.error, .fenceFailed):
            return VMPosition(state: .error, host: p.host, migrationHost: p.migrationHost)
        case (.migrating, .cutOverFenceFailed): return VMPosition(state: .error, host: p.migrationHost, migrationHost: p.host)
        case (.error, .fenced): return VMPosition(state: .stopped)
        case (.error, .recovered): return p.host == nil ? nil : VMPosition(state: .running, host: p.host)
        case (.running, .lost), (.starting, .lost), (.stopping, .lost), (.migrating, .lost), (.error, .lost), (.stopped, .lost):
            return VMPosition(state: .stopped)
        case (.stopped, .destroyed): return VMPosition(state: .destroyed)
        case (.error, .destroyed): return hostless ? VMPosition(state: .destroyed) : nil
        default: return nil
        }
    }

    @Test func everyPositionAndEvent() throws {
        var allowed = 0
        for position in Self.positions {
            for event in Self.events {
                if let next = Self.expected(position, event) {
                    let transition = try VMStateMachine.next(position, on: event)
                    #expect(transition.next == next, "\(position) on \(event)")
                    #expect(transition.releases == position.hosts.subtracting(next.hosts), "\(position) on \(event)")
                    allowed += 1
                } else {
                    #expect(throws: LunarError(.resourceInUse, ""), "\(position) on \(event) should be refused") {
                        try VMStateMachine.next(position, on: event)
                    }
                }
            }
        }
        #expect(allowed > 30)
    }

    @Test func aVMLeavesAHostOnlyThroughAFence() throws {
        // Stopping releases the host; a completed migration releases the source; a rollback the destination.
        #expect(try VMStateMachine.next(VMPosition(state: .stopping, host: Self.a), on: .stopped).releases == [Self.a])
        #expect(try VMStateMachine.next(VMPosition(state: .migrating, host: Self.a, migrationHost: Self.b), on: .migrationCompleted).releases == [Self.a])
        #expect(try VMStateMachine.next(VMPosition(state: .migrating, host: Self.a, migrationHost: Self.b), on: .migrationRolledBack).releases == [Self.b])
        // A failed fence keeps every host it could not fence, and only a fence (or a stop) leaves Error.
        let error = try VMStateMachine.next(VMPosition(state: .migrating, host: Self.a, migrationHost: Self.b), on: .fenceFailed)
        #expect(error.next == VMPosition(state: .error, host: Self.a, migrationHost: Self.b) && error.releases.isEmpty)
        #expect(throws: LunarError.self) { try VMStateMachine.next(error.next, on: .startRequested(host: Self.c)) }
        #expect(throws: LunarError.self) { try VMStateMachine.next(error.next, on: .destroyed) }
        #expect(try VMStateMachine.next(error.next, on: .fenced).releases == [Self.a, Self.b])
    }

    @Test func aRandomWalkNeverLeavesAHostUnreleased() throws {
        // Whatever the sequence of allowed events, the hosts a VM holds change only by a transition
        // that names what it releases: the set held after each step is the previous one minus the
        // released plus the newly taken.
        var random = SplitMix64(state: 7)
        for _ in 0..<200 {
            var position = VMPosition(state: .stopped)
            for _ in 0..<50 {
                let event = Self.events[Int(random.next() % UInt64(Self.events.count))]
                guard let transition = try? VMStateMachine.next(position, on: event) else { continue }
                #expect(position.hosts.subtracting(transition.releases).isSubset(of: transition.next.hosts))
                position = transition.next
            }
        }
    }
}
