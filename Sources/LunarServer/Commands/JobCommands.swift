import LunarModel

/// `queryAsyncJobResult` and `listAsyncJobs`.
enum JobCommands {
    static let all: [APICommand] = [queryAsyncJobResult, listAsyncJobs]

    static let jobFields = [
        APIResponseField("jobid", "the job id"), APIResponseField("jobstatus", "integer", "0 pending, 1 succeeded, 2 failed"),
        APIResponseField("jobresultcode", "integer", "0, or the error code"), APIResponseField("jobresulttype", "object"),
        APIResponseField("jobresult", "object", "the result, or errorcode and errortext"),
        APIResponseField("jobprocstatus", "integer", "progress"), APIResponseField("jobinstancetype", "the kind of object"),
        APIResponseField("jobinstanceid", "the object's id"), APIResponseField("cmd", "the command"),
    ]

    static let queryAsyncJobResult = APICommand(
        name: "queryAsyncJobResult",
        description: "Returns the state and result of an async job",
        access: .anyUser,
        parameters: [APIParameter("jobid", .uuid, required: true, "The job")],
        responseFields: jobFields,
        execution: .sync { call in
            let id = try call.parameters.requiredID("jobid", command: call.command.name, as: JobID.self)
            guard let job = try await call.server.store.job(id), call.caller.owns(job.accountID) else {
                throw LunarError.unknownID("async job", id.uuid, parameter: "jobid")
            }
            return .fields(job.response)
        }
    )

    static let listAsyncJobs = APICommand(
        name: "listAsyncJobs",
        description: "Lists async jobs; a user sees only its own account's",
        access: .anyUser,
        parameters: [APIParameter("startdate", .date, "Jobs created on or after this date")] + APIParameter.listing,
        responseName: "asyncjobs",
        responseFields: jobFields,
        execution: .sync { call in
            let p = call.parameters
            let everyone = try call.caller.isRootAdmin && (p.bool("listall") ?? false)
            let page = try await call.server.store.jobs(accountID: everyone ? nil : call.caller.account.id, window: try p.window())
            var items = page.items
            var total = page.total
            if let start = p["startdate"], let since = CloudStackDate.parse(start) ?? CloudStackDate.parse(start + "T00:00:00Z") {
                items = items.filter { $0.createdEpochSeconds >= since }
                total = items.count
            }
            return .list(name: "asyncjobs", items: items.map(\.response), total: total)
        }
    )
}
