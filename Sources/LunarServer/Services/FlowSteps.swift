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

/// The steps of one flow, each declared with its undo. `step` journals the step in the job's rows
/// (when the flow runs in a job) and, once it has done its work, keeps its undo; `rollback` runs
/// the kept undos newest first, journaling each, so a failure anywhere is undone the same way in
/// every flow instead of by hand-written copies.
///
/// An undo is `critical` when it is a fence: its failure is rethrown as `FenceError` after the
/// other undos ran. Other undos (asking an agent to stop or detach) are courtesy: the fence that
/// follows them is what protects the disks, so their failure is logged.
struct FlowSteps: Sendable {
    struct Undo: Sendable {
        let name: String
        let critical: Bool
        let body: @Sendable () async throws -> Void
    }

    let context: JobContext?
    let logger: Logger
    private(set) var undos: [Undo] = []

    init(context: JobContext?, logger: Logger) {
        self.context = context
        self.logger = logger
    }

    /// Runs `body` as the journaled step `name`. Its undo is kept once the step succeeded, or
    /// before it runs when `uncertain` (an agent call whose lost answer may hide work done).
    mutating func step<T: Sendable>(
        _ name: String, undo: (name: String, critical: Bool, body: @Sendable () async throws -> Void)? = nil, uncertain: Bool = false,
        _ body: () async throws -> T
    ) async throws -> T {
        if let undo, uncertain { undos.append(Undo(name: undo.name, critical: undo.critical, body: undo.body)) }
        let result: T
        if let context {
            result = try await context.step(name, body)
        } else {
            result = try await body()
        }
        if let undo, !uncertain { undos.append(Undo(name: undo.name, critical: undo.critical, body: undo.body)) }
        return result
    }

    /// Keeps an undo for work done before the flow began (a restart in place holds its grants).
    mutating func keep(undo: (name: String, critical: Bool, body: @Sendable () async throws -> Void)) {
        undos.append(Undo(name: undo.name, critical: undo.critical, body: undo.body))
    }

    /// Undoes every step kept so far, newest first. Throws the first fence that failed.
    mutating func rollback() async throws {
        var fenceFailure: (any Error)?
        while let undo = undos.popLast() {
            do {
                if let context {
                    try await context.step("undo: \(undo.name)", undo.body)
                } else {
                    try await undo.body()
                }
            } catch {
                if undo.critical {
                    logger.error("a fence failed while undoing a flow", metadata: ["step": .string(undo.name), "error": .string("\(error)")])
                    if fenceFailure == nil { fenceFailure = error }
                } else {
                    logger.warning("an undo step failed; the fence after it protects the disks", metadata: ["step": .string(undo.name), "error": .string("\(error)")])
                }
            }
        }
        if let fenceFailure { throw fenceFailure }
    }
}
