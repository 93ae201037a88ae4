/// Every schema change, in order. Append only.
public enum Migrations {
    public static let all: [Migration] = [initial, storageCatalogue, volumeGrants, virtualMachines, volumeAttached, vmFenceHost, sessions, templates]

    /// Sign-in sessions of CloudStack's `login` (any server sharing the database accepts them):
    /// only a hash of the key is kept, with its expiry.
    static let sessions = Migration(
        name: "0007_sessions",
        statements: [
            """
            CREATE TABLE sessions (
                key_hash TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id),
                created BIGINT NOT NULL,
                expires BIGINT NOT NULL
            )
            """,
            "CREATE INDEX sessions_expires ON sessions (expires)",
        ]
    )

    /// A second host a VM may still reach its disks from outside a migration (a destination whose
    /// fence failed, kept in Error or Stopping until fenced). `migration_host_id` stays Migrating's.
    static let vmFenceHost = Migration(
        name: "0006_vm_fence_host",
        statements: ["ALTER TABLE virtual_machines ADD COLUMN fence_host_id TEXT REFERENCES hosts(id)"]
    )

    /// When a volume was attached (CloudStack's `attached` field; NULL while detached).
    static let volumeAttached = Migration(
        name: "0005_volume_attached",
        statements: ["ALTER TABLE volumes ADD COLUMN attached BIGINT"]
    )

    /// Accounts, users, the infrastructure tree, hosts, and async jobs with their step journal.
    /// The schema enforces what it can: foreign keys, unique names, and the allowed states.
    static let initial = Migration(
        name: "0001_initial",
        statements: [
            """
            CREATE TABLE domains (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                path TEXT NOT NULL,
                created BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE accounts (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
                domain_id TEXT NOT NULL REFERENCES domains(id),
                type BIGINT NOT NULL CHECK (type IN (0, 1, 2)),
                state TEXT NOT NULL CHECK (state IN ('enabled', 'disabled', 'locked')),
                created BIGINT NOT NULL,
                UNIQUE (domain_id, name)
            )
            """,
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                username TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 255),
                password_hash TEXT NOT NULL,
                firstname TEXT NOT NULL,
                lastname TEXT NOT NULL,
                email TEXT,
                api_key TEXT UNIQUE,
                secret_key TEXT,
                state TEXT NOT NULL CHECK (state IN ('enabled', 'disabled', 'locked')),
                created BIGINT NOT NULL,
                CHECK ((api_key IS NULL) = (secret_key IS NULL))
            )
            """,
            """
            CREATE TABLE zones (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
                description TEXT,
                network_type TEXT NOT NULL CHECK (network_type IN ('Basic', 'Advanced')),
                dns1 TEXT NOT NULL,
                dns2 TEXT,
                internal_dns1 TEXT NOT NULL,
                internal_dns2 TEXT,
                guest_cidr TEXT,
                network_domain TEXT,
                allocation_state TEXT NOT NULL CHECK (allocation_state IN ('Enabled', 'Disabled')),
                created BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE pods (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
                zone_id TEXT NOT NULL REFERENCES zones(id),
                gateway TEXT,
                netmask TEXT,
                start_ip TEXT,
                end_ip TEXT,
                allocation_state TEXT NOT NULL CHECK (allocation_state IN ('Enabled', 'Disabled')),
                created BIGINT NOT NULL,
                UNIQUE (zone_id, name)
            )
            """,
            """
            CREATE TABLE clusters (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
                zone_id TEXT NOT NULL REFERENCES zones(id),
                pod_id TEXT NOT NULL REFERENCES pods(id),
                hypervisor TEXT NOT NULL CHECK (hypervisor IN ('Simulator', 'KVM')),
                cluster_type TEXT NOT NULL CHECK (cluster_type IN ('CloudManaged', 'ExternalManaged')),
                allocation_state TEXT NOT NULL CHECK (allocation_state IN ('Enabled', 'Disabled')),
                created BIGINT NOT NULL,
                UNIQUE (zone_id, name)
            )
            """,
            """
            CREATE TABLE hosts (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                zone_id TEXT NOT NULL REFERENCES zones(id),
                pod_id TEXT NOT NULL REFERENCES pods(id),
                cluster_id TEXT NOT NULL REFERENCES clusters(id),
                hypervisor TEXT NOT NULL CHECK (hypervisor IN ('Simulator', 'KVM')),
                ip_address TEXT NOT NULL,
                initiator_iqn TEXT UNIQUE,
                state TEXT NOT NULL CHECK (state IN ('Connecting', 'Up', 'Down', 'Disconnected', 'Alert')),
                resource_state TEXT NOT NULL CHECK (resource_state IN
                    ('Enabled', 'Disabled', 'PrepareForMaintenance', 'Maintenance', 'ErrorInMaintenance')),
                cpu_cores BIGINT NOT NULL CHECK (cpu_cores >= 0),
                cpu_speed_mhz BIGINT NOT NULL CHECK (cpu_speed_mhz >= 0),
                memory_bytes BIGINT NOT NULL CHECK (memory_bytes >= 0),
                last_pinged BIGINT,
                created BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE async_jobs (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                user_id TEXT NOT NULL,
                command TEXT NOT NULL,
                parameters TEXT NOT NULL,
                status BIGINT NOT NULL CHECK (status IN (0, 1, 2)),
                result_code BIGINT NOT NULL,
                result TEXT,
                progress BIGINT NOT NULL DEFAULT 0,
                instance_type TEXT,
                instance_id TEXT,
                created BIGINT NOT NULL,
                completed BIGINT,
                CHECK ((status = 0) = (completed IS NULL)),
                CHECK (status <> 1 OR result_code = 0)
            )
            """,
            "CREATE INDEX async_jobs_pending ON async_jobs (status, created)",
            "CREATE INDEX async_jobs_account ON async_jobs (account_id, created)",
            """
            CREATE TABLE async_job_steps (
                job_id TEXT NOT NULL REFERENCES async_jobs(id) ON DELETE CASCADE,
                seq BIGINT NOT NULL CHECK (seq >= 0),
                name TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed', 'undone')),
                detail TEXT,
                at BIGINT NOT NULL,
                PRIMARY KEY (job_id, seq)
            )
            """,
            """
            CREATE TABLE settings (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )
            """,
        ]
    )
}
