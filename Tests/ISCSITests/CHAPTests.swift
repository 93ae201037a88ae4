import Foundation
import ISCSI
import NIOCore
import Testing

/// CHAP at login: the arithmetic against independently computed vectors, the negotiation as a
/// pure state machine (one-way, mutual, every way to get it wrong), the throttle, and libiscsi's
/// tools logging in with a user and secret.
struct CHAPTests {
    static let target = "iqn.2026-11.org.lunar:secured"
    static let initiator = "iqn.2026-11.test:host1"
    static let credentials = ISCSICHAPCredentials(
        user: "acme", initiatorSecret: Array("secretsecret12".utf8), targetUser: "acme", targetSecret: Array("targetsecret34".utf8)
    )
    static let challenge: [UInt8] = Array(0..<16)
    static let libiscsiInitiator = "iqn.2026-11.test:libiscsi"

    static func machine(credentials: ISCSICHAPCredentials = credentials) -> ISCSILoginStateMachine {
        ISCSILoginStateMachine(
            authorize: { initiator, target in
                guard target == Self.target else { return .targetNotFound }
                return initiator == Self.initiator ? .allowedWithCHAP(credentials) : .notAuthorized
            }, makeChallenge: { (0x2A, Self.challenge) }, assignTSIH: { 7 }
        )
    }

    static func request(_ current: ISCSILoginStage, _ next: ISCSILoginStage, transit: Bool, _ text: ISCSITextParameters) -> ISCSILoginRequest {
        ISCSILoginRequest(
            transit: transit, continues: false, currentStage: current, nextStage: next, versionMin: 0, isid: 0x4000_0000_0001, tsih: 0,
            initiatorTaskTag: 1, commandSequenceNumber: 1, expectedStatusSequenceNumber: 0, parameters: text
        )
    }

    static func answers(_ action: ISCSILoginStateMachine.Action) -> ISCSITextParameters? {
        guard case .respond(let response) = action, response.status == .success else { return nil }
        return response.parameters
    }

    static func refused(_ action: ISCSILoginStateMachine.Action) -> ISCSILoginResponse.Status? {
        guard case .respondAndClose(let response) = action else { return nil }
        return response.status
    }

    /// Runs the first two CHAP steps; returns the machine waiting for CHAP_N/CHAP_R.
    static func challenged(credentials: ISCSICHAPCredentials = credentials) throws -> ISCSILoginStateMachine {
        var machine = Self.machine(credentials: credentials)
        let first = machine.loginRequestReceived(
            request(.securityNegotiation, .operationalNegotiation, transit: false, ["InitiatorName": initiator, "TargetName": target, "AuthMethod": "CHAP,None"])
        )
        #expect(answers(first)?["AuthMethod"] == "CHAP")
        let second = machine.loginRequestReceived(request(.securityNegotiation, .operationalNegotiation, transit: false, ["CHAP_A": "5"]))
        let offered = try #require(answers(second))
        #expect(offered["CHAP_A"] == "5" && offered["CHAP_I"] == "42" && offered["CHAP_C"] == "0x000102030405060708090a0b0c0d0e0f")
        return machine
    }

    @Test func md5ResponsesMatchVectorsComputedElsewhere() {
        // Python: hashlib.md5(bytes([0x2a]) + b"secretsecret12" + bytes(range(16))).hexdigest()
        #expect(ISCSICHAP.hex(ISCSICHAP.response(identifier: 0x2A, secret: Array("secretsecret12".utf8), challenge: Self.challenge)) == "0x9860bd91695fa19d4538a10ade829698")
        #expect(
            ISCSICHAP.hex(ISCSICHAP.response(identifier: 7, secret: Array("targetsecret34".utf8), challenge: [0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF]))
                == "0x4d372ee79126f6c7986827fc7fc5de89"
        )
        #expect(ISCSICHAP.decodeBinary("0x0A0b") == [0x0A, 0x0B])
        #expect(ISCSICHAP.decodeBinary("0bAAEC") == [0x00, 0x01, 0x02])
        for malformed in ["", "0x", "0x1", "0xzz", "12", "0b!!", "0b"] { #expect(ISCSICHAP.decodeBinary(malformed) == nil, "\(malformed)") }
    }

    @Test func oneWayCHAPThenOperational() throws {
        var machine = try Self.challenged()
        let action = machine.loginRequestReceived(
            Self.request(.securityNegotiation, .operationalNegotiation, transit: true, ["CHAP_N": "acme", "CHAP_R": "0x9860bd91695fa19d4538a10ade829698"])
        )
        let answers = try #require(Self.answers(action))
        #expect(answers["CHAP_R"] == nil, "no mutual CHAP unless asked")
        let final = machine.loginRequestReceived(Self.request(.operationalNegotiation, .fullFeaturePhase, transit: true, ["MaxRecvDataSegmentLength": "65536"]))
        guard case .respondAndEnterFullFeature = final else {
            Issue.record("expected full feature, got \(final)")
            return
        }
    }

