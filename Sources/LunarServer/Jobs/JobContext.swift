import Logging
import LunarModel

/// What a running job may do besides its work: journal its steps and report progress. Steps are
/// written before and after each action, so after a crash the journal says how far it got.
public struct JobContext: Sendable {
    public let jobID: JobID
    public let store: Store
    public let logger: Logger
    /// Failures injected at named steps (tests only).
    var faults: (any StepFaults)?

    /// Steps named so are warnings: the job's result lists them under `warnings`.
    static let warningPrefix = "warning: "

    /// Steps named so carry a figure for the job's result: `result: KEY {json object}`.
    static let resultPrefix = "result: "

    /// Journals a figure the job's result carries under `key` (a migration's times), so a job
    /// resumed after a restart still reports it.
    public func record(_ key: String, _ value: JSONObject) async throws {
        try await step(Self.resultPrefix + key + " " + value.serialized) {}
    }

    /// Journals a warning (a step that is done at once), which the job's result will carry.
    public func warn(_ text: String) async throws {
        try await step(Self.warningPrefix + text) {}
    }

    /// Runs one step, journaling `started`, then `done` or `failed`.
    public func step<T: Sendable>(_ name: String, detail: String? = nil, _ body: () async throws -> T) async throws -> T {
        try await store.journal(jobID, step: name, state: .started, detail: detail)
        do {
            try await faults?.beforeStep(name)
            let result = try await body()
            try await faults?.afterStep(name)
            try await store.journal(jobID, step: name, state: .done)
            return result
        } catch {
            do {
                try await store.journal(jobID, step: name, state: .failed, detail: String(describing: error).prefix(500).description)
            } catch let journalError {
                // The step's own error is what the caller must see; the journal keeps "started".
                logger.error("could not journal a failed step", metadata: ["step": .string(name), "error": .string("\(journalError)")])
            }
            throw error
        }
    }

    public func progress(percent: Int) async {
        do {
            try await store.setJobProgress(jobID, percent: percent)
        } catch {
            logger.warning("could not record a job's progress", metadata: ["error": .string("\(error)")])
        }
    }
}

/// Failures a test injects into job steps by name: before a step's work (it did not happen) or
/// after it (it happened and its answer was lost). The table-driven failure tests use it.
public protocol StepFaults: Sendable {
    func beforeStep(_ name: String) async throws
    func afterStep(_ name: String) async throws
}
