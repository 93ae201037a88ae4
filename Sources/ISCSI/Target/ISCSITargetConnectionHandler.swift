import Logging
import NIOCore
import NIOPosix

/// One initiator connection: login through ``ISCSILoginStateMachine``, then the full-feature
/// phase: SCSI commands with immediate, unsolicited and R2T-solicited data, Data-In with status,
/// NOP both ways, text (SendTargets), task management and logout.
///
/// Commands run on their logical unit on a thread pool (the unit blocks on I/O); results come
/// back to the event loop. The command window is the backpressure: MaxCmdSN only admits as many
/// commands as there is room for, so a fast initiator waits instead of growing our queues.
public final class ISCSITargetConnectionHandler: ChannelInboundHandler {
    public typealias InboundIn = ISCSIPDU
    public typealias OutboundOut = ISCSIPDU

    /// Most data one command may move (bounds the write reassembly buffer).
    public static let maximumTransferBytes = 32 << 20
    /// An inline write slower than this means the page cache is throttling writers.
    static let inlineWriteStall = TimeAmount.milliseconds(2)
    static let inlineWriteBackoff = TimeAmount.seconds(5)

    /// A command the target has accepted and not yet answered.
    struct Task {
        var command: ISCSISCSICommand
        /// Collected write data; nil for a command that is executing.
        var data: ByteBuffer?
        var aborted = false
        var readyToTransferSequenceNumber: UInt32 = 0
        var targetTransferTag: UInt32 = 0xFFFF_FFFF
        /// Bytes solicited by R2Ts not yet received.
        var solicitedEnd = 0
        /// Whether unsolicited (non-immediate) Data-Out is still expected.
        var awaitingUnsolicited = false
        /// The DataSN the next Data-Out must carry; it restarts with every R2T.
        var nextDataSequenceNumber: UInt32 = 0
        /// Waiting for admission (QoS): cancelled if the task is aborted or the connection goes.
        var queuedTicket: ISCSIAdmissionTicket?
    }

    let catalog: any ISCSITargetCatalog
    let framing: ISCSIFramingBox
    let limits: ISCSITargetLimits
    let threadPool: NIOThreadPool
    let registry: ISCSISessionRegistry?
    let admission: (any ISCSICommandAdmission)?
    let throttle: ISCSILoginThrottle?
    var logger: Logger
    var login: ISCSILoginStateMachine
    var session: ISCSISessionParameters?
    var unit: SCSILogicalUnit?
    var nexus: SCSINexus?
    var expectedCommandSequenceNumber: UInt32 = 0
    var statusSequenceNumber: UInt32 = 0
    var tasks: [UInt32: Task] = [:]
    var nextTargetTransferTag: UInt32 = 1
    var isClosing = false
    var inlineWritesResumeAt = NIODeadline.uptimeNanoseconds(0)
    /// Set once the session is registered: counts commands at the backing store for a fence.
    var fence: ISCSIConnectionFence?
    /// Write reassembly buffers kept for reuse: a fresh 1 MiB buffer costs 256 page faults.
    var spareBuffers: [ByteBuffer] = []
    static let maximumSpareBuffers = 4

    public init(
        catalog: any ISCSITargetCatalog, framing: ISCSIFramingBox, limits: ISCSITargetLimits, logger: Logger,
        threadPool: NIOThreadPool = .singleton, registry: ISCSISessionRegistry? = nil, admission: (any ISCSICommandAdmission)? = nil,
        throttle: ISCSILoginThrottle? = nil, assignTSIH: @escaping @Sendable () -> UInt16
    ) {
        self.throttle = throttle
        self.registry = registry
        self.admission = admission
        self.catalog = catalog
        self.framing = framing
        self.limits = limits
        self.threadPool = threadPool
        self.logger = logger
        self.login = ISCSILoginStateMachine(
            limits: limits, authorize: { catalog.authorize(initiator: $0, target: $1) },
            discoveryCredentials: { catalog.discoveryCredentials(initiator: $0) }, assignTSIH: assignTSIH
        )
    }

    /// ExpCmdSN and MaxCmdSN: the window shrinks by every task still held.
    var sequence: ISCSISequenceNumbers {
        let room = limits.commandWindow > UInt32(tasks.count) ? limits.commandWindow - UInt32(tasks.count) : 0
        return ISCSISequenceNumbers(
            statusSequenceNumber: statusSequenceNumber, expectedCommandSequenceNumber: expectedCommandSequenceNumber,
            maximumCommandSequenceNumber: expectedCommandSequenceNumber &+ room &- 1
        )
    }

