import ISCSI
import Testing

struct LoginStateMachineTests {
    static let target = "iqn.2026-11.org.lunar:v1"
    static let initiator = "iqn.2026-11.test:host1"

    static func machine(limits: ISCSITargetLimits = ISCSITargetLimits()) -> ISCSILoginStateMachine {
        ISCSILoginStateMachine(limits: limits) { initiator, target in
            guard target == Self.target else { return .targetNotFound }
            return initiator == Self.initiator ? .allowed : .notAuthorized
        } assignTSIH: {
            0x1234
        }
    }

    static func request(
        _ current: ISCSILoginStage, _ next: ISCSILoginStage, transit: Bool = true, continues: Bool = false, _ text: ISCSITextParameters,
        versionMin: UInt8 = 0, tsih: UInt16 = 0
    ) -> ISCSILoginRequest {
        ISCSILoginRequest(
            transit: transit, continues: continues, currentStage: current, nextStage: next, versionMin: versionMin, isid: 0x4000_0000_0001, tsih: tsih,
            initiatorTaskTag: 1, commandSequenceNumber: 10, expectedStatusSequenceNumber: 0, parameters: text
        )
    }

    static let firstKeys: ISCSITextParameters = ["InitiatorName": initiator, "TargetName": target, "SessionType": "Normal", "AuthMethod": "None"]

    static func refusal(_ action: ISCSILoginStateMachine.Action) -> ISCSILoginResponse.Status? {
        guard case .respondAndClose(let response) = action else { return nil }
        return response.status
    }

    @Test func securityThenOperationalThenFullFeature() throws {
        var machine = Self.machine()
        guard case .respond(let first) = machine.loginRequestReceived(Self.request(.securityNegotiation, .operationalNegotiation, Self.firstKeys)) else {
            Issue.record("expected a response")
            return
        }
        #expect(first.status == .success && first.transit && first.currentStage == 0 && first.nextStage == 1)
        #expect(first.parameters["AuthMethod"] == "None")
        #expect(first.parameters["TargetPortalGroupTag"] == "1")
        #expect(first.expectedCommandSequenceNumber == 10 && first.maximumCommandSequenceNumber == 10 + 127)

        let operational: ISCSITextParameters = [
            "HeaderDigest": "CRC32C,None", "DataDigest": "None", "MaxRecvDataSegmentLength": "65536", "MaxBurstLength": "16776192",
            "FirstBurstLength": "262144", "InitialR2T": "No", "ImmediateData": "Yes", "MaxOutstandingR2T": "1", "DefaultTime2Wait": "0",
            "DefaultTime2Retain": "60", "ErrorRecoveryLevel": "2", "MaxConnections": "8", "DataPDUInOrder": "Yes", "IFMarker": "No",
            "X-com.example.Vendor": "1",
        ]
        let action = machine.loginRequestReceived(Self.request(.operationalNegotiation, .fullFeaturePhase, operational))
        guard case .respondAndEnterFullFeature(let final, let session) = action else {
            Issue.record("expected full feature, got \(action)")
            return
        }
        #expect(final.tsih == 0x1234 && final.transit && final.nextStage == 3)
        let answers = final.parameters
        #expect(answers["HeaderDigest"] == "CRC32C" && answers["DataDigest"] == "None")
        #expect(answers["MaxBurstLength"] == "1048576", "min of both")
        #expect(answers["InitialR2T"] == "No" && answers["ImmediateData"] == "Yes")
        #expect(answers["DefaultTime2Wait"] == "2" && answers["DefaultTime2Retain"] == "20")
        #expect(answers["ErrorRecoveryLevel"] == "0" && answers["MaxConnections"] == "1")
        #expect(answers["IFMarker"] == "No")
        #expect(answers["X-com.example.Vendor"] == "NotUnderstood")
        #expect(answers["MaxRecvDataSegmentLength"] == "262144", "we declare what we can receive")
        #expect(session.headerDigest && !session.dataDigest)
        #expect(session.initiatorMaxRecvDataSegmentLength == 65536 && session.targetMaxRecvDataSegmentLength == 262_144)
        #expect(session.firstBurstLength == 262_144 && session.maxBurstLength == 1_048_576)
        #expect(session.targetName == Self.target && session.initiatorName == Self.initiator)
        // Nothing more is accepted on this machine.
        #expect(Self.refusal(machine.loginRequestReceived(Self.request(.operationalNegotiation, .fullFeaturePhase, [:]))) == .invalidDuringLogin)
    }

