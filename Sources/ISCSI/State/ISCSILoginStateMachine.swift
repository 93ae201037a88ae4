/// The target side of login (RFC 7143 §6.3, §13): security then operational negotiation, then
/// full-feature phase. Pure: each received Login Request yields one action for the handler to
/// carry out. Any refusal moves the machine to `.failed`, which refuses everything after.
public struct ISCSILoginStateMachine: Sendable {
    /// Whether an initiator may log in to a target, decided by whoever owns the targets.
    public enum Authorization: Hashable, Sendable {
        case allowed
        case targetNotFound
        case notAuthorized
    }

    public enum Action: Hashable, Sendable {
        /// Send this response; login goes on.
        case respond(ISCSILoginResponse)
        /// Send this response; the session is now in full-feature phase with these parameters
        /// (switch on digests for the next PDU).
        case respondAndEnterFullFeature(ISCSILoginResponse, ISCSISessionParameters)
        /// Send this refusal, then close the connection.
        case respondAndClose(ISCSILoginResponse)
    }

    enum State: Hashable, Sendable {
        case awaitingFirstRequest
        case negotiating(stage: ISCSILoginStage)
        case fullFeature
        case failed
    }

    /// Most text a login may send across continued PDUs.
    public static let maximumContinuedText = 64 * 1024

    let limits: ISCSITargetLimits
    let authorize: @Sendable (_ initiatorName: String, _ targetName: String) -> Authorization
    let assignTSIH: @Sendable () -> UInt16
    var state: State = .awaitingFirstRequest
    var session = ISCSISessionParameters()
    var statusSequenceNumber: UInt32 = 0
    var pendingText: [(key: String, value: String)] = []

    public init(
        limits: ISCSITargetLimits = ISCSITargetLimits(),
        authorize: @escaping @Sendable (_ initiatorName: String, _ targetName: String) -> Authorization,
        assignTSIH: @escaping @Sendable () -> UInt16
    ) {
        self.limits = limits
        self.authorize = authorize
        self.assignTSIH = assignTSIH
    }

    /// The parameters negotiated so far.
    public var parameters: ISCSISessionParameters { session }

    public mutating func loginRequestReceived(_ request: ISCSILoginRequest) -> Action {
        switch state {
        case .fullFeature, .failed:
            return refuse(request, .invalidDuringLogin)
        case .awaitingFirstRequest, .negotiating:
            break
        }
        guard request.versionMin == 0 else { return refuse(request, .unsupportedVersion) }
        guard let currentStage = ISCSILoginStage(rawValue: request.currentStage), currentStage != .fullFeaturePhase,
            let nextStage = ISCSILoginStage(rawValue: request.nextStage)
        else { return refuse(request, .initiatorError) }
        if case .negotiating(let expected) = state, currentStage.rawValue < expected.rawValue {
            return refuse(request, .initiatorError)  // stages only move forward
        }
        if request.transit, nextStage.rawValue <= currentStage.rawValue { return refuse(request, .initiatorError) }

        // Text may span several PDUs (C bit): gather it, answering each part with an empty response.
        let gathered = pendingText.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 }
        if gathered + request.parameters.pairs.reduce(0, { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 }) > Self.maximumContinuedText {
            return refuse(request, .outOfResources)
        }
        pendingText += request.parameters.pairs
        if request.continues {
            if state == .awaitingFirstRequest { state = .negotiating(stage: currentStage) }
            return .respond(response(to: request, transit: false, stage: currentStage, next: currentStage, parameters: [:]))
        }
        let offered = ISCSITextParameters(pendingText)
        pendingText = []

        var answers = ISCSITextParameters()
        if state == .awaitingFirstRequest {
            guard request.tsih == 0 else { return refuse(request, .sessionDoesNotExist) }  // no connections added to sessions
            guard let initiatorName = offered["InitiatorName"], !initiatorName.isEmpty else { return refuse(request, .missingParameter) }
            session.initiatorName = initiatorName
            session.isid = request.isid
            switch offered["SessionType"] ?? "Normal" {
            case "Normal": session.sessionType = .normal
            case "Discovery": session.sessionType = .discovery
            default: return refuse(request, .sessionTypeNotSupported)
            }
            if session.sessionType == .normal {
                guard let targetName = offered["TargetName"], !targetName.isEmpty else { return refuse(request, .missingParameter) }
                switch authorize(initiatorName, targetName) {
                case .allowed: session.targetName = targetName
                case .targetNotFound: return refuse(request, .notFound)
                case .notAuthorized: return refuse(request, .authorizationFailure)
                }
                answers["TargetPortalGroupTag"] = String(limits.targetPortalGroupTag)
            }
        }

        if currentStage == .securityNegotiation {
            if let methods = offered["AuthMethod"] {
                // CHAP comes with accounts; until then only None is offered.
                guard methods.split(separator: ",").contains("None") else { return refuse(request, .authenticationFailure) }
                answers["AuthMethod"] = "None"
            }
        } else if offered["AuthMethod"] != nil {
            answers["AuthMethod"] = "Irrelevant"
        }
        for pair in ISCSIKeyNegotiation(limits: limits).respond(to: offered, stage: currentStage, into: &session).pairs {
            answers[pair.key] = pair.value
        }

        guard request.transit else {
            state = .negotiating(stage: currentStage)
            return .respond(response(to: request, transit: false, stage: currentStage, next: nextStage, parameters: answers))
        }
        if nextStage == .fullFeaturePhase {
            if currentStage == .securityNegotiation, session.sessionType == .normal, answers["MaxRecvDataSegmentLength"] == nil {
                answers["MaxRecvDataSegmentLength"] = String(limits.maxRecvDataSegmentLength)  // declared even when operational negotiation is skipped
            }
            state = .fullFeature
            var final = response(to: request, transit: true, stage: currentStage, next: nextStage, parameters: answers)
            final.tsih = assignTSIH()
            session.tsih = final.tsih
            return .respondAndEnterFullFeature(final, session)
        }
        state = .negotiating(stage: nextStage)
        return .respond(response(to: request, transit: true, stage: currentStage, next: nextStage, parameters: answers))
    }

    func response(to request: ISCSILoginRequest, transit: Bool, stage: ISCSILoginStage, next: ISCSILoginStage, parameters: ISCSITextParameters) -> ISCSILoginResponse {
        // Login requests are immediate: CmdSN does not advance; StatSN starts at the initiator's ExpStatSN.
        let statSN = request.expectedStatusSequenceNumber
        return ISCSILoginResponse(
            transit: transit, currentStage: stage.rawValue, nextStage: transit ? next.rawValue : stage.rawValue, isid: request.isid, tsih: 0,
            initiatorTaskTag: request.initiatorTaskTag, statusSequenceNumber: statSN,
            expectedCommandSequenceNumber: request.commandSequenceNumber,
            maximumCommandSequenceNumber: request.commandSequenceNumber &+ limits.commandWindow &- 1, status: .success, parameters: parameters
        )
    }

    mutating func refuse(_ request: ISCSILoginRequest, _ status: ISCSILoginResponse.Status) -> Action {
        state = .failed
        pendingText = []
        var response = ISCSILoginResponse(
            transit: false, currentStage: request.currentStage, nextStage: request.currentStage, isid: request.isid, tsih: 0,
            initiatorTaskTag: request.initiatorTaskTag, statusSequenceNumber: request.expectedStatusSequenceNumber,
            expectedCommandSequenceNumber: request.commandSequenceNumber, maximumCommandSequenceNumber: request.commandSequenceNumber,
            status: status, parameters: [:]
        )
        response.continues = false
        return .respondAndClose(response)
    }
}