    /// The sequence numbers for a response that carries status, advancing StatSN.
    func takeStatusSequence() -> ISCSISequenceNumbers {
        let numbers = sequence
        statusSequenceNumber &+= 1
        return numbers
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let pdu = unwrapInboundIn(data)
        guard !isClosing else { return }
        guard session != nil else {
            handleLogin(context: context, pdu: pdu)
            return
        }
        if [.scsiCommand, .nopOut, .textRequest, .logoutRequest, .taskManagementRequest].contains(pdu.opcode) {
            let commandSequenceNumber = pdu.header.uint32(at: 24)
            if !pdu.header.isImmediate {
                // Outside [ExpCmdSN, MaxCmdSN]: RFC 7143 §4.2.2.1 says silently ignore.
                let window = sequence
                guard Self.serialLessOrEqual(window.expectedCommandSequenceNumber, commandSequenceNumber),
                    Self.serialLessOrEqual(commandSequenceNumber, window.maximumCommandSequenceNumber)
                else {
                    logger.debug("command outside the window dropped", metadata: ["iscsi.cmdsn": .stringConvertible(commandSequenceNumber)])
                    return
                }
                // One connection delivers commands in CmdSN order; each non-immediate one advances the window.
                expectedCommandSequenceNumber = commandSequenceNumber &+ 1
            }
        }
        switch pdu.opcode {
        case .scsiCommand:
            fence?.touch()
            handleCommand(context: context, command: ISCSISCSICommand(pdu))
        case .dataOut: handleDataOut(context: context, dataOut: ISCSIDataOut(pdu))
        case .nopOut:
            if ISCSINop.initiatorTaskTag(of: pdu) != 0xFFFF_FFFF {
                context.writeAndFlush(wrapOutboundOut(ISCSINop.reply(to: pdu, sequence: takeStatusSequence())), promise: nil)
            }
        case .textRequest: handleText(context: context, pdu: pdu)
        case .logoutRequest:
            isClosing = true
            let response = ISCSILogout.response(to: pdu, sequence: takeStatusSequence())
            context.writeAndFlush(wrapOutboundOut(response)).whenComplete { _ in context.close(promise: nil) }
        case .taskManagementRequest:
            handleTaskManagement(context: context, request: pdu)
        default:
            context.writeAndFlush(wrapOutboundOut(ISCSIReject.pdu(rejecting: pdu.header, reason: .commandNotSupported, sequence: sequence)), promise: nil)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("iSCSI connection error", metadata: ["error": .string("\(error)")])
        context.close(promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // Tasks still executing finish on the pool; their answers have nowhere to go. Queued ones
        // never start.
        if let admission {
            for task in tasks.values { if let ticket = task.queuedTicket { admission.cancel(ticket) } }
        }
        tasks.removeAll()
        isClosing = true
        registry?.remove(channel: context.channel)
        if let unit, let nexus { unit.nexusLost(nexus) }
        context.fireChannelInactive()
    }

    /// RFC 1982 serial number arithmetic on 32 bits.
    static func serialLessOrEqual(_ a: UInt32, _ b: UInt32) -> Bool {
        a == b || (b &- a) < 0x8000_0000
    }

    // MARK: Login

    func handleLogin(context: ChannelHandlerContext, pdu: ISCSIPDU) {
        guard pdu.opcode == .loginRequest else {
            logger.debug("PDU before login completed", metadata: ["iscsi.opcode": .string("\(pdu.opcode)")])
            context.close(promise: nil)
            return
        }
        let request: ISCSILoginRequest
        do {
            request = try ISCSILoginRequest(pdu)
        } catch {
            logger.debug("malformed login request", metadata: ["error": .string("\(error)")])
            context.close(promise: nil)
            return
        }
        let peer = context.channel.remoteAddress?.ipAddress ?? "-"
        let action: ISCSILoginStateMachine.Action
        if let throttle, !throttle.allows(peer) {
            action = login.refuseLogin(request, status: .authenticationFailure)
        } else {
            action = login.loginRequestReceived(request)
        }
        switch action {
        case .respond(let response):
            context.writeAndFlush(wrapOutboundOut(response.pdu), promise: nil)
        case .respondAndClose(let response):
            // Never the secrets: the status, who, and from where.
            logger.info(
                "login refused",
                metadata: [
                    "iscsi.status": .string("\(response.status)"), "iscsi.initiator": .string(login.parameters.initiatorName), "iscsi.source": .string(peer),
                ]
            )
            // Only wrong secrets count: a host retrying a volume it lost must not lock itself out of the others.
            if response.status == .authenticationFailure { throttle?.recordFailure(peer) }
            isClosing = true
            context.writeAndFlush(wrapOutboundOut(response.pdu)).whenComplete { _ in context.close(promise: nil) }
        case .respondAndEnterFullFeature(let response, let parameters):
            session = parameters
            statusSequenceNumber = response.statusSequenceNumber &+ 1
            expectedCommandSequenceNumber = request.commandSequenceNumber
            if parameters.sessionType == .normal, let target = parameters.targetName {
                unit = catalog.logicalUnit(forTarget: target)
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let fence = ISCSIConnectionFence(channel: context.channel) { loopBound.value.stopForFence() }
                self.fence = fence
                registry?.add(
                    .init(target: target, initiator: parameters.initiatorName, initiatorPort: parameters.initiatorPortName), channel: context.channel,
                    fence: fence
                )
                // Registered first, then checked again: a fence that ran since the first check
                // either saw this session in the registry or made this check fail.
                guard catalog.authorize(initiator: parameters.initiatorName, target: target).isAllowed else {
                    logger.notice("access revoked during login", metadata: ["iscsi.initiator": .string(parameters.initiatorName)])
                    isClosing = true
                    context.close(promise: nil)
                    return
                }
                nexus = SCSINexus(
                    initiatorPort: parameters.initiatorPortName, targetPort: target + ",t,0x" + String(limits.targetPortalGroupTag, radix: 16)
                )
            }
            logger[metadataKey: "iscsi.initiator"] = .string(parameters.initiatorName)
            logger[metadataKey: "iscsi.target"] = .string(parameters.targetName ?? "discovery")
            // The response goes out with login framing; everything after it uses the negotiated one.
            context.writeAndFlush(wrapOutboundOut(response.pdu), promise: nil)
            framing.framing = ISCSIFraming(
                headerDigest: parameters.headerDigest, dataDigest: parameters.dataDigest, maximumDataSegmentLength: parameters.targetMaxRecvDataSegmentLength
            )
        }
    }

    // MARK: Discovery

    func handleText(context: ChannelHandlerContext, pdu: ISCSIPDU) {
        var answers = ISCSITextParameters()
        if let request = try? ISCSITextRequest(pdu), request.parameters["SendTargets"] != nil, let session {
            let address = context.channel.localAddress.map { "\($0.ipAddress ?? "127.0.0.1"):\($0.port ?? 3260)" } ?? "127.0.0.1:3260"
            let wanted = request.parameters["SendTargets"]
            for name in catalog.targetNames(visibleTo: session.initiatorName) where wanted == "All" || wanted == name || (wanted == "" && name == session.targetName) {
                answers.append(key: "TargetName", value: name)
                answers.append(key: "TargetAddress", value: "\(address),\(limits.targetPortalGroupTag)")
            }
        }
        let numbers = takeStatusSequence()
        let response = ISCSITextResponse(
            initiatorTaskTag: pdu.header.initiatorTaskTag, statusSequenceNumber: numbers.statusSequenceNumber,
            expectedCommandSequenceNumber: numbers.expectedCommandSequenceNumber, maximumCommandSequenceNumber: numbers.maximumCommandSequenceNumber,
            parameters: answers
        )
        context.writeAndFlush(wrapOutboundOut(response.pdu), promise: nil)
    }

    // MARK: Task management

    func handleTaskManagement(context: ChannelHandlerContext, request: ISCSIPDU) {
        let function = request.header.flags & 0x7F
        let result: ISCSITaskManagementResponse.Result
        switch function {
        case 1:  // ABORT TASK
            let referenced = request.header.uint32(at: 20)
            if tasks[referenced] != nil {
                abort(taskTag: referenced)
                result = .functionComplete
            } else {
                // One connection delivers commands in CmdSN order, so a task we do not hold was
                // answered already (or never sent): "task does not exist" (RFC 7143 §11.6.1 c).
                result = .taskDoesNotExist
            }
        case 2, 4:  // ABORT TASK SET, CLEAR TASK SET: this session's tasks are the whole set it sees
            for tag in tasks.keys { abort(taskTag: tag) }
            result = .functionComplete
        case 3:  // CLEAR ACA: ACA is never established (NACA unsupported)
            result = .functionComplete
        case 5, 6, 7:  // LOGICAL UNIT RESET, TARGET WARM RESET, TARGET COLD RESET
            for tag in tasks.keys { abort(taskTag: tag) }
            if let unit, let nexus { unit.reset(initiatedBy: nexus) }
            result = .functionComplete
        case 8:
            result = .reassignmentNotSupported
        default:
            result = .functionRejected
        }
        let response = ISCSITaskManagementResponse(result: result, initiatorTaskTag: request.header.initiatorTaskTag, sequence: takeStatusSequence())
        if function == 7 {
            // A cold reset ends every connection (RFC 7143 §11.5.1).
            isClosing = true
            context.writeAndFlush(wrapOutboundOut(response.pdu)).whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(response.pdu), promise: nil)
    }

    /// The connection's part of a fence: no new command, queued ones (for QoS or for write data)
    /// dropped unexecuted; executing ones finish (the fence waits for them) without an answer.
    func stopForFence() {
        isClosing = true
        for (tag, task) in tasks {
            if let ticket = task.queuedTicket {
                admission?.cancel(ticket)
                tasks[tag] = nil
            } else if task.data != nil {
                tasks[tag] = nil
            }
        }
    }

    /// Aborted tasks get no response: collecting ones are dropped, executing ones finish silently.
    func abort(taskTag: UInt32) {
        guard var task = tasks[taskTag] else { return }
        if let ticket = task.queuedTicket {
            admission?.cancel(ticket)
            tasks[taskTag] = nil
        } else if task.data != nil {
            tasks[taskTag] = nil
        } else {
            task.aborted = true
            tasks[taskTag] = task
        }
    }

    // MARK: SCSI commands

    func handleCommand(context: ChannelHandlerContext, command: ISCSISCSICommand) {
        guard let unit, session?.sessionType == .normal, command.logicalUnitNumber == 0 else {
            respond(context: context, command: command, result: .check(.logicalUnitNotSupported))
            return
        }
        guard tasks[command.initiatorTaskTag] == nil else {
            // A tag still in use: the initiator broke the protocol.
            context.writeAndFlush(wrapOutboundOut(ISCSIReject.pdu(rejecting: command.pdu.header, reason: .invalidPDUField, sequence: sequence)), promise: nil)
            return
        }
        let expected = Int(command.expectedDataTransferLength)
        guard expected <= Self.maximumTransferBytes else {
            respond(context: context, command: command, result: .check(.invalidFieldInCDB))
            return
        }
        guard let parameters = session else { return }
        let immediate = command.immediateData.readableBytes
        if command.writes && expected > immediate {
            // Unsolicited Data-Out follows unless InitialR2T=Yes, up to FirstBurstLength (F bit clear).
            let unsolicited = !parameters.initialR2T && !command.isFinal && immediate < min(parameters.firstBurstLength, expected)
            var data = takeSpareBuffer(capacity: expected)
            var immediateData = command.immediateData
            data.writeBuffer(&immediateData)
            var task = Task(command: command, data: data, awaitingUnsolicited: unsolicited)
            task.solicitedEnd = unsolicited ? min(parameters.firstBurstLength, expected) : immediate
            if !unsolicited { requestMoreData(context: context, task: &task) }
            tasks[command.initiatorTaskTag] = task
            return
        }
        execute(context: context, unit: unit, command: command, dataOut: command.immediateData)
    }

    func handleDataOut(context: ChannelHandlerContext, dataOut: ISCSIDataOut) {
        // Taken out of the table while it grows: a second reference would make every append copy
        // the whole buffer (copy-on-write).
        guard var task = tasks.removeValue(forKey: dataOut.initiatorTaskTag) else {
            // Data for an aborted task is discarded quietly.
            logger.debug("Data-Out for no task", metadata: ["iscsi.itt": .stringConvertible(dataOut.initiatorTaskTag)])
            return
        }
        guard var data = task.data else {
            tasks[dataOut.initiatorTaskTag] = task  // executing already: the extra data is ignored
            logger.debug("Data-Out for a task that has all its data", metadata: ["iscsi.itt": .stringConvertible(dataOut.initiatorTaskTag)])
            return
        }
        task.data = nil
        let expected = Int(task.command.expectedDataTransferLength)
        guard Int(dataOut.bufferOffset) == data.readableBytes, data.readableBytes + dataOut.data.readableBytes <= min(expected, task.solicitedEnd),
            dataOut.dataSequenceNumber == task.nextDataSequenceNumber
        else {
            // A DataSN or offset gap means a Data-Out was lost (RFC 7143 §7.8.2, §7.9). Without
            // recovery R2Ts (ErrorRecoveryLevel 0) the task ends with CHECK CONDITION, which keeps
            // the connection and every other task; the task's later Data-Outs find no task.
            logger.debug(
                "Data-Out out of sequence; task terminated",
                metadata: [
                    "iscsi.itt": .stringConvertible(dataOut.initiatorTaskTag), "iscsi.datasn": .stringConvertible(dataOut.dataSequenceNumber),
                    "iscsi.offset": .stringConvertible(dataOut.bufferOffset),
                ]
            )
            recycle(data)
            respond(context: context, command: task.command, result: .check(.protocolServiceCRCError))
            return
        }
        var piece = dataOut.data
        data.writeBuffer(&piece)
        task.nextDataSequenceNumber &+= 1
        if data.readableBytes == expected {
            guard let unit else { return }
            execute(context: context, unit: unit, command: task.command, dataOut: data)
            return
        }
        task.data = data
        if dataOut.isFinal && data.readableBytes == task.solicitedEnd {
            // The end of the unsolicited burst, or of an R2T's range: ask for the next range.
            task.awaitingUnsolicited = false
            requestMoreData(context: context, task: &task)
        }
        tasks[dataOut.initiatorTaskTag] = task
    }

    func requestMoreData(context: ChannelHandlerContext, task: inout Task) {
        let offset = task.data?.readableBytes ?? 0
        let expected = Int(task.command.expectedDataTransferLength)
        let length = min(expected - offset, session?.maxBurstLength ?? 262_144)
        guard length > 0 else { return }
        task.targetTransferTag = nextTargetTransferTag
        nextTargetTransferTag = nextTargetTransferTag &+ 1 == 0xFFFF_FFFF ? 1 : nextTargetTransferTag &+ 1
        task.solicitedEnd = offset + length
        task.nextDataSequenceNumber = 0
        let r2t = ISCSIReadyToTransfer(
            initiatorTaskTag: task.command.initiatorTaskTag, targetTransferTag: task.targetTransferTag, sequence: sequence,
            readyToTransferSequenceNumber: task.readyToTransferSequenceNumber, bufferOffset: UInt32(offset), desiredDataTransferLength: UInt32(length)
        )
        task.readyToTransferSequenceNumber &+= 1
        context.writeAndFlush(wrapOutboundOut(r2t.pdu), promise: nil)
    }

    /// Runs a command whose data has all arrived, once admission (QoS) lets it start.
    func execute(context: ChannelHandlerContext, unit: SCSILogicalUnit, command: ISCSISCSICommand, dataOut: ByteBuffer) {
        guard let admission, let session, let target = session.targetName else {
            perform(context: context, unit: unit, command: command, dataOut: dataOut, ticket: nil)
            return
        }
        let tag = command.initiatorTaskTag
        let request = ISCSIAdmissionRequest(
            target: target, initiator: session.initiatorName, cdb: command.cdb, transferBytes: Int(command.expectedDataTransferLength),
            isWrite: command.writes
        )
        let decision = admission.admit(request) { ticket in
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            return {
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    guard let task = handler.tasks[tag], task.queuedTicket == ticket else { return }
                    handler.tasks[tag] = nil
                    handler.perform(context: context, unit: unit, command: command, dataOut: dataOut, ticket: ticket)
                }
            }
        }
        switch decision {
        case .bypass:
            perform(context: context, unit: unit, command: command, dataOut: dataOut, ticket: nil)
        case .admitted(let ticket):
            perform(context: context, unit: unit, command: command, dataOut: dataOut, ticket: ticket)
        case .queued(let ticket):
            // Stored before the start callback can run: it hops to this event loop.
            tasks[tag] = Task(command: command, data: nil, queuedTicket: ticket)
        }
    }

    func perform(context: ChannelHandlerContext, unit: SCSILogicalUnit, command: ISCSISCSICommand, dataOut: ByteBuffer, ticket: ISCSIAdmissionTicket?) {
        guard let nexus else { return }
        let tag = command.initiatorTaskTag
        let request = SCSIRequest(
            cdb: command.cdb, dataOut: dataOut, nexus: nexus, attribute: SCSITaskAttribute(rawValue: command.taskAttribute) ?? .simple,
            expectedDataTransferLength: Int(command.expectedDataTransferLength)
        )
        // Whatever cannot wait for the disk runs here, without a thread-pool round trip.
        let started = NIODeadline.now()
        if let result = unit.executeWithoutBlocking(request, allowBufferedWrites: limits.inlineBufferedWrites && started >= inlineWritesResumeAt) {
            if command.writes, NIODeadline.now() - started > Self.inlineWriteStall {
                // The page cache pushed back (writeback throttling): keep writes off the event loop for a while.
                inlineWritesResumeAt = NIODeadline.now() + Self.inlineWriteBackoff
                logger.debug("buffered write stalled the event loop; writes go to the I/O threads for a while")
            }
            respond(context: context, command: command, result: result)
            if let ticket { admission?.finished(ticket, status: result.status) }
            recycle(dataOut)
            return
        }
        tasks[tag] = Task(command: command, data: nil)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let fence = self.fence
        fence?.started()
        threadPool.runIfActive(eventLoop: context.eventLoop) {
            unit.execute(request)
        }.whenComplete { outcome in
            fence?.finished()
            let (handler, context) = loopBound.value
            handler.recycle(dataOut)
            let result: SCSICommandResult
            switch outcome {
            case .success(let success): result = success
            case .failure: result = .check(.internalTargetFailure)
            }
            if let ticket { handler.admission?.finished(ticket, status: result.status) }
            guard let task = handler.tasks.removeValue(forKey: tag), !task.aborted, !handler.isClosing else { return }
            handler.respond(context: context, command: command, result: result)
        }
    }

    func takeSpareBuffer(capacity: Int) -> ByteBuffer {
        if let index = spareBuffers.firstIndex(where: { $0.capacity >= capacity }) {
            var buffer = spareBuffers.remove(at: index)
            buffer.clear()
            return buffer
        }
        return ByteBufferAllocator().buffer(capacity: capacity)
    }

    /// Keeps a finished write's buffer (once nothing else holds it, it is reused in place).
    func recycle(_ buffer: ByteBuffer) {
        guard buffer.capacity >= 64 << 10, buffer.capacity <= 2 << 20, spareBuffers.count < Self.maximumSpareBuffers else { return }
        spareBuffers.append(buffer)
    }

    func respond(context: ChannelHandlerContext, command: ISCSISCSICommand, result: SCSICommandResult) {
        let expected = Int(command.expectedDataTransferLength)
        var data = result.data
        if result.status == SCSIStatus.good, command.reads, data.readableBytes > 0, expected > 0 {
            let residual = ISCSIResidual(expected: expected, actual: data.readableBytes)
            // Data-In PDUs no larger than the initiator accepts; the status rides on the last one.
            if data.readableBytes > expected { data = data.getSlice(at: data.readerIndex, length: expected)! }
            let segment = session?.initiatorMaxRecvDataSegmentLength ?? 8192
            var offset = 0
            var dataSequenceNumber: UInt32 = 0
            while data.readableBytes > 0 {
                let piece = data.readSlice(length: min(segment, data.readableBytes))!
                let last = data.readableBytes == 0
                let dataIn = ISCSIDataIn(
                    isFinal: last, initiatorTaskTag: command.initiatorTaskTag, status: last ? result.status : nil, residual: residual,
                    sequence: last ? takeStatusSequence() : sequence, dataSequenceNumber: dataSequenceNumber, bufferOffset: UInt32(offset), data: piece
                )
                context.write(wrapOutboundOut(dataIn.pdu), promise: nil)
                offset += piece.readableBytes
                dataSequenceNumber &+= 1
            }
            context.flush()
            return
        }
        var residual = ISCSIResidual.none
        if result.status == SCSIStatus.good, command.reads {
            residual = ISCSIResidual(expected: expected, actual: data.readableBytes)
        } else if let dataOutLength = result.dataOutLength {
            // Against what the CDB asked for, also on CHECK CONDITION and with no data sent at all.
            residual = ISCSIResidual(expected: expected, actual: dataOutLength)
        }
        let response = ISCSISCSIResponse(
            initiatorTaskTag: command.initiatorTaskTag, status: result.status, residual: residual,
            sequence: takeStatusSequence(), expectedDataSequenceNumber: 0, senseData: result.sense?.bytes ?? []
        )
        context.writeAndFlush(wrapOutboundOut(response.pdu), promise: nil)
    }
}

@available(*, unavailable)
extension ISCSITargetConnectionHandler: Sendable {}
