extension Migrations {
    /// Registered templates (the built-in one is not stored) and, per pool, the template volume
    /// root disks are copied from: made once, on first use, by writing the image into it.
    static let templates = Migration(
        name: "0008_templates",
        statements: [
            """
            CREATE TABLE templates (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
                display_text TEXT NOT NULL,
                format TEXT NOT NULL CHECK (format IN ('RAW', 'QCOW2')),
                size BIGINT NOT NULL,
                physical_size BIGINT,
                os_type_id TEXT,
                os_type_name TEXT NOT NULL,
                featured BIGINT NOT NULL,
                public BIGINT NOT NULL,
                hypervisor TEXT NOT NULL,
                url TEXT NOT NULL,
                checksum TEXT,
                zone_id TEXT REFERENCES zones(id),
                account_id TEXT REFERENCES accounts(id),
                state TEXT NOT NULL CHECK (state IN ('Downloading', 'Ready', 'Failed')),
                status TEXT NOT NULL,
                created BIGINT NOT NULL
            )
            """,
            // How a host runs guests (KVM or TCG), as its agent reports at registration.
            "ALTER TABLE hosts ADD COLUMN accel TEXT",
            // Whether a pool's storage reserves minimums, and whether it refuses what it cannot reserve.
            "ALTER TABLE storage_pools ADD COLUMN guarantees_minimum BIGINT NOT NULL DEFAULT 1",
            "ALTER TABLE storage_pools ADD COLUMN strict_qos BIGINT NOT NULL DEFAULT 0",
            "UPDATE storage_pools SET guarantees_minimum = 0 WHERE provider = 'local'",
            """
            CREATE TABLE template_copies (
                template_id TEXT NOT NULL REFERENCES templates(id),
                pool_id TEXT NOT NULL REFERENCES storage_pools(id),
                volume_id TEXT NOT NULL UNIQUE,
                path TEXT,
                state TEXT NOT NULL CHECK (state IN ('creating', 'ready')),
                created BIGINT NOT NULL,
                PRIMARY KEY (template_id, pool_id)
            )
            """,
        ]
    )
}
