import Logging
import NIOCore
import NIOPosix

/// An initiator session with one connection (ErrorRecoveryLevel 0, MaxConnections 1), for the
/// simulated VMs, the load generators and tests. Commands may be issued concurrently; they are
/// pipelined up to the target's command window.
public final class ISCSIInitiatorSession: Sendable {
    public struct Configuration: Sendable {
        public var initiatorName: String
        /// nil: a discovery session.
        public var targetName: String?
        public var isid: UInt64
        /// The LUN commands address.
        public var logicalUnitNumber: UInt64 = 0
        public var maxRecvDataSegmentLength = 262_144
        public var firstBurstLength = 262_144
        public var maxBurstLength = 1_048_576
        public var immediateData = true
        public var initialR2T = false
        /// Connect and login must finish within this.
        public var loginTimeout: Duration = .seconds(10)
        /// Log in with CHAP (a security stage first); nil: no authentication.
        public var chap: CHAP?

        public struct CHAP: Sendable, Hashable {
            public var user: String
            public var secret: String
            /// Mutual CHAP: the secret the target must prove it knows (its CHAP_N is not checked).
            public var targetSecret: String?

            public init(user: String, secret: String, targetSecret: String? = nil) {
                self.user = user
                self.secret = secret
                self.targetSecret = targetSecret
            }
        }

        public init(initiatorName: String, targetName: String?, isid: UInt64 = 0x8000_0000_0001) {
            self.initiatorName = initiatorName
            self.targetName = targetName
            self.isid = isid
        }
    }

    public let channel: any Channel
    let handler: NIOLoopBound<ISCSIInitiatorHandler>
    public let configuration: Configuration
    public let negotiated: ISCSINegotiatedParameters
    public let tsih: UInt16

    init(channel: any Channel, handler: NIOLoopBound<ISCSIInitiatorHandler>, configuration: Configuration, negotiated: ISCSINegotiatedParameters, tsih: UInt16) {
        self.channel = channel
        self.handler = handler
        self.configuration = configuration
        self.negotiated = negotiated
        self.tsih = tsih
    }

