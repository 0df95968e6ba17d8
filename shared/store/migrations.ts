/**
 * Schema migrations of the SQLite store, in order. Append only: a released migration is never
 * edited or removed, because databases in the field have already run it (the runner checks that
 * the names of applied versions still match, to catch exactly that mistake). Each one has its
 * PostgreSQL dialect, same version and name, in postgres/migrations.ts.
 */
export interface Migration {
  /** 1, 2, 3, … without gaps. */
  version: number;
  name: string;
  sql: string;
}

/** A programming error in a migration list, thrown before any database is touched. */
export function assertWellFormed(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`store migrations must be numbered 1, 2, 3… in order; found version ${m.version} at position ${i + 1}`);
    }
  });
}

/**
 * Why a store's applied migrations cannot be used by this code, as the sentence to show (`where`
 * names the store); undefined when they can (equal, or a prefix the runner may complete). Both
 * stores ask it, so they refuse the same things with the same words.
 */
export function appliedMigrationsProblem(
  where: string,
  applied: readonly { version: number; name: string }[],
  migrations: readonly Migration[],
): string | undefined {
  const latestKnown = migrations.at(-1)?.version ?? 0;
  const newest = applied.at(-1)?.version ?? 0;
  if (newest > latestKnown) {
    return (
      `${where} has schema version ${newest}, newer than this tandem knows (${latestKnown}); ` +
      `it was migrated by a newer tandem — run that version, or restore a backup made before the upgrade`
    );
  }
  for (const row of applied) {
    const known = migrations[row.version - 1];
    if (known?.name !== row.name) {
      return (
        `${where} applied migration ${row.version} "${row.name}", but this tandem calls it ` +
        `"${known?.name ?? '(missing)'}"; the database and the code disagree about the schema`
      );
    }
  }
  return undefined;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'api_keys',
    // Roles are validated in code rather than with a CHECK constraint: adding a role later would
    // otherwise need a table rebuild in SQLite.
    sql: `
      CREATE TABLE api_keys (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        key_hash    TEXT NOT NULL UNIQUE,
        role        TEXT NOT NULL,
        department  TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'audit_log_and_review_inbox',
    // The audit log is append-only for every client of the file: the triggers refuse UPDATE and
    // DELETE. seq is assigned by the appender (not AUTOINCREMENT) so a gap means a deleted row.
    // dedupe_key is UNIQUE but NULL for one-off entries (SQLite allows many NULLs).
    sql: `
      CREATE TABLE audit_log (
        seq               INTEGER PRIMARY KEY,
        at                TEXT NOT NULL,
        actor             TEXT NOT NULL,
        department        TEXT NOT NULL,
        subject           TEXT NOT NULL,
        event             TEXT NOT NULL,
        workflow_id       TEXT,
        artifact_version  TEXT,
        details           TEXT NOT NULL,
        dedupe_key        TEXT UNIQUE,
        prev_hash         TEXT NOT NULL,
        hash              TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_log_subject ON audit_log (subject, seq);
      CREATE INDEX audit_log_workflow ON audit_log (workflow_id, seq);
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

      CREATE TABLE review_tasks (
        id                  TEXT PRIMARY KEY,
        department          TEXT NOT NULL,
        review_type         TEXT NOT NULL,
        title               TEXT NOT NULL,
        artifact_uri        TEXT NOT NULL,
        artifact_version    TEXT NOT NULL,
        assignee            TEXT NOT NULL,
        escalation_contact  TEXT NOT NULL,
        due_at              TEXT NOT NULL,
        status              TEXT NOT NULL,
        escalation_level    INTEGER NOT NULL,
        created_at          TEXT NOT NULL,
        updated_at          TEXT NOT NULL,
        closed_at           TEXT
      ) STRICT;
      CREATE INDEX review_tasks_inbox ON review_tasks (department, status, assignee);
    `,
  },
  {
    version: 3,
    name: 'pipelines_and_fingerprints',
    // fingerprints: one row per (pipeline, partition, source) with the committed value (NULL until
    // the first commit) and the pending value of the latest check. partition_runs: the last outcome
    // per partition (pending | ran | skipped | failed) with its reason.
    sql: `
      CREATE TABLE pipelines (
        id           TEXT PRIMARY KEY,
        department   TEXT NOT NULL,
        spec         TEXT NOT NULL,
        spec_hash    TEXT NOT NULL,
        dag_id       TEXT NOT NULL,
        file_name    TEXT NOT NULL,
        status       TEXT NOT NULL,
        deployed_at  TEXT,
        last_error   TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
      ) STRICT;
      CREATE INDEX pipelines_department ON pipelines (department, id);

      CREATE TABLE fingerprints (
        pipeline_id       TEXT NOT NULL,
        partition_key     TEXT NOT NULL,
        source            TEXT NOT NULL,
        kind              TEXT,
        identity          TEXT,
        value             TEXT,
        committed_run_id  TEXT,
        committed_at      TEXT,
        changed_at        TEXT,
        pending_kind      TEXT,
        pending_identity  TEXT,
        pending_value     TEXT,
        pending_run_id    TEXT,
        pending_at        TEXT,
        PRIMARY KEY (pipeline_id, partition_key, source)
      ) STRICT;

      CREATE TABLE partition_runs (
        pipeline_id    TEXT NOT NULL,
        partition_key  TEXT NOT NULL,
        run_id         TEXT NOT NULL,
        outcome        TEXT NOT NULL,
        reason         TEXT NOT NULL,
        at             TEXT NOT NULL,
        PRIMARY KEY (pipeline_id, partition_key)
      ) STRICT;
    `,
  },
  {
    version: 4,
    name: 'llm_token_usage',
    // One row per LLM call key (<workflowId>:<activityId>), so a retried attempt is counted once.
    sql: `
      CREATE TABLE llm_token_usage (
        call_key           TEXT PRIMARY KEY,
        department         TEXT NOT NULL,
        model              TEXT NOT NULL,
        prompt_tokens      INTEGER NOT NULL,
        completion_tokens  INTEGER NOT NULL,
        total_tokens       INTEGER NOT NULL,
        recorded_at        TEXT NOT NULL
      ) STRICT;
      CREATE INDEX llm_token_usage_department ON llm_token_usage (department, recorded_at);
    `,
  },
  {
    version: 5,
    name: 'index_aliases',
    // Alias → version (what readers resolve), every switch as history, and each version's
    // evaluation metrics so a candidate is compared with the version it would replace.
    sql: `
      CREATE TABLE index_aliases (
        alias       TEXT PRIMARY KEY,
        version     TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      ) STRICT;
      CREATE TABLE index_alias_history (
        seq               INTEGER PRIMARY KEY AUTOINCREMENT,
        alias             TEXT NOT NULL,
        version           TEXT,
        previous_version  TEXT,
        reason            TEXT NOT NULL,
        actor             TEXT NOT NULL,
        at                TEXT NOT NULL
      ) STRICT;
      CREATE INDEX index_alias_history_alias ON index_alias_history (alias, seq);
      CREATE TABLE index_version_metrics (
        alias        TEXT NOT NULL,
        version      TEXT NOT NULL,
        metrics      TEXT NOT NULL,
        recorded_at  TEXT NOT NULL,
        PRIMARY KEY (alias, version)
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: 'handoffs',
    // One row per Airflow task instance handed to Temporal (id = the workflow id). Written before
    // the workflow starts, so a workflow Temporal lost can be started again from here.
    sql: `
      CREATE TABLE handoffs (
        handoff_id     TEXT PRIMARY KEY,
        workflow_type  TEXT NOT NULL,
        department     TEXT NOT NULL,
        pipeline_id    TEXT,
        partition      TEXT,
        dag_id         TEXT NOT NULL,
        dag_run_id     TEXT NOT NULL,
        task_id        TEXT NOT NULL,
        map_index      INTEGER NOT NULL,
        try_number     INTEGER NOT NULL,
        run_id         TEXT NOT NULL,
        sealed_input   TEXT NOT NULL,
        started_by     TEXT NOT NULL,
        status         TEXT NOT NULL,
        reason         TEXT,
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL,
        closed_at      TEXT
      ) STRICT;
      CREATE INDEX handoffs_running ON handoffs (status, created_at);
    `,
  },
  {
    version: 7,
    name: 'idempotency_keys',
    // One row per (API key, Idempotency-Key): the request's fingerprint while it is in flight, then
    // the response to replay. Kept until expires_at (at least 24 h), across API restarts.
    sql: `
      CREATE TABLE idempotency_keys (
        key_id           TEXT NOT NULL,
        idempotency_key  TEXT NOT NULL,
        fingerprint      TEXT NOT NULL,
        state            TEXT NOT NULL,
        status           INTEGER,
        content_type     TEXT,
        body             TEXT,
        created_at       TEXT NOT NULL,
        expires_at       TEXT NOT NULL,
        PRIMARY KEY (key_id, idempotency_key)
      ) STRICT;
      CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
    `,
  },
  {
    version: 8,
    name: 'api_key_lifecycle',
    // A key may expire (rotation gives the old key an overlap window, then it stops working), and
    // shows when it was last used, so unused keys can be found and revoked.
    sql: `
      ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
      ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
      ALTER TABLE api_keys ADD COLUMN rotated_to TEXT;
    `,
  },
  {
    version: 9,
    name: 'console_sessions',
    // Form ids are deleted with their session (ON DELETE CASCADE), so the table stays as small as
    // the set of live sessions.
    sql: `
      CREATE TABLE console_sessions (
        id_hash       TEXT PRIMARY KEY,
        key_id        TEXT NOT NULL REFERENCES api_keys (id),
        csrf_secret   TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        last_seen_at  TEXT NOT NULL,
        expires_at    TEXT NOT NULL
      ) STRICT;
      CREATE TABLE console_form_uses (
        session_hash  TEXT NOT NULL REFERENCES console_sessions (id_hash) ON DELETE CASCADE,
        form_id       TEXT NOT NULL,
        used_at       TEXT NOT NULL,
        PRIMARY KEY (session_hash, form_id)
      ) STRICT;
    `,
  },
  {
    version: 10,
    name: 'webhooks',
    // Subscriptions are marked deleted, never removed, so their delivery log keeps resolving. A
    // delivery's id is derived from its event and subscription, so a re-emitted event is one row.
    sql: `
      CREATE TABLE webhook_subscriptions (
        id           TEXT PRIMARY KEY,
        department   TEXT NOT NULL,
        url          TEXT NOT NULL,
        event_types  TEXT NOT NULL,
        description  TEXT,
        secret       TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        deleted_at   TEXT
      ) STRICT;
      CREATE INDEX webhook_subscriptions_department ON webhook_subscriptions (department, created_at);
      CREATE TABLE webhook_deliveries (
        id                TEXT PRIMARY KEY,
        subscription_id   TEXT NOT NULL REFERENCES webhook_subscriptions (id),
        department        TEXT NOT NULL,
        event_id          TEXT NOT NULL,
        event_type        TEXT NOT NULL,
        payload           TEXT NOT NULL,
        status            TEXT NOT NULL,
        attempts          INTEGER NOT NULL,
        last_status_code  INTEGER,
        last_latency_ms   INTEGER,
        next_attempt_at   TEXT,
        created_at        TEXT NOT NULL,
        delivered_at      TEXT,
        UNIQUE (subscription_id, event_id)
      ) STRICT;
      CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_at);
      CREATE TABLE webhook_delivery_attempts (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries (id),
        attempt      INTEGER NOT NULL,
        at           TEXT NOT NULL,
        status_code  INTEGER,
        latency_ms   INTEGER NOT NULL,
        error        TEXT
      ) STRICT;
      CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, seq);
    `,
  },
  {
    version: 11,
    name: 'tenants',
    // The spec is one JSON text the code parses with its zod schema, so a new tenant setting needs
    // no migration; the namespace is a column of its own because two tenants may not share one.
    // Portable SQL (no JSON functions), for the PostgreSQL store too.
    sql: `
      CREATE TABLE tenants (
        department        TEXT PRIMARY KEY,
        namespace         TEXT NOT NULL UNIQUE,
        spec              TEXT NOT NULL,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL,
        updated_by        TEXT NOT NULL,
        cluster_state     TEXT NOT NULL,
        cluster_at        TEXT,
        cluster_message   TEXT
      ) STRICT;
    `,
  },
  {
    version: 12,
    name: 'rate_limit_windows',
    // Request counts per client and fixed window, which the PostgreSQL store keeps so API replicas
    // share one limit. The SQLite store counts in the API process instead (a commit per request
    // would cost an fsync each); the table is here too so that one version is one schema.
    sql: `
      CREATE TABLE rate_limit_windows (
        key           TEXT NOT NULL,
        window_ms     INTEGER NOT NULL,
        window_start  INTEGER NOT NULL,
        hits          INTEGER NOT NULL,
        PRIMARY KEY (key, window_ms, window_start)
      ) STRICT;
    `,
  },
  {
    version: 13,
    name: 'payload_key_fingerprints',
    // The keys every API and worker encrypts with, by fingerprint (payload-key-registry.ts), so a
    // replica started with another keyring is refused before it writes what the others cannot read.
    sql: `
      CREATE TABLE payload_key_fingerprints (
        key_id         TEXT PRIMARY KEY,
        fingerprint    TEXT NOT NULL,
        registered_at  TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 14,
    name: 'handoff_regions',
    // The data-residency region whose Temporal namespace runs the hand-off (shared/regions.ts): a
    // hand-off stays there for its life, so the reconciler restarts a lost workflow where it was,
    // whatever its department's tenant says by then. Rows from before regions ran in local.
    sql: `
      ALTER TABLE handoffs ADD COLUMN region TEXT NOT NULL DEFAULT 'local';
    `,
  },
];
