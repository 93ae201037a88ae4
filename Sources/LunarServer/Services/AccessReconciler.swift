import LunarModel
import LunarStorage

/// Compares what each managed pool's storage allows with the grants the server recorded, and
/// takes away (fenced) every access no grant justifies — what a crash between a revoke's two
/// steps, or someone working the SAN by hand, can leave. Recorded grants the storage does not
/// honour are reported, not re-made: the next attach or start grants again.
struct AccessReconciler: Sendable {
    let server: ServerContext

    struct Finding: Sendable, Hashable {
        enum Action: String, Sendable { case removed, wouldRemove = "would remove", missing }
        var pool: StoragePool
        var access: StorageAccess
        var action: Action
    }

    func run(dryRun: Bool) async throws -> [Finding] {
        var findings: [Finding] = []
        let pools = try await server.store.storagePools(id: nil, zoneID: nil, clusterID: nil, name: nil, scope: nil, keyword: nil, window: .all).items
        for pool in pools where pool.isManaged {
            guard let (_, details) = try await server.store.poolDescriptor(pool.id) else { continue }
            let provider = try server.providers.require(pool.provider)
            let descriptor = pool.descriptor(details: details)
            let actual = try await provider.accessList(in: descriptor)
            let justified = try await server.store.grantedAccess(pool: pool.id)
            for access in actual.subtracting(justified).sorted() {
                if !dryRun { try await provider.removeAccess(access, in: descriptor) }
                findings.append(Finding(pool: pool, access: access, action: dryRun ? .wouldRemove : .removed))
            }
            for access in justified.subtracting(actual).sorted() { findings.append(Finding(pool: pool, access: access, action: .missing)) }
        }
        if !findings.isEmpty {
            server.logger.notice(
                "storage access reconciled",
                metadata: ["lunar.findings": .stringConvertible(findings.count), "lunar.dry_run": .stringConvertible(dryRun)]
            )
        }
        return findings
    }
}
