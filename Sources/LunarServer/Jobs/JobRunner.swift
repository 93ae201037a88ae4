import Logging
import LunarModel
import ServiceLifecycle
import Synchronization

/// Runs async jobs with bounded concurrency and a bounded backlog. Each job is a row first
/// (written before the request answers), so a job is never lost by a crash: at start the server
/// resumes the idempotent ones and fails the rest with a clear reason.
public final class JobRunner: Service, Sendable {
    public struct Limits: Sendable {
        /// Jobs accepted but not finished; beyond this new async commands get a 429.
        public var maximumUnfinishedJobs: Int = 1_000
        /// Jobs executing at once.
        public var maximumConcurrentJobs: Int = 16

        public init(maximumUnfinishedJobs: Int = 1_000, maximumConcurrentJobs: Int = 16) {
            self.maximumUnfinishedJobs = maximumUnfinishedJobs
            self.maximumConcurrentJobs = maximumConcurrentJobs
        }
    }

    struct Submission: Sendable {
        let jobID: JobID
        let command: String
        let work: @Sendable (JobContext) async throws -> JSONObject
    }

    let store: Store
    let logger: Logger
    let limits: Limits
    let faults: (any StepFaults)?
    /// What the shutdown grace and waits sleep on.
    let clock: any Clock<Duration>
    private let unfinished = Mutex(0)
    /// Jobs executing now (not queued).
    private let executing = Mutex(0)

    /// Waits (at most `limit`) until no job is executing: the server keeps agents connected until
    /// then at shutdown, so running flows finish instead of failing on a closed connection.
    public func waitForRunningJobs(upTo limit: Duration) async {
        var waited: Duration = .zero
        while executing.withLock({ $0 }) > 0, waited < limit {
            do {
                try await clock.sleep(for: .milliseconds(20))
            } catch {
                return  // cancelled
            }
            waited += .milliseconds(20)
        }
    }
    private let stream: AsyncStream<Submission>
    private let continuation: AsyncStream<Submission>.Continuation

    public init(store: Store, logger: Logger, limits: Limits = Limits(), faults: (any StepFaults)? = nil, clock: any Clock<Duration> = ContinuousClock()) {
        precondition(limits.maximumConcurrentJobs > 0 && limits.maximumUnfinishedJobs > 0)
        self.clock = clock
        self.faults = faults
        self.store = store
        self.logger = logger
        self.limits = limits
        (self.stream, self.continuation) = AsyncStream.makeStream(of: Submission.self)
    }

    /// Records a job for a validated call and queues it.
    /// - Returns: the job's id, for the `jobid` field.
    func submit(call: APICall, plan: JobPlan) async throws -> JobID {
        try reserveSlot()
        let job = AsyncJob(
            id: .random(), accountID: call.caller.account.id, userID: call.caller.user.id, command: call.command.name,
            parameters: call.parameters.forJournal, status: .pending, resultCode: 0, result: nil, progress: 0,
            instanceType: plan.instanceType, instanceID: plan.instanceID, createdEpochSeconds: store.time.nowEpochSeconds(),
            completedEpochSeconds: nil
        )
        do {
            try await store.insertJob(job)
        } catch {
            releaseSlot()
            throw error
        }
        enqueue(Submission(jobID: job.id, command: job.command, work: plan.work))
        return job.id
    }

    /// Finds jobs a previous run left unfinished: resumes those whose command can resume, fails
    /// the others. Called once at start, before the API accepts requests.
    func recover(using commands: CommandTable, server: ServerContext) async throws {
        for job in try await store.pendingJobs() {
            var logger = self.logger
            logger[metadataKey: "job.id"] = .string(job.id.uuid)
            logger[metadataKey: "job.command"] = .string(job.command)
            guard let command = commands[job.command], let resume = command.resume,
                let account = try await store.account(job.accountID), let user = try await store.user(job.userID)
            else {
                try await store.journal(job.id, step: "recovery", state: .failed, detail: "not resumable")
                try await store.finishJob(
                    job.id, status: .failed, resultCode: LunarError.Code.internalError.rawValue,
                    result: Self.errorResult(LunarError(.internalError, "The job was interrupted by a server restart and \(job.command) cannot be resumed; see its steps for what was done"))
                )
                logger.warning("failed a job interrupted by a restart")
                continue
            }
            try await store.journal(job.id, step: "recovery", state: .started, detail: "resuming after a server restart")
            let call = APICall(command: command, parameters: APIParameters(values: job.parameters), caller: Caller(user: user, account: account), server: server)
            try reserveSlot(ignoringLimit: true)
            enqueue(Submission(jobID: job.id, command: job.command) { context in try await resume(call, context) })
            logger.info("resuming a job interrupted by a restart")
        }
    }

