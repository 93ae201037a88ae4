import LunarModel
import LunarStorage
import LunarWire

/// DESIGN.md's invariant, checked against the real parts: a volume's access at the SAN (and the
/// server's grant records) name exactly the hosts that run its VM — two only while it migrates —
/// and every attached volume is connected on exactly those hosts (as their agents report).
/// Meant for settled moments (no job running on the VMs); a VM in Starting/Stopping may hold a
/// subset.
struct InvariantChecker: Sendable {
    let server: ServerContext

    func violations() async throws -> [String] {
        let store = server.store
        var problems: [String] = []
        var expected: [VolumeID: Set<HostID>] = [:]
        var transitional: Set<VolumeID> = []
        let hosts = Dictionary(uniqueKeysWithValues: try await store.allHosts().map { ($0.id, $0) })
        for vm in try await store.allVirtualMachines() {
            var holders: Set<HostID> = []
            switch vm.state {
            case .running: holders = Set([vm.hostID].compactMap { $0 })
            case .migrating: holders = Set([vm.hostID, vm.migrationHostID].compactMap { $0 })
            case .starting, .stopping: holders = Set([vm.hostID].compactMap { $0 })
            default: break
            }
            for volume in try await store.volumes(of: vm.id) where volume.path != nil {
                expected[volume.id] = holders
                if [.starting, .stopping].contains(vm.state) { transitional.insert(volume.id) }
            }
        }
        // Grants recorded by the server.
        var granted: [VolumeID: Set<HostID>] = [:]
        for grant in try await store.grants() { granted[grant.volumeID, default: []].insert(grant.hostID) }
        // Access at the storage, per managed pool, by path and initiator.
        var volumesByPath: [String: Volume] = [:]
        var storageAccess: [VolumeID: Set<String>] = [:]
        for pool in try await store.storagePools(id: nil, zoneID: nil, clusterID: nil, name: nil, scope: nil, keyword: nil, window: .all).items where pool.isManaged {
            guard let (stored, details) = try await store.poolDescriptor(pool.id) else { continue }
            var filter = Store.VolumeFilter()
            filter.poolID = pool.id
            for volume in try await store.volumes(filter, window: .all).items { if let path = volume.path { volumesByPath[path] = volume } }
            let provider = try server.providers.require(pool.provider)
            for access in try await provider.accessList(in: stored.descriptor(details: details)) {
                guard let volume = volumesByPath[access.path] else {
                    problems.append("the SAN gives \(access.initiator) access to \(access.path), which no volume of the pool has")
                    continue
                }
                storageAccess[volume.id, default: []].insert(access.initiator)
            }
        }
        let initiators = Dictionary(hosts.values.compactMap { host in host.initiatorIQN.map { ($0, host.id) } }, uniquingKeysWith: { first, _ in first })
        let allVolumes = Set(expected.keys).union(granted.keys).union(storageAccess.keys)
        for volumeID in allVolumes {
            let want = expected[volumeID] ?? []
            let recorded = granted[volumeID] ?? []
            let atStorage = Set((storageAccess[volumeID] ?? []).map { initiators[$0] ?? HostID(trusted: "unknown:\($0)") })
            let name = volumesByPath.values.first { $0.id == volumeID }?.name ?? volumeID.uuid
            func names(_ ids: Set<HostID>) -> String { ids.map { hosts[$0]?.name ?? $0.uuid }.sorted().joined(separator: ",") }
            let isManaged = volumesByPath.values.contains { $0.id == volumeID }
            if transitional.contains(volumeID) {
                if !recorded.isSubset(of: want) { problems.append("volume \(name): grants \(names(recorded)) exceed \(names(want))") }
                if isManaged, !atStorage.isSubset(of: want) { problems.append("volume \(name): SAN access \(names(atStorage)) exceeds \(names(want))") }
                continue
            }
            if recorded != want { problems.append("volume \(name): grants \(names(recorded)), expected \(names(want))") }
            if isManaged, atStorage != want { problems.append("volume \(name): SAN access \(names(atStorage)), expected \(names(want))") }
        }
        // What the agents have connected.
        for host in hosts.values.sorted(by: { $0.name < $1.name }) where await server.agents.isConnected(host.id) {
            let result: AgentResult
            do {
                result = try await server.agents.call(.checkVMs, on: host.id)
            } catch {
                problems.append("host \(host.name) did not report what it holds: \(error)")
                continue
            }
            let connected = Set(result.connectedVolumes ?? [])
            let want = Set(expected.filter { $0.value.contains(host.id) && !transitional.contains($0.key) }.keys)
            let allowedExtra = Set(expected.filter { $0.value.contains(host.id) && transitional.contains($0.key) }.keys)
            for volume in connected.subtracting(want).subtracting(allowedExtra) { problems.append("host \(host.name) has volume \(volume) connected for no VM there") }
            for volume in want.subtracting(connected) { problems.append("host \(host.name) lacks volume \(volume) of a VM it runs") }
        }
        return problems.sorted()
    }
}
