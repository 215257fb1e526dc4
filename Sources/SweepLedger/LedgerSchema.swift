import GRDB

/// The ledger's tables. Migrations only ever append: a workspace written by an older
/// `sweep` opens with a newer one.
enum LedgerSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: runs and sweeps") { db in
            try db.execute(sql: """
                CREATE TABLE run (
                    id TEXT PRIMARY KEY NOT NULL,
                    run_group TEXT NOT NULL,
                    label TEXT,
                    seed INTEGER NOT NULL,
                    config TEXT NOT NULL,          -- canonical JSON of the resolved config
                    needs TEXT NOT NULL,           -- canonical JSON: dependency name -> run id
                    axes TEXT NOT NULL,            -- canonical JSON: grid axis -> value
                    status TEXT NOT NULL DEFAULT 'planned',
                    attempts INTEGER NOT NULL DEFAULT 0,   -- times the run was claimed
                    failures INTEGER NOT NULL DEFAULT 0,   -- times it finished failed (the retry budget counts these)
                    exit_code INTEGER,
                    stderr_tail TEXT,
                    reason TEXT,
                    metrics TEXT,                  -- metrics.json as the engine wrote it
                    train_seconds REAL,            -- sum of metrics.epoch_seconds, for estimates
                    epoch_count INTEGER,
                    planned_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    owner_pid INTEGER,
                    host TEXT
                );
                -- `sweep status` counts and lists by state; orphan recovery looks for running runs.
                CREATE INDEX run_status ON run(status);

                -- Which sweeps (manifest names) include a run, in plan order. A run shared by
                -- two manifests has one row in `run` and one here per sweep.
                CREATE TABLE sweep_run (
                    sweep TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    run_id TEXT NOT NULL REFERENCES run(id),
                    PRIMARY KEY (sweep, position)
                ) WITHOUT ROWID;
                CREATE INDEX sweep_run_by_run ON sweep_run(run_id);
                """)
        }
        migrator.registerMigration("v2: batch jobs") { db in
            // The batch-system job of a run's latest attempt ("1234_7": array job 1234, task 7).
            // A running run with one is followed through the batch system, not through a pid.
            try db.execute(sql: "ALTER TABLE run ADD COLUMN batch_job TEXT")
        }
        migrator.registerMigration("v3: time of earlier attempts") { db in
            // Wall seconds of the attempts before the latest one (since the run last started
            // fresh): a resumed run's time is all of its attempts, not the last part only.
            try db.execute(sql: "ALTER TABLE run ADD COLUMN earlier_seconds REAL NOT NULL DEFAULT 0")
        }
        return migrator
    }
}
