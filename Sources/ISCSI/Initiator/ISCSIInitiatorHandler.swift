import Logging
import NIOCore

/// The initiator side of one connection, on its event loop: login, then commands pipelined up to
/// the target's MaxCmdSN (beyond it they wait in a bounded queue), Data-In reassembly, R2T-driven
/// Data-Out, NOP-In answers, logout. Every outstanding request fails when the connection drops.
final class ISCSIInitiatorHandler: ChannelInboundHandler {
    typealias InboundIn = ISCSIPDU
    typealias OutboundOut = ISCSIPDU

    /// Commands that may wait for the command window to open.
    static let maximumQueuedCommands = 4096

    struct Task {
        var request: ISCSIInitiatorRequest
        var promise: EventLoopPromise<ISCSICommandOutcome>
        var dataIn: ByteBuffer
    }

    struct Queued {
        var request: ISCSIInitiatorRequest
        var promise: EventLoopPromise<ISCSICommandOutcome>
    }

    let framing: ISCSIFramingBox
    let logger: Logger
    var context: ChannelHandlerContext?
    var negotiated = ISCSINegotiatedParameters()
    var loginPromise: EventLoopPromise<ISCSILoginResponse>?
    var textPromise: EventLoopPromise<ISCSITextParameters>?
    var logoutPromise: EventLoopPromise<Void>?
    /// NOP-Outs awaiting their NOP-In, by task tag.
    var pings: [UInt32: EventLoopPromise<Void>] = [:]
    /// Task management requests awaiting their response, with the tasks they end on success.
    var taskManagement: [UInt32: (promise: EventLoopPromise<ISCSITaskManagementResponse.Result>, ends: [UInt32])] = [:]
    var tasks: [UInt32: Task] = [:]
    var queue: [Queued] = []
    var queueHead = 0
    var commandSequenceNumber: UInt32 = 1
    var maximumCommandSequenceNumber: UInt32 = 1
    var expectedStatusSequenceNumber: UInt32 = 0
    var nextTaskTag: UInt32 = 1
    var closedError: ISCSIInitiatorError?
    var logicalUnitNumber: UInt64 = 0