    @Test func straightToFullFeatureDeclaresOurReceiveLimit() {
        var machine = Self.machine()
        guard case .respondAndEnterFullFeature(let final, let session) = machine.loginRequestReceived(Self.request(.securityNegotiation, .fullFeaturePhase, Self.firstKeys)) else {
            Issue.record("expected full feature")
            return
        }
        #expect(final.parameters["MaxRecvDataSegmentLength"] == "262144")
        #expect(!session.headerDigest && session.initialR2T && session.immediateData, "RFC defaults when not negotiated")
    }

    @Test func refusals() {
        let cases: [(ISCSILoginRequest, ISCSILoginResponse.Status)] = [
            (Self.request(.securityNegotiation, .operationalNegotiation, ["TargetName": Self.target]), .missingParameter),
            (Self.request(.securityNegotiation, .operationalNegotiation, ["InitiatorName": Self.initiator]), .missingParameter),
            (Self.request(.securityNegotiation, .operationalNegotiation, ["InitiatorName": Self.initiator, "TargetName": "iqn.nope"]), .notFound),
            (Self.request(.securityNegotiation, .operationalNegotiation, ["InitiatorName": "iqn.stranger", "TargetName": Self.target]), .authorizationFailure),
            (Self.request(.securityNegotiation, .operationalNegotiation, ["InitiatorName": Self.initiator, "TargetName": Self.target, "AuthMethod": "CHAP"]), .authenticationFailure),
            (Self.request(.securityNegotiation, .operationalNegotiation, Self.firstKeys, versionMin: 1), .unsupportedVersion),
            (Self.request(.securityNegotiation, .operationalNegotiation, Self.firstKeys, tsih: 5), .sessionDoesNotExist),
            (Self.request(.securityNegotiation, .operationalNegotiation, ["InitiatorName": Self.initiator, "SessionType": "Weird"]), .sessionTypeNotSupported),
            (Self.request(.operationalNegotiation, .securityNegotiation, Self.firstKeys), .initiatorError),
        ]
        for (request, status) in cases {
            var machine = Self.machine()
            #expect(Self.refusal(machine.loginRequestReceived(request)) == status, "\(request.parameters.pairs)")
            // After a refusal everything is refused.
            #expect(Self.refusal(machine.loginRequestReceived(Self.request(.securityNegotiation, .operationalNegotiation, Self.firstKeys))) == .invalidDuringLogin)
        }
    }

    @Test func badValuesAreRejectedKeyByKey() {
        var machine = Self.machine()
        _ = machine.loginRequestReceived(Self.request(.securityNegotiation, .operationalNegotiation, Self.firstKeys))
        let action = machine.loginRequestReceived(
            Self.request(.operationalNegotiation, .fullFeaturePhase, ["MaxBurstLength": "12", "InitialR2T": "Maybe", "HeaderDigest": "MD5"])
        )
        guard case .respondAndEnterFullFeature(let final, _) = action else {
            Issue.record("expected full feature")
            return
        }
        #expect(final.parameters["MaxBurstLength"] == "Reject" && final.parameters["InitialR2T"] == "Reject" && final.parameters["HeaderDigest"] == "Reject")
    }

    @Test func discoverySessionsNeedNoTarget() {
        var machine = Self.machine()
        let action = machine.loginRequestReceived(
            Self.request(.securityNegotiation, .fullFeaturePhase, ["InitiatorName": "iqn.anyone", "SessionType": "Discovery"])
        )
        guard case .respondAndEnterFullFeature(let final, let session) = action else {
            Issue.record("expected full feature")
            return
        }
        #expect(session.sessionType == .discovery && final.parameters["TargetPortalGroupTag"] == nil)
    }

    @Test func continuedTextIsGatheredWithinABound() {
        var machine = Self.machine()
        guard case .respond(let partial) = machine.loginRequestReceived(
            Self.request(.securityNegotiation, .operationalNegotiation, transit: false, continues: true, ["InitiatorName": Self.initiator])
        ) else {
            Issue.record("expected an empty response")
            return
        }
        #expect(partial.parameters.pairs.isEmpty && !partial.transit)
        guard case .respond(let rest) = machine.loginRequestReceived(
            Self.request(.securityNegotiation, .operationalNegotiation, ["TargetName": Self.target, "AuthMethod": "None"])
        ) else {
            Issue.record("expected the answer")
            return
        }
        #expect(rest.status == .success && rest.parameters["AuthMethod"] == "None")

        var flooded = Self.machine()
        var last: ISCSILoginStateMachine.Action?
        for index in 0..<200 {
            last = flooded.loginRequestReceived(
                Self.request(.securityNegotiation, .operationalNegotiation, transit: false, continues: true, ["K\(index)": String(repeating: "v", count: 500)])
            )
            if case .respondAndClose = last { break }
        }
        #expect(last.flatMap(Self.refusal) == .outOfResources)
    }
}
