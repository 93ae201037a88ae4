import Foundation
import Logging
import LunarModel

/// A fence that did not take: some of the host's grants could not be revoked, so it may still
/// reach those disks. Callers cannot drop it (it is thrown) and must leave the VM or volume in a
/// state that says so (`VMEvent.fenceFailed`, a volume kept attached).
struct FenceError: Error, CustomStringConvertible {
    let host: String
    let volumes: [String]
    let reason: String

    var description: String {
        "the storage did not take host \(host)'s access to \(volumes.joined(separator: ", ")) away: \(reason)"
    }

    /// Any failure where a fence was due counts as a fence that did not take.
    static func wrap(_ error: any Error) -> FenceError {
        (error as? FenceError) ?? FenceError(host: "?", volumes: [], reason: "\(error)")
    }

    /// What an API caller sees.
    func apiError(_ outcome: String) -> LunarError {
        LunarError(.internalError, "\(description); \(outcome)")
    }
}

/// The steps of one flow, each declared with its undo (`FlowUndo`, data). `step` journals the step
/// in the job's rows with its undo and, once it has done its work, keeps the undo; `rollback` runs
/// the kept undos newest first, journaling each. After a server restart `kept(from:)` rebuilds the
/// same list from the journal, so a failure anywhere — now, or in a process that died — is undone
/// the same way in every flow.
///
/// A critical undo is a fence: its failure is rethrown as `FenceError` after the other undos ran.
/// Other undos (asking an agent to stop or detach) are courtesy: the fence that follows them is
/// what protects the disks, so their failure is logged.
struct FlowSteps: Sendable {
    struct Kept: Sendable, Codable, Equatable {
        let name: String
        let undo: FlowUndo
        /// Kept from the moment the step began (an agent call whose lost answer may hide work done).
        let uncertain: Bool

        static let prefix = "undo="

        var journalText: String {
            let data = (try? JSONEncoder().encode(self)) ?? Data()
            return Self.prefix + String(decoding: data, as: UTF8.self)
        }

        init(name: String, undo: FlowUndo, uncertain: Bool) {
            self.name = name
            self.undo = undo
            self.uncertain = uncertain
        }

        init?(journalText text: String) {
            guard text.hasPrefix(Self.prefix), let kept = try? JSONDecoder().decode(Kept.self, from: Data(text.dropFirst(Self.prefix.count).utf8)) else { return nil }
            self = kept
        }
    }

    let context: JobContext?
    let service: VMService
    private(set) var undos: [Kept] = []

    init(context: JobContext?, service: VMService, undos: [Kept] = []) {
        self.context = context
        self.service = service
        self.undos = undos
    }

    var logger: Logger { service.server.logger }

    /// Runs `body` as the journaled step `name`. Its undo is kept once the step succeeded, or
    /// before it runs when `uncertain`.
    mutating func step<T: Sendable>(
        _ name: String, undo: (name: String, undo: FlowUndo)? = nil, uncertain: Bool = false, _ body: () async throws -> T
    ) async throws -> T {
        let kept = undo.map { Kept(name: $0.name, undo: $0.undo, uncertain: uncertain) }
        if let kept, uncertain { undos.append(kept) }
        let result: T
        if let context {
            result = try await context.step(name, detail: kept?.journalText, body)
        } else {
            result = try await body()
        }
        if let kept, !uncertain { undos.append(kept) }
        return result
    }

    /// Keeps an undo for work done before the flow began (a restart in place holds its grants).
    mutating func keep(undo: (name: String, undo: FlowUndo)) async throws {
        try await step("hold: \(undo.name)", undo: undo, uncertain: true) {}
    }

    /// The undos a job's journal says its flow kept and had not yet run: what a flow interrupted
    /// by a restart must undo.
    static func kept(from journal: [JobStep]) -> [Kept] {
        var kept: [Kept] = []
        var awaitingDone: [String: Kept] = [:]
        for step in journal {
            if step.name.hasPrefix("undo: ") {
                // A courtesy undo that failed was passed over too; a fence that failed is still due.
                let name = String(step.name.dropFirst("undo: ".count))
                guard let index = kept.lastIndex(where: { $0.name == name }) else { continue }
                if step.state == .done || (step.state == .failed && !kept[index].undo.critical) { kept.remove(at: index) }
                continue
            }
            switch step.state {
            case .started:
                guard let detail = step.detail, let undo = Kept(journalText: detail) else { continue }
                if undo.uncertain { kept.append(undo) } else { awaitingDone[step.name] = undo }
            case .done:
                if let undo = awaitingDone.removeValue(forKey: step.name) { kept.append(undo) }
            case .failed, .undone:
                awaitingDone[step.name] = nil
            }
        }
        return kept
    }

    /// Undoes every step kept so far, newest first. Throws the first fence that failed.
    mutating func rollback() async throws {
        var fenceFailure: (any Error)?
        while let kept = undos.popLast() {
            let service = self.service
            let run: @Sendable () async throws -> Void = { try await kept.undo.run(service) }
            do {
                if let context {
                    try await context.step("undo: \(kept.name)", run)
                } else {
                    try await run()
                }
            } catch {
                if kept.undo.critical {
                    logger.error("a fence failed while undoing a flow", metadata: ["step": .string(kept.name), "error": .string("\(error)")])
                    if fenceFailure == nil { fenceFailure = error }
                } else {
                    logger.warning("an undo step failed; the fence after it protects the disks", metadata: ["step": .string(kept.name), "error": .string("\(error)")])
                }
            }
        }
        if let fenceFailure { throw fenceFailure }
    }
}
