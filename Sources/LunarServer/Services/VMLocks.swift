import LunarModel

/// One flow at a time per VM: jobs (start, stop, attach, migrate, ...) and HA's recoveries take
/// the VM's turn here, so a stop cannot miss a disk an attach is adding, nor HA undo a live job.
/// In this process only; several servers on one database would claim VMs by row instead.
public actor VMLocks {
    var queues: [VirtualMachineID: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public func withLock<T: Sendable>(_ id: VirtualMachineID, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(id)
        do {
            let result = try await body()
            release(id)
            return result
        } catch {
            release(id)
            throw error
        }
    }

    func acquire(_ id: VirtualMachineID) async {
        if queues[id] == nil {
            queues[id] = []
            return
        }
        await withCheckedContinuation { queues[id, default: []].append($0) }
    }

    func release(_ id: VirtualMachineID) {
        guard var waiting = queues[id] else { return }
        if waiting.isEmpty {
            queues[id] = nil
        } else {
            let next = waiting.removeFirst()
            queues[id] = waiting
            next.resume()
        }
    }
}
