extension Migrations {
    /// VMs. Their disks are the volumes whose `vm_id` names them.
    static let virtualMachines = Migration(
        name: "0004_virtual_machines",
        statements: [
            """
            CREATE TABLE virtual_machines (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
                display_name TEXT NOT NULL,
                account_id TEXT NOT NULL REFERENCES accounts(id),
                zone_id TEXT NOT NULL REFERENCES zones(id),
                service_offering_id TEXT NOT NULL REFERENCES service_offerings(id),
                template_id TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('Stopped', 'Starting', 'Running', 'Stopping', 'Migrating', 'Destroyed', 'Expunging', 'Error')),
                host_id TEXT REFERENCES hosts(id),
                last_host_id TEXT REFERENCES hosts(id),
                migration_host_id TEXT REFERENCES hosts(id),
                ha_enabled BIGINT NOT NULL CHECK (ha_enabled IN (0, 1)),
                workload TEXT NOT NULL CHECK (workload IN ('idle', 'journal')),
                created BIGINT NOT NULL,
                removed BIGINT,
                CHECK ((state = 'Migrating') = (migration_host_id IS NOT NULL)),
                CHECK (state NOT IN ('Running', 'Migrating') OR host_id IS NOT NULL)
            )
            """,
            "CREATE INDEX virtual_machines_host ON virtual_machines (host_id)",
            "CREATE INDEX virtual_machines_account ON virtual_machines (account_id, created)",
            "CREATE INDEX volumes_vm ON volumes (vm_id)",
            "ALTER TABLE service_offerings ADD COLUMN offer_ha BIGINT NOT NULL DEFAULT 0 CHECK (offer_ha IN (0, 1))",
        ]
    )
}