    @Test func mutualCHAPAnswersTheInitiatorsChallenge() throws {
        var machine = try Self.challenged()
        let theirs: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF]
        let action = machine.loginRequestReceived(
            Self.request(
                .securityNegotiation, .operationalNegotiation, transit: true,
                ["CHAP_N": "acme", "CHAP_R": "0x9860bd91695fa19d4538a10ade829698", "CHAP_I": "7", "CHAP_C": ISCSICHAP.hex(theirs)]
            )
        )
        let answers = try #require(Self.answers(action))
        #expect(answers["CHAP_N"] == "acme" && answers["CHAP_R"] == "0x4d372ee79126f6c7986827fc7fc5de89")
    }

    /// Every way to get CHAP wrong ends in "authentication failure" and a closed connection.
    @Test(arguments: [
        ["CHAP_N": "acme", "CHAP_R": "0x9860bd91695fa19d4538a10ade829699"],  // wrong secret
        ["CHAP_N": "mallory", "CHAP_R": "0x9860bd91695fa19d4538a10ade829698"],  // unknown user
        ["CHAP_N": "acme", "CHAP_R": "9860bd91695fa19d4538a10ade829698"],  // malformed value
        ["CHAP_N": "acme", "CHAP_R": "0x9860bd91"],  // short response
        ["CHAP_N": "acme"],  // no response
        // Our own challenge played back for mutual CHAP.
        ["CHAP_N": "acme", "CHAP_R": "0x9860bd91695fa19d4538a10ade829698", "CHAP_I": "42", "CHAP_C": "0x000102030405060708090a0b0c0d0e0f"],
        ["CHAP_N": "acme", "CHAP_R": "0x9860bd91695fa19d4538a10ade829698", "CHAP_I": "300", "CHAP_C": "0x01"],  // bad identifier
        ["CHAP_N": "acme", "CHAP_R": "0x9860bd91695fa19d4538a10ade829698", "CHAP_C": "0x01"],  // half the mutual keys
    ])
    func badResponsesAreAuthenticationFailures(keys: [String: String]) throws {
        var machine = try Self.challenged()
        var text = ISCSITextParameters()
        for (key, value) in keys.sorted(by: { $0.key < $1.key }) { text[key] = value }
        #expect(Self.refused(machine.loginRequestReceived(Self.request(.securityNegotiation, .operationalNegotiation, transit: true, text))) == .authenticationFailure)
    }

    @Test func skippingOrRefusingCHAPFails() {
        // Offering only None to a target that requires CHAP.
        var none = Self.machine()
        let first = none.loginRequestReceived(
            Self.request(.securityNegotiation, .operationalNegotiation, transit: true, ["InitiatorName": Self.initiator, "TargetName": Self.target, "AuthMethod": "None"])
        )
        #expect(Self.refused(first) == .authenticationFailure)
        // Going straight to operational negotiation.
        var skip = Self.machine()
        let skipped = skip.loginRequestReceived(
            Self.request(.operationalNegotiation, .fullFeaturePhase, transit: true, ["InitiatorName": Self.initiator, "TargetName": Self.target])
        )
        #expect(Self.refused(skipped) == .authenticationFailure)
        // Asking to leave security before answering the challenge: held in the security stage
        // (no T bit back), and refused if it moves on anyway.
        var early = Self.machine()
        _ = early.loginRequestReceived(
            Self.request(.securityNegotiation, .operationalNegotiation, transit: true, ["InitiatorName": Self.initiator, "TargetName": Self.target, "AuthMethod": "CHAP"])
        )
        let held = early.loginRequestReceived(Self.request(.securityNegotiation, .operationalNegotiation, transit: true, ["CHAP_A": "5"]))
        guard case .respond(let response) = held else {
            Issue.record("expected a response, got \(held)")
            return
        }
        #expect(!response.transit && response.nextStage == 0 && response.parameters["CHAP_C"] != nil)
        #expect(Self.refused(early.loginRequestReceived(Self.request(.operationalNegotiation, .fullFeaturePhase, transit: true, [:]))) == .authenticationFailure)
        // An algorithm other than MD5.
        var sha = Self.machine()
        _ = sha.loginRequestReceived(
            Self.request(.securityNegotiation, .operationalNegotiation, transit: false, ["InitiatorName": Self.initiator, "TargetName": Self.target, "AuthMethod": "CHAP"])
        )
        #expect(Self.refused(sha.loginRequestReceived(Self.request(.securityNegotiation, .operationalNegotiation, transit: false, ["CHAP_A": "7"]))) == .authenticationFailure)
        // Mutual CHAP asked of a target with no target secret.
        var noMutual = try? Self.challenged(credentials: ISCSICHAPCredentials(user: "acme", initiatorSecret: Array("secretsecret12".utf8)))
        let mutual = noMutual?.loginRequestReceived(
            Self.request(
                .securityNegotiation, .operationalNegotiation, transit: true,
                ["CHAP_N": "acme", "CHAP_R": "0x9860bd91695fa19d4538a10ade829698", "CHAP_I": "7", "CHAP_C": "0x0102030405060708"]
            )
        )
        #expect(mutual.flatMap(Self.refused) == .authenticationFailure)
    }

    @Test func theThrottleRefusesAnAddressAfterTooManyFailures() {
        let throttle = ISCSILoginThrottle(maximumFailures: 3, window: .seconds(60))
        let start = ContinuousClock.now
        for _ in 0..<3 {
            #expect(throttle.allows("10.0.0.1", now: start))
            throttle.recordFailure("10.0.0.1", now: start)
        }
        #expect(!throttle.allows("10.0.0.1", now: start + .seconds(1)))
        #expect(throttle.allows("10.0.0.2", now: start + .seconds(1)), "other addresses are not affected")
        #expect(throttle.allows("10.0.0.1", now: start + .seconds(61)), "the window ends")
    }

    // MARK: libiscsi

    static func withSecuredTarget(targetSecret: String? = nil, _ body: (Int) async throws -> Void) async throws {
        let file = NSTemporaryDirectory() + "lunar-chap-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let device = try FileBlockDevice(path: file, sizeBytes: 16 << 20)
        let catalog = ISCSIStaticCatalog([
            Self.target: .init(
                unit: SCSILogicalUnit(device: device, serial: "chap", naa: 0x99), allowedInitiators: [Self.libiscsiInitiator],
                credentials: ISCSICHAPCredentials(
                    user: "acme", initiatorSecret: Array("secretsecret12".utf8), targetUser: "acme", targetSecret: targetSecret.map { Array($0.utf8) }
                )
            )
        ])
        let server = try await ISCSITargetServer.start(host: "127.0.0.1", port: 0, catalog: catalog, logger: InitiatorTests.quiet)
        do {
            try await body(server.port)
            try await server.shutdown()
        } catch {
            try await server.shutdown()
            throw error
        }
    }

    @Test func theSwiftInitiatorDoesOneWayAndMutualCHAP() async throws {
        try await Self.withSecuredTarget(targetSecret: "targetsecret34") { port in
            func login(_ chap: ISCSIInitiatorSession.Configuration.CHAP?) async throws -> ISCSIInitiatorSession {
                var configuration = ISCSIInitiatorSession.Configuration(initiatorName: Self.libiscsiInitiator, targetName: Self.target)
                configuration.chap = chap
                return try await ISCSIInitiatorSession.login(host: "127.0.0.1", port: port, configuration: configuration, logger: InitiatorTests.quiet)
            }
            let oneWay = try await login(.init(user: "acme", secret: "secretsecret12"))
            try await oneWay.clearUnitAttentions()
            #expect(try await oneWay.readCapacity().blockSize == 512)
            await oneWay.logout()
            let mutual = try await login(.init(user: "acme", secret: "secretsecret12", targetSecret: "targetsecret34"))
            await mutual.logout()
            // A target that cannot prove the expected secret is refused by the initiator.
            await #expect(throws: ISCSIInitiatorError.self) { _ = try await login(.init(user: "acme", secret: "secretsecret12", targetSecret: "impostor-secret")) }
            await #expect(throws: ISCSIInitiatorError.self) { _ = try await login(.init(user: "acme", secret: "wrongsecret999")) }
            await #expect(throws: ISCSIInitiatorError.self) { _ = try await login(nil) }
        }
    }

    @Test func libiscsiLogsInWithAUserAndSecret() async throws {
        guard let inquiry = LibiscsiInteropTests.tool("iscsi-inq") else { return }
        try await Self.withSecuredTarget { port in
            let good = try await LibiscsiInteropTests.run(
                inquiry, ["-i", Self.libiscsiInitiator, "iscsi://acme%secretsecret12@127.0.0.1:\(port)/\(Self.target)/0"]
            )
            #expect(good.status == 0, "\(good.output)")
            #expect(good.output.lowercased().contains("lunar"), "\(good.output)")
            let wrong = try await LibiscsiInteropTests.run(
                inquiry, ["-i", Self.libiscsiInitiator, "iscsi://acme%wrongsecret99@127.0.0.1:\(port)/\(Self.target)/0"]
            )
            #expect(wrong.status != 0)
            #expect(wrong.output.lowercased().contains("authentication failure"), "\(wrong.output)")
            let anonymous = try await LibiscsiInteropTests.run(inquiry, ["-i", Self.libiscsiInitiator, "iscsi://127.0.0.1:\(port)/\(Self.target)/0"])
            #expect(anonymous.status != 0)
        }
    }
}