    /// How long running jobs may go on after shutdown begins; then they are cancelled and left
    /// pending, to be resumed (or failed) at the next start.
    static let shutdownGrace: Duration = .seconds(5)

    public func run() async throws {
        // The job loop and the shutdown watch are one task group: nothing outlives run().
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runJobs() }
            group.addTask {
                // Shutdown (or cancellation by a failed sibling): take no new jobs, give the
                // running ones their grace on the injected clock.
                do {
                    try await awaitGracefulShutdown()
                } catch {
                    // Cancelled: no grace.
                }
                self.continuation.finish()
                do {
                    try await self.clock.sleep(for: Self.shutdownGrace)
                } catch {
                    // The jobs finished first (or run() was cancelled).
                }
            }
            // Whichever ends first: the jobs all finished after the stream ended, or the grace ran
            // out (then the running jobs are cancelled and stay pending for the next start).
            await group.next()
            group.cancelAll()
        }
    }

    func runJobs() async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await submission in stream {
                if running >= limits.maximumConcurrentJobs {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.execute(submission) }
                running += 1
            }
            await group.waitForAll()
        }
    }

    func execute(_ submission: Submission) async {
        executing.withLock { $0 += 1 }
        defer {
            executing.withLock { $0 -= 1 }
            releaseSlot()
        }
        var logger = self.logger
        logger[metadataKey: "job.id"] = .string(submission.jobID.uuid)
        logger[metadataKey: "job.command"] = .string(submission.command)
        let context = JobContext(jobID: submission.jobID, store: store, logger: logger, faults: faults)
        let status: AsyncJob.Status
        let code: Int
        var result: JSONObject
        do {
            result = try await submission.work(context)
            (status, code) = (.succeeded, 0)
        } catch where Task.isCancelled {
            // Stopped by the server's shutdown: the row stays pending for the next start.
            logger.notice("job interrupted by shutdown; it resumes at the next start")
            return
        } catch let error as LunarError {
            (status, code, result) = (.failed, error.code.rawValue, Self.errorResult(error))
        } catch {
            logger.error("job failed unexpectedly", metadata: ["error.type": .string(String(describing: type(of: error))), "error": .string("\(error)")])
            let unexpected = LunarError(.internalError, "Internal error executing the job, please contact your system administrator")
            (status, code, result) = (.failed, unexpected.code.rawValue, Self.errorResult(unexpected))
        }
        do {
            if status == .succeeded {
                // What a flow did but would rather not have (a minimum placed where no storage
                // reserves it): its "warning: " steps, in the result Lunar adds to CloudStack's.
                let steps = try await store.steps(of: submission.jobID)
                let warnings = steps.filter { $0.name.hasPrefix(JobContext.warningPrefix) }.map { JSONValue.string(String($0.name.dropFirst(JobContext.warningPrefix.count))) }
                if !warnings.isEmpty { result["warnings"] = .array(warnings) }
                for step in steps where step.name.hasPrefix(JobContext.resultPrefix) && step.state == .done {
                    let text = step.name.dropFirst(JobContext.resultPrefix.count)
                    guard let space = text.firstIndex(of: " "), let value = try? JSONValue.parse(String(text[text.index(after: space)...])) else { continue }
                    result[String(text[..<space])] = value
                }
            }
            try await store.finishJob(submission.jobID, status: status, resultCode: code, result: result)
        } catch {
            // The row stays pending; the next start will resume or fail it.
            logger.error("could not record a job's end", metadata: ["error": .string("\(error)")])
        }
    }

    static func errorResult(_ error: LunarError) -> JSONObject {
        JSONObject([
            "errorcode": .integer(Int64(error.code.rawValue)),
            "cserrorcode": .integer(Int64(error.csErrorCode)),
            "errortext": .string(error.text),
        ])
    }

    private func enqueue(_ submission: Submission) {
        if case .terminated = continuation.yield(submission) {
            // Shutting down: the row stays pending and is recovered at the next start.
            releaseSlot()
        }
    }

    private func reserveSlot(ignoringLimit: Bool = false) throws {
        let accepted = unfinished.withLock { count in
            guard ignoringLimit || count < limits.maximumUnfinishedJobs else { return false }
            count += 1
            return true
        }
        guard accepted else {
            throw LunarError(.limitExceeded, "too many async jobs in progress (\(limits.maximumUnfinishedJobs)); retry later")
        }
    }

    private func releaseSlot() {
        unfinished.withLock { $0 -= 1 }
    }
}
