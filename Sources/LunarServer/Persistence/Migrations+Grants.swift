extension Migrations {
    /// Which host may reach which volume, and why: the server's record of every access it gave a
    /// managed pool's storage, so the reconciler can take away what no record justifies.
    static let volumeGrants = Migration(
        name: "0003_volume_grants",
        statements: [
            """
            CREATE TABLE volume_grants (
                volume_id TEXT NOT NULL REFERENCES volumes(id),
                host_id TEXT NOT NULL REFERENCES hosts(id),
                reason TEXT NOT NULL CHECK (reason IN ('attach', 'start', 'migration')),
                job_id TEXT,
                created BIGINT NOT NULL,
                PRIMARY KEY (volume_id, host_id)
            )
            """,
            "CREATE INDEX volume_grants_host ON volume_grants (host_id)",
        ]
    )
}
