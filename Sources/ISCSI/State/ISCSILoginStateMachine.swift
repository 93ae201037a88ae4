/// The target side of login (RFC 7143 §6.3, §13): security then operational negotiation, then
/// full-feature phase. Pure: each received Login Request yields one action for the handler to
/// carry out. Any refusal moves the machine to `.failed`, which refuses everything after.
public struct ISCSILoginStateMachine: Sendable {
    /// Whether an initiator may log in to a target, decided by whoever owns the targets.
    public enum Authorization: Hashable, Sendable {
        case allowed
        /// Allowed once the initiator proves it knows the secret (CHAP).
        case allowedWithCHAP(ISCSICHAPCredentials)
        case targetNotFound
        case notAuthorized

        public var isAllowed: Bool {
            switch self {
            case .allowed, .allowedWithCHAP: true
            case .targetNotFound, .notAuthorized: false
            }
        }
    }

    /// Where CHAP stands in this login.
    enum CHAPState: Hashable, Sendable {
        case notRequired
        case required(ISCSICHAPCredentials)
        case methodChosen(ISCSICHAPCredentials)
        case challenged(ISCSICHAPCredentials, identifier: UInt8, challenge: [UInt8])
        case authenticated

        var isPending: Bool {
            switch self {
            case .notRequired, .authenticated: false
            case .required, .methodChosen, .challenged: true
            }
        }
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
    let discoveryCredentials: @Sendable (_ initiatorName: String) -> ISCSICHAPCredentials?
    let makeChallenge: @Sendable () -> (identifier: UInt8, challenge: [UInt8])
    var chap = CHAPState.notRequired
    var state: State = .awaitingFirstRequest
    var session = ISCSISessionParameters()
    var statusSequenceNumber: UInt32 = 0
    var pendingText: [(key: String, value: String)] = []

    public init(
        limits: ISCSITargetLimits = ISCSITargetLimits(),
        authorize: @escaping @Sendable (_ initiatorName: String, _ targetName: String) -> Authorization,
        discoveryCredentials: @escaping @Sendable (_ initiatorName: String) -> ISCSICHAPCredentials? = { _ in nil },
        makeChallenge: @escaping @Sendable () -> (identifier: UInt8, challenge: [UInt8]) = ISCSILoginStateMachine.randomChallenge,
        assignTSIH: @escaping @Sendable () -> UInt16
    ) {
        self.limits = limits
        self.authorize = authorize
        self.discoveryCredentials = discoveryCredentials
        self.makeChallenge = makeChallenge
        self.assignTSIH = assignTSIH
    }

    /// A fresh identifier and 16-byte challenge per login, so a recorded response is worthless.
    public static func randomChallenge() -> (identifier: UInt8, challenge: [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        return (UInt8.random(in: 0...255, using: &generator), (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
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
                case .allowedWithCHAP(let credentials):
                    session.targetName = targetName
                    chap = .required(credentials)
                case .targetNotFound: return refuse(request, .notFound)
                case .notAuthorized: return refuse(request, .authorizationFailure)
                }
                answers["TargetPortalGroupTag"] = String(limits.targetPortalGroupTag)
            } else if let credentials = discoveryCredentials(initiatorName) {
                chap = .required(credentials)
            }
        }

        if currentStage == .securityNegotiation {
            if chap == .notRequired {
                if let methods = offered["AuthMethod"] {
                    guard methods.split(separator: ",").contains("None") else { return refuse(request, .authenticationFailure) }
                    answers["AuthMethod"] = "None"
                }
            } else if !negotiateCHAP(offered, into: &answers) {
                return refuse(request, .authenticationFailure)
            }
        } else if offered["AuthMethod"] != nil {
            answers["AuthMethod"] = "Irrelevant"
        }
        // Nothing past the security stage until CHAP, when required, has succeeded.
        if chap.isPending, currentStage != .securityNegotiation {
            return refuse(request, .authenticationFailure)
        }
        // An initiator may ask to leave the security stage while CHAP is under way (libiscsi
        // does): the target answers without the T bit and the exchange goes on (RFC 7143 §6.2).
        let transit = request.transit && !chap.isPending
        for pair in ISCSIKeyNegotiation(limits: limits).respond(to: offered, stage: currentStage, into: &session).pairs {
            answers[pair.key] = pair.value
        }

        guard transit else {
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

    /// One round of CHAP (RFC 7143 §12.1.3): AuthMethod, then CHAP_A, then CHAP_N/CHAP_R (with
    /// CHAP_I/CHAP_C when the initiator wants the target to prove itself too). False: refuse.
    mutating func negotiateCHAP(_ offered: ISCSITextParameters, into answers: inout ISCSITextParameters) -> Bool {
        if let methods = offered["AuthMethod"] {
            guard case .required(let credentials) = chap, methods.split(separator: ",").contains("CHAP") else { return false }
            answers["AuthMethod"] = "CHAP"
            chap = .methodChosen(credentials)
        }
        if let algorithms = offered["CHAP_A"] {
            guard case .methodChosen(let credentials) = chap, algorithms.split(separator: ",").contains(Substring(ISCSICHAP.md5Algorithm)) else { return false }
            let (identifier, challenge) = makeChallenge()
            answers["CHAP_A"] = ISCSICHAP.md5Algorithm
            answers["CHAP_I"] = String(identifier)
            answers["CHAP_C"] = ISCSICHAP.hex(challenge)
            chap = .challenged(credentials, identifier: identifier, challenge: challenge)
        }
        guard offered["CHAP_N"] != nil || offered["CHAP_R"] != nil else {
            // Mutual-CHAP keys alone, out of turn, are as wrong as a bad response.
            return offered["CHAP_I"] == nil && offered["CHAP_C"] == nil
        }
        guard case .challenged(let credentials, let identifier, let challenge) = chap, let name = offered["CHAP_N"],
            let responseText = offered["CHAP_R"], let response = ISCSICHAP.decodeBinary(responseText), response.count == 16,
            name == credentials.user,
            ISCSICHAP.constantTimeEqual(response, ISCSICHAP.response(identifier: identifier, secret: credentials.initiatorSecret, challenge: challenge))
        else { return false }
        if offered["CHAP_I"] != nil || offered["CHAP_C"] != nil {
            // Mutual: answer the initiator's challenge, unless it is ours played back.
            guard let identifierText = offered["CHAP_I"], let theirIdentifier = UInt8(identifierText), let challengeText = offered["CHAP_C"],
                let theirChallenge = ISCSICHAP.decodeBinary(challengeText), (1...ISCSICHAP.maximumChallengeBytes).contains(theirChallenge.count),
                theirChallenge != challenge, let targetSecret = credentials.targetSecret
            else { return false }
            answers["CHAP_N"] = credentials.targetUser ?? credentials.user
            answers["CHAP_R"] = ISCSICHAP.hex(ISCSICHAP.response(identifier: theirIdentifier, secret: targetSecret, challenge: theirChallenge))
        }
        chap = .authenticated
        return true
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

    /// Refuses a login for a reason outside the negotiation (too many failures from the address).
    public mutating func refuseLogin(_ request: ISCSILoginRequest, status: ISCSILoginResponse.Status) -> Action {
        refuse(request, status)
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