    init(framing: ISCSIFramingBox, logger: Logger) {
        self.framing = framing
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func takeTaskTag() -> UInt32 {
        repeat {
            nextTaskTag = nextTaskTag &+ 1
        } while nextTaskTag == 0xFFFF_FFFF || tasks[nextTaskTag] != nil
        return nextTaskTag
    }

    // MARK: Requests from the session

    func sendLogin(_ request: ISCSILoginRequest, promise: EventLoopPromise<ISCSILoginResponse>) {
        guard let context, closedError == nil else { return promise.fail(closedError ?? .connectionClosed) }
        loginPromise = promise
        context.writeAndFlush(wrapOutboundOut(request.pdu), promise: nil)
    }

    func enterFullFeature(_ parameters: ISCSINegotiatedParameters, response: ISCSILoginResponse, logicalUnitNumber: UInt64) {
        negotiated = parameters
        // SAM single-level LUN: peripheral addressing below 256, flat addressing above.
        self.logicalUnitNumber = logicalUnitNumber < 256 ? logicalUnitNumber << 48 : (0x4000 | (logicalUnitNumber & 0x3FFF)) << 48
        commandSequenceNumber = response.expectedCommandSequenceNumber
        maximumCommandSequenceNumber = response.maximumCommandSequenceNumber
        expectedStatusSequenceNumber = response.statusSequenceNumber &+ 1
        framing.framing = ISCSIFraming(headerDigest: false, dataDigest: false, maximumDataSegmentLength: parameters.initiatorMaxRecvDataSegmentLength)
    }

    func sendText(_ parameters: ISCSITextParameters, promise: EventLoopPromise<ISCSITextParameters>) {
        guard let context, closedError == nil else { return promise.fail(closedError ?? .connectionClosed) }
        textPromise = promise
        let request = ISCSITextRequest(
            initiatorTaskTag: takeTaskTag(), commandSequenceNumber: commandSequenceNumber, expectedStatusSequenceNumber: expectedStatusSequenceNumber,
            parameters: parameters
        )
        context.writeAndFlush(wrapOutboundOut(request.pdu), promise: nil)
    }

    func sendLogout(promise: EventLoopPromise<Void>) {
        guard let context, closedError == nil else { return promise.succeed() }
        logoutPromise = promise
        var header = ISCSIBasicHeaderSegment(opcode: .logoutRequest, immediate: true)
        header.isFinal = true  // reason 0: close the session
        header.initiatorTaskTag = takeTaskTag()
        header.setUInt32(commandSequenceNumber, at: 24)
        header.setUInt32(expectedStatusSequenceNumber, at: 28)
        context.writeAndFlush(wrapOutboundOut(ISCSIPDU(header: header)), promise: nil)
    }

    /// NOP-Out (immediate, so it needs no room in the command window) answered by a NOP-In.
    func sendPing(promise: EventLoopPromise<Void>) {
        guard let context, closedError == nil, pings.count < 64 else { return promise.fail(closedError ?? .tooManyQueuedCommands) }
        let tag = takeTaskTag()
        pings[tag] = promise
        var header = ISCSIBasicHeaderSegment(opcode: .nopOut, immediate: true)
        header.isFinal = true
        header.initiatorTaskTag = tag
        header.setUInt32(0xFFFF_FFFF, at: 20)
        header.setUInt32(commandSequenceNumber, at: 24)
        header.setUInt32(expectedStatusSequenceNumber, at: 28)
        context.writeAndFlush(wrapOutboundOut(ISCSIPDU(header: header)), promise: nil)
    }

    /// ABORT TASK SET (immediate): on "function complete" every command sent before it fails
    /// with ``ISCSIInitiatorError/aborted`` (the target answers none of them).
    func sendAbortTaskSet(promise: EventLoopPromise<ISCSITaskManagementResponse.Result>) {
        guard let context, closedError == nil, taskManagement.count < 16 else { return promise.fail(closedError ?? .tooManyQueuedCommands) }
        let tag = takeTaskTag()
        taskManagement[tag] = (promise, Array(tasks.keys))
        var header = ISCSIBasicHeaderSegment(opcode: .taskManagementRequest, immediate: true)
        header.isFinal = true
        header.flags = 0x80 | 2
        header.logicalUnitNumber = logicalUnitNumber
        header.initiatorTaskTag = tag
        header.setUInt32(0xFFFF_FFFF, at: 20)
        header.setUInt32(commandSequenceNumber, at: 24)
        header.setUInt32(expectedStatusSequenceNumber, at: 28)
        context.writeAndFlush(wrapOutboundOut(ISCSIPDU(header: header)), promise: nil)
    }

    func submit(_ request: ISCSIInitiatorRequest, promise: EventLoopPromise<ISCSICommandOutcome>) {
        if let closedError { return promise.fail(closedError) }
        guard queue.count - queueHead < Self.maximumQueuedCommands else { return promise.fail(ISCSIInitiatorError.tooManyQueuedCommands) }
        queue.append(Queued(request: request, promise: promise))
        drain()
    }

    /// Sends queued commands while the window allows.
    func drain() {
        guard let context else { return }
        var sent = false
        while queueHead < queue.count, ISCSITargetConnectionHandler.serialLessOrEqual(commandSequenceNumber, maximumCommandSequenceNumber) {
            let next = queue[queueHead]
            queueHead += 1
            send(next.request, promise: next.promise, context: context)
            sent = true
        }
        if queueHead > 1024 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        if sent { context.flush() }
    }

    func send(_ request: ISCSIInitiatorRequest, promise: EventLoopPromise<ISCSICommandOutcome>, context: ChannelHandlerContext) {
        let tag = takeTaskTag()
        let dataOutLength = request.dataOut?.readableBytes ?? 0
        let expected = request.dataOut != nil ? dataOutLength : request.expectedDataIn
        var immediate = ByteBuffer()
        var unsolicitedEnd = 0
        if let dataOut = request.dataOut {
            let firstBurst = min(negotiated.firstBurstLength, dataOutLength)
            if negotiated.immediateData {
                let length = min(firstBurst, negotiated.targetMaxRecvDataSegmentLength)
                immediate = dataOut.getSlice(at: dataOut.readerIndex, length: length)!
                unsolicitedEnd = length
            }
            if !negotiated.initialR2T { unsolicitedEnd = firstBurst }
        }
        var command = ISCSISCSICommand(
            reads: request.dataOut == nil && request.expectedDataIn > 0, writes: request.dataOut != nil, initiatorTaskTag: tag,
            expectedDataTransferLength: UInt32(expected), commandSequenceNumber: commandSequenceNumber,
            expectedStatusSequenceNumber: expectedStatusSequenceNumber, cdb: request.cdb, immediateData: immediate
        )
        // F is clear while unsolicited Data-Out follows the command.
        command.isFinal = unsolicitedEnd <= immediate.readableBytes
        command.logicalUnitNumber = logicalUnitNumber
        commandSequenceNumber &+= 1
        tasks[tag] = Task(request: request, promise: promise, dataIn: ByteBuffer())
        context.write(wrapOutboundOut(command.pdu), promise: nil)
        if let dataOut = request.dataOut, unsolicitedEnd > immediate.readableBytes {
            sendDataOut(context: context, tag: tag, targetTransferTag: 0xFFFF_FFFF, data: dataOut, from: immediate.readableBytes, to: unsolicitedEnd)
        }
    }

    func sendDataOut(context: ChannelHandlerContext, tag: UInt32, targetTransferTag: UInt32, data: ByteBuffer, from start: Int, to end: Int) {
        var offset = start
        var dataSequenceNumber: UInt32 = 0
        let segment = negotiated.targetMaxRecvDataSegmentLength
        while offset < end {
            let length = min(segment, end - offset)
            let dataOut = ISCSIDataOut(
                isFinal: offset + length == end, initiatorTaskTag: tag, targetTransferTag: targetTransferTag,
                expectedStatusSequenceNumber: expectedStatusSequenceNumber, dataSequenceNumber: dataSequenceNumber, bufferOffset: UInt32(offset),
                data: data.getSlice(at: data.readerIndex + offset, length: length)!
            )
            context.write(wrapOutboundOut(dataOut.pdu), promise: nil)
            offset += length
            dataSequenceNumber &+= 1
        }
    }

    // MARK: From the target

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let pdu = unwrapInboundIn(data)
        switch pdu.opcode {
        case .loginResponse:
            guard let promise = loginPromise else { return protocolError(context, "unexpected login response") }
            loginPromise = nil
            do {
                promise.succeed(try ISCSILoginResponse(pdu))
            } catch {
                promise.fail(ISCSIInitiatorError.protocolViolation("malformed login response: \(error)"))
            }
        case .dataIn:
            let dataIn = ISCSIDataIn(pdu)
            updateWindow(dataIn.sequence, carriesStatus: dataIn.status != nil)
            guard var task = tasks[dataIn.initiatorTaskTag] else { return protocolError(context, "Data-In for an unknown task") }
            guard Int(dataIn.bufferOffset) == task.dataIn.readableBytes, task.dataIn.readableBytes + dataIn.data.readableBytes <= task.request.expectedDataIn
            else { return protocolError(context, "Data-In out of order or beyond the expected length") }
            var piece = dataIn.data
            if task.dataIn.capacity == 0 { task.dataIn = context.channel.allocator.buffer(capacity: task.request.expectedDataIn) }
            task.dataIn.writeBuffer(&piece)
            if let status = dataIn.status {
                tasks[dataIn.initiatorTaskTag] = nil
                task.promise.succeed(ISCSICommandOutcome(status: status, senseData: [], data: task.dataIn, residual: dataIn.residual))
            } else {
                tasks[dataIn.initiatorTaskTag] = task
            }
        case .scsiResponse:
            let response = ISCSISCSIResponse(pdu)
            updateWindow(response.sequence, carriesStatus: true)
            guard let task = tasks.removeValue(forKey: response.initiatorTaskTag) else { return protocolError(context, "response for an unknown task") }
            task.promise.succeed(ISCSICommandOutcome(status: response.status, senseData: response.senseData, data: task.dataIn, residual: response.residual))
        case .readyToTransfer:
            let r2t = ISCSIReadyToTransfer(pdu)
            updateWindow(r2t.sequence, carriesStatus: false)
            guard let task = tasks[r2t.initiatorTaskTag], let data = task.request.dataOut else { return protocolError(context, "R2T for an unknown task") }
            let start = Int(r2t.bufferOffset)
            let end = start + Int(r2t.desiredDataTransferLength)
            guard end <= data.readableBytes, start < end else { return protocolError(context, "R2T beyond the write's data") }
            sendDataOut(context: context, tag: r2t.initiatorTaskTag, targetTransferTag: r2t.targetTransferTag, data: data, from: start, to: end)
            context.flush()
        case .nopIn:
            let numbers = ISCSISequenceNumbers(pdu.header)
            let targetTransferTag = pdu.header.uint32(at: 20)
            updateWindow(numbers, carriesStatus: pdu.header.initiatorTaskTag != 0xFFFF_FFFF)
            if let ping = pings.removeValue(forKey: pdu.header.initiatorTaskTag) { ping.succeed() }
            if targetTransferTag != 0xFFFF_FFFF {
                // The target pings: answer with its tag, immediately.
                var header = ISCSIBasicHeaderSegment(opcode: .nopOut, immediate: true)
                header.isFinal = true
                header.logicalUnitNumber = pdu.header.logicalUnitNumber
                header.initiatorTaskTag = 0xFFFF_FFFF
                header.setUInt32(targetTransferTag, at: 20)
                header.setUInt32(commandSequenceNumber, at: 24)
                header.setUInt32(expectedStatusSequenceNumber, at: 28)
                context.writeAndFlush(wrapOutboundOut(ISCSIPDU(header: header)), promise: nil)
            }
        case .textResponse:
            updateWindow(ISCSISequenceNumbers(pdu.header), carriesStatus: true)
            guard let promise = textPromise else { return protocolError(context, "unexpected text response") }
            textPromise = nil
            do {
                promise.succeed(try ISCSITextResponse(pdu).parameters)
            } catch {
                promise.fail(ISCSIInitiatorError.protocolViolation("malformed text response: \(error)"))
            }
        case .logoutResponse:
            updateWindow(ISCSISequenceNumbers(pdu.header), carriesStatus: true)
            logoutPromise?.succeed()
            logoutPromise = nil
            context.close(promise: nil)
        case .reject:
            logger.warning("the target rejected a PDU", metadata: ["iscsi.reason": .stringConvertible(pdu.header.uint8(at: 2))])
            updateWindow(ISCSISequenceNumbers(pdu.header), carriesStatus: true)
        case .asyncMessage:
            updateWindow(ISCSISequenceNumbers(pdu.header), carriesStatus: true)
            let event = pdu.header.uint8(at: 36)
            if event == 1 || event == 2 || event == 3 {
                // The target asks for logout or is dropping the connection.
                logger.notice("the target ends the session", metadata: ["iscsi.event": .stringConvertible(event)])
                context.close(promise: nil)
            }
        case .taskManagementResponse:
            updateWindow(ISCSISequenceNumbers(pdu.header), carriesStatus: true)
            let response = ISCSITaskManagementResponse(pdu)
            if let pending = taskManagement.removeValue(forKey: response.initiatorTaskTag) {
                if response.result == .functionComplete {
                    for tag in pending.ends { tasks.removeValue(forKey: tag)?.promise.fail(ISCSIInitiatorError.aborted) }
                }
                pending.promise.succeed(response.result)
            }
        default:
            protocolError(context, "unexpected \(pdu.opcode)")
        }
    }

