import LunarModel

extension AsyncJob {
    /// CloudStack's async job response (`queryAsyncJobResult`, `listAsyncJobs`).
    var response: JSONObject {
        JSONObject([
            "jobid": id.uuid.json,
            "accountid": accountID.uuid.json,
            "domainid": Domain.rootID.uuid.json,
            "userid": userID.uuid.json,
            "cmd": command.json,
            "jobstatus": status.rawValue.json,
            "jobprocstatus": progress.json,
            "jobresultcode": resultCode.json,
            "jobresulttype": status == .pending ? nil : "object",
            "jobresult": result.map(JSONValue.object),
            "jobinstancetype": instanceType.json,
            "jobinstanceid": instanceID.json,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
            "completed": completedEpochSeconds.map { CloudStackDate.format(epochSeconds: $0).json },
        ])
    }
}