    /// Connects to `host:port` and logs in: CHAP first when configured, then operational
    /// negotiation.
    public static func login(
        host: String, port: Int, configuration: Configuration, logger: Logger = Logger(label: "iscsi.initiator"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ISCSIInitiatorSession {
        let timeout = TimeAmount.nanoseconds(Int64(configuration.loginTimeout.components.seconds) * 1_000_000_000)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65_536, maximum: 1 << 20))
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let box = ISCSIFramingBox()
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ISCSIPDUDecoder(sharing: box), maximumBufferSize: 64 << 20),
                        ISCSIPDUWriter(sharing: box),
                        ISCSIInitiatorHandler(framing: box, logger: logger)
                    )
                }
            }
            .connect(host: host, port: port)
            .get()
        do {
            let handler = try await channel.eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ISCSIInitiatorHandler.self), eventLoop: channel.eventLoop)
            }.get()
            let (negotiated, tsih) = try await negotiate(channel: channel, handler: handler, configuration: configuration, timeout: timeout)
            return ISCSIInitiatorSession(channel: channel, handler: handler, configuration: configuration, negotiated: negotiated, tsih: tsih)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// One login request and its (successful) response.
    static func exchange(
        _ parameters: ISCSITextParameters, transit: Bool, stage: ISCSILoginStage = .securityNegotiation, next: ISCSILoginStage = .operationalNegotiation,
        channel: any Channel, handler: NIOLoopBound<ISCSIInitiatorHandler>, configuration: Configuration, timeout: TimeAmount
    ) async throws -> ISCSILoginResponse {
        let request = ISCSILoginRequest(
            transit: transit, currentStage: stage, nextStage: next, isid: configuration.isid,
            initiatorTaskTag: 0, commandSequenceNumber: 1, expectedStatusSequenceNumber: 0, parameters: parameters
        )
        let promise = channel.eventLoop.makePromise(of: ISCSILoginResponse.self)
        channel.eventLoop.execute { handler.value.sendLogin(request, promise: promise) }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { promise.fail(ISCSIInitiatorError.timedOut) }
        let response = try await promise.futureResult.get()
        deadline.cancel()
        guard response.status == .success else {
            throw ISCSIInitiatorError.loginRefused(status: response.status.rawValue, reason: "\(response.status)")
        }
        return response
    }

    /// The security stage with CHAP (RFC 7143 §12.1.3), mutual when a target secret is given.
    static func authenticate(
        _ chap: Configuration.CHAP, first: ISCSITextParameters, channel: any Channel, handler: NIOLoopBound<ISCSIInitiatorHandler>,
        configuration: Configuration, timeout: TimeAmount
    ) async throws {
        var opening = ISCSITextParameters()
        for key in ["InitiatorName", "TargetName", "SessionType"] { opening[key] = first[key] }
        opening["AuthMethod"] = "CHAP"
        let chosen = try await exchange(opening, transit: false, channel: channel, handler: handler, configuration: configuration, timeout: timeout)
        guard chosen.parameters["AuthMethod"] == "CHAP" else { throw ISCSIInitiatorError.protocolViolation("the target did not agree to CHAP") }
        let offer = try await exchange(["CHAP_A": ISCSICHAP.md5Algorithm], transit: false, channel: channel, handler: handler, configuration: configuration, timeout: timeout)
        guard offer.parameters["CHAP_A"] == ISCSICHAP.md5Algorithm, let identifierText = offer.parameters["CHAP_I"], let identifier = UInt8(identifierText),
            let challengeText = offer.parameters["CHAP_C"], let challenge = ISCSICHAP.decodeBinary(challengeText)
        else { throw ISCSIInitiatorError.protocolViolation("malformed CHAP challenge") }
        var answer = ISCSITextParameters()
        answer["CHAP_N"] = chap.user
        answer["CHAP_R"] = ISCSICHAP.hex(ISCSICHAP.response(identifier: identifier, secret: Array(chap.secret.utf8), challenge: challenge))
        var ours: (identifier: UInt8, challenge: [UInt8])?
        if chap.targetSecret != nil {
            let mine = ISCSILoginStateMachine.randomChallenge()
            ours = mine
            answer["CHAP_I"] = String(mine.identifier)
            answer["CHAP_C"] = ISCSICHAP.hex(mine.challenge)
        }
        let verdict = try await exchange(answer, transit: true, channel: channel, handler: handler, configuration: configuration, timeout: timeout)
        if let ours, let targetSecret = chap.targetSecret {
            let expected = ISCSICHAP.response(identifier: ours.identifier, secret: Array(targetSecret.utf8), challenge: ours.challenge)
            guard let text = verdict.parameters["CHAP_R"], let proof = ISCSICHAP.decodeBinary(text), ISCSICHAP.constantTimeEqual(proof, expected) else {
                throw ISCSIInitiatorError.loginRefused(status: 0x0201, reason: "the target failed mutual CHAP")
            }
        }
    }

    static func negotiate(
        channel: any Channel, handler: NIOLoopBound<ISCSIInitiatorHandler>, configuration: Configuration, timeout: TimeAmount
    ) async throws -> (ISCSINegotiatedParameters, UInt16) {
        var offered = ISCSITextParameters()
        offered["InitiatorName"] = configuration.initiatorName
        if let target = configuration.targetName {
            offered["TargetName"] = target
            offered["SessionType"] = "Normal"
        } else {
            offered["SessionType"] = "Discovery"
        }
        offered["HeaderDigest"] = "None"
        offered["DataDigest"] = "None"
        offered["MaxRecvDataSegmentLength"] = String(configuration.maxRecvDataSegmentLength)
        if configuration.targetName != nil {
            offered["InitialR2T"] = configuration.initialR2T ? "Yes" : "No"
            offered["ImmediateData"] = configuration.immediateData ? "Yes" : "No"
            offered["MaxBurstLength"] = String(configuration.maxBurstLength)
            offered["FirstBurstLength"] = String(configuration.firstBurstLength)
            offered["MaxOutstandingR2T"] = "1"
            offered["DataPDUInOrder"] = "Yes"
            offered["DataSequenceInOrder"] = "Yes"
            offered["MaxConnections"] = "1"
        }
        offered["ErrorRecoveryLevel"] = "0"
        offered["DefaultTime2Wait"] = "2"
        offered["DefaultTime2Retain"] = "0"

        var negotiated = ISCSINegotiatedParameters()
        negotiated.initiatorMaxRecvDataSegmentLength = configuration.maxRecvDataSegmentLength
        // RFC defaults where the target does not answer.
        negotiated.initialR2T = true
        negotiated.immediateData = true
        var parameters = offered
        if let chap = configuration.chap {
            try await authenticate(chap, first: offered, channel: channel, handler: handler, configuration: configuration, timeout: timeout)
            parameters = offered
            for key in ["InitiatorName", "TargetName", "SessionType"] { parameters[key] = nil }
        }
        for round in 0..<8 {
            let response = try await exchange(
                parameters, transit: true, stage: .operationalNegotiation, next: .fullFeaturePhase, channel: channel, handler: handler,
                configuration: configuration, timeout: timeout
            )
            for (key, value) in response.parameters.pairs {
                switch key {
                case "MaxRecvDataSegmentLength": negotiated.targetMaxRecvDataSegmentLength = Int(value) ?? 8192
                case "FirstBurstLength": negotiated.firstBurstLength = Int(value) ?? negotiated.firstBurstLength
                case "MaxBurstLength": negotiated.maxBurstLength = Int(value) ?? negotiated.maxBurstLength
                case "ImmediateData": negotiated.immediateData = value == "Yes"
                case "InitialR2T": negotiated.initialR2T = value == "Yes"
                case "TargetPortalGroupTag": negotiated.targetPortalGroupTag = Int(value)
                default: break
                }
            }
            if response.transit && response.nextStage == ISCSILoginStage.fullFeaturePhase.rawValue {
                // Declarative keys the target did not answer keep the RFC's defaults.
                if response.parameters["FirstBurstLength"] == nil { negotiated.firstBurstLength = min(65_536, configuration.firstBurstLength) }
                if response.parameters["MaxBurstLength"] == nil { negotiated.maxBurstLength = min(262_144, configuration.maxBurstLength) }
                negotiated.immediateData = negotiated.immediateData && configuration.immediateData
                negotiated.initialR2T = negotiated.initialR2T || configuration.initialR2T
                let settled = negotiated
                try await channel.eventLoop.submit { handler.value.enterFullFeature(settled, response: response, logicalUnitNumber: configuration.logicalUnitNumber) }.get()
                return (negotiated, response.tsih)
            }
            // The target wants another round: send nothing new.
            parameters = ISCSITextParameters()
            _ = round
        }
        throw ISCSIInitiatorError.protocolViolation("login did not reach the full-feature phase in 8 rounds")
    }

    /// Runs one command; concurrent calls are pipelined.
    public func execute(_ request: ISCSIInitiatorRequest) async throws -> ISCSICommandOutcome {
        let promise = channel.eventLoop.makePromise(of: ISCSICommandOutcome.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.submit(request, promise: promise) }
        return try await promise.futureResult.get()
    }

    /// The same, as a future (cheaper for load generators that keep many in flight).
    public func submit(_ request: ISCSIInitiatorRequest) -> EventLoopFuture<ISCSICommandOutcome> {
        let promise = channel.eventLoop.makePromise(of: ISCSICommandOutcome.self)
        let handler = self.handler
        if channel.eventLoop.inEventLoop {
            handler.value.submit(request, promise: promise)
        } else {
            channel.eventLoop.execute { handler.value.submit(request, promise: promise) }
        }
        return promise.futureResult
    }

    /// A NOP-Out answered by the target's NOP-In: proves the connection is alive, without
    /// waiting behind commands.
    public func ping() async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.sendPing(promise: promise) }
        try await promise.futureResult.get()
    }

    /// ABORT TASK SET: ends every command this session has sent and not had answered.
    public func abortTaskSet() async throws -> ISCSITaskManagementResponse.Result {
        let promise = channel.eventLoop.makePromise(of: ISCSITaskManagementResponse.Result.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.sendAbortTaskSet(promise: promise) }
        return try await promise.futureResult.get()
    }

    /// SendTargets=All on a discovery session.
    public func sendTargets() async throws -> [ISCSIDiscoveredTarget] {
        var request = ISCSITextParameters()
        request["SendTargets"] = "All"
        let promise = channel.eventLoop.makePromise(of: ISCSITextParameters.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.sendText(request, promise: promise) }
        var targets: [ISCSIDiscoveredTarget] = []
        for (key, value) in try await promise.futureResult.get().pairs {
            if key == "TargetName" {
                targets.append(ISCSIDiscoveredTarget(name: value, addresses: []))
            } else if key == "TargetAddress", !targets.isEmpty {
                targets[targets.count - 1].addresses.append(value)
            }
        }
        return targets
    }

    /// Logs out and closes the connection.
    public func logout() async {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.sendLogout(promise: promise) }
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(5)) { promise.succeed() }
        try? await promise.futureResult.get()
        deadline.cancel()
        try? await channel.close()
    }
}