    func updateWindow(_ numbers: ISCSISequenceNumbers, carriesStatus: Bool) {
        if carriesStatus { expectedStatusSequenceNumber = numbers.statusSequenceNumber &+ 1 }
        // MaxCmdSN only moves forward (a stale PDU must not shrink the window).
        let maximum = numbers.maximumCommandSequenceNumber
        if ISCSITargetConnectionHandler.serialLessOrEqual(maximumCommandSequenceNumber, maximum)
            || maximum &+ 1 == numbers.expectedCommandSequenceNumber
        {
            maximumCommandSequenceNumber = maximum
        }
        drain()
    }

    func protocolError(_ context: ChannelHandlerContext, _ reason: String) {
        logger.warning("iSCSI protocol violation by the target", metadata: ["reason": .string(reason)])
        fail(.protocolViolation(reason))
        context.close(promise: nil)
    }

    func fail(_ error: ISCSIInitiatorError) {
        if closedError == nil { closedError = error }
        let failing = tasks.values
        tasks.removeAll()
        for task in failing { task.promise.fail(error) }
        let waiting = queue[queueHead...]
        queue.removeAll()
        queueHead = 0
        for item in waiting { item.promise.fail(error) }
        loginPromise?.fail(error)
        loginPromise = nil
        textPromise?.fail(error)
        textPromise = nil
        logoutPromise?.succeed()
        logoutPromise = nil
        for ping in pings.values { ping.fail(error) }
        pings.removeAll()
        for pending in taskManagement.values { pending.promise.fail(error) }
        taskManagement.removeAll()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.protocolViolation("\(error)"))
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ISCSIInitiatorHandler: Sendable {}
