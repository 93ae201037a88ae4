/// Answers an initiator's operational keys as RFC 7143 §13 says, one rule per key, recording
/// the outcome in ``ISCSISessionParameters``. Unknown keys are answered `NotUnderstood`, values
/// out of range `Reject`, keys that do not apply `Irrelevant`.
struct ISCSIKeyNegotiation {
    let limits: ISCSITargetLimits

    /// - Returns: the response pairs, in the order the keys came.
    func respond(to offered: ISCSITextParameters, stage: ISCSILoginStage, into session: inout ISCSISessionParameters) -> ISCSITextParameters {
        var response = ISCSITextParameters()
        for (key, value) in offered.pairs {
            if let answer = answer(key: key, value: value, stage: stage, session: &session) {
                response[key] = answer
            }
        }
        if stage == .operationalNegotiation, session.sessionType == .normal, response["MaxRecvDataSegmentLength"] == nil {
            // Declarative: we always say what we can receive.
            response["MaxRecvDataSegmentLength"] = String(limits.maxRecvDataSegmentLength)
        }
        session.targetMaxRecvDataSegmentLength = limits.maxRecvDataSegmentLength
        session.firstBurstLength = min(session.firstBurstLength, session.maxBurstLength)
        return response
    }

    static func number(_ value: String, in range: ClosedRange<Int>) -> Int? {
        guard let number = Int(value), range.contains(number) else { return nil }
        return number
    }

    static func yesNo(_ value: String) -> Bool? {
        switch value {
        case "Yes": true
        case "No": false
        default: nil
        }
    }

    /// - Returns: the answer, or nil for a declarative key that needs none.
    func answer(key: String, value: String, stage: ISCSILoginStage, session: inout ISCSISessionParameters) -> String? {
        switch key {
        // Declarations handled by the login state machine.
        case "InitiatorName", "TargetName", "SessionType", "AuthMethod", "CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R":
            return nil
        case "InitiatorAlias":
            session.initiatorAlias = value
            return nil
        case "HeaderDigest", "DataDigest":
            let offered = value.split(separator: ",").map { String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
            guard let choice = offered.first(where: { $0 == "None" || ($0 == "CRC32C" && limits.acceptsCRC32C) }) else { return "Reject" }
            if key == "HeaderDigest" { session.headerDigest = choice == "CRC32C" } else { session.dataDigest = choice == "CRC32C" }
            return choice
        case "MaxRecvDataSegmentLength":
            guard let number = Self.number(value, in: 512...16_777_215) else { return "Reject" }
            session.initiatorMaxRecvDataSegmentLength = number
            return String(limits.maxRecvDataSegmentLength)
        case "MaxBurstLength":
            guard let number = Self.number(value, in: 512...16_777_215) else { return "Reject" }
            session.maxBurstLength = min(number, limits.maxBurstLength)
            return String(session.maxBurstLength)
        case "FirstBurstLength":
            guard let number = Self.number(value, in: 512...16_777_215) else { return "Reject" }
            session.firstBurstLength = min(number, limits.firstBurstLength)
            return String(session.firstBurstLength)
        case "InitialR2T":
            guard let yes = Self.yesNo(value) else { return "Reject" }
            session.initialR2T = yes || limits.initialR2T
            return session.initialR2T ? "Yes" : "No"
        case "ImmediateData":
            guard let yes = Self.yesNo(value) else { return "Reject" }
            session.immediateData = yes && limits.immediateData
            return session.immediateData ? "Yes" : "No"
        case "MaxOutstandingR2T":
            guard let number = Self.number(value, in: 1...65_535) else { return "Reject" }
            session.maxOutstandingR2T = min(number, limits.maxOutstandingR2T)
            return String(session.maxOutstandingR2T)
        case "DefaultTime2Wait":
            guard let number = Self.number(value, in: 0...3600) else { return "Reject" }
            session.defaultTime2Wait = max(number, limits.defaultTime2Wait)
            return String(session.defaultTime2Wait)
        case "DefaultTime2Retain":
            guard let number = Self.number(value, in: 0...3600) else { return "Reject" }
            session.defaultTime2Retain = min(number, limits.defaultTime2Retain)
            return String(session.defaultTime2Retain)
        case "ErrorRecoveryLevel":
            guard Self.number(value, in: 0...2) != nil else { return "Reject" }
            session.errorRecoveryLevel = 0  // only level 0 is offered
            return "0"
        case "MaxConnections":
            guard Self.number(value, in: 1...65_535) != nil else { return "Reject" }
            session.maxConnections = 1
            return "1"
        case "DataPDUInOrder", "DataSequenceInOrder":
            guard Self.yesNo(value) != nil else { return "Reject" }
            return "Yes"  // OR-ed with our Yes
        case "IFMarker", "OFMarker":
            // RFC 3720 markers, dropped by RFC 7143; AND-ed with our No.
            return "No"
        case "IFMarkInt", "OFMarkInt":
            return "Irrelevant"
        case "TargetAlias", "TargetAddress", "TargetPortalGroupTag":
            return "Irrelevant"
        default:
            return "NotUnderstood"
        }
    }
}
