/**
 * The PostgreSQL dialect of every store migration (../migrations.ts): the same versions with the
 * same names, in the same order, so a schema version means the same tables in either store (a
 * test holds the two lists together). Append only, like the SQLite list.
 *
 * Dialect choices, the same in every migration: text stays `text` (timestamps are ISO 8601
 * strings, as in SQLite, so comparisons and cursors behave alike) with the "C" collation, which
 * orders by bytes as SQLite does whatever locale the database was created with; counters that
 * may outgrow 32 bits are `bigint`; JSON stays text, since the audit hash covers the exact text.
 */
import type { Migration } from '../migrations.ts';

/** Text ordered by bytes, as SQLite orders it. */
const T = 'text COLLATE "C"';

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'api_keys',
    sql: `
      CREATE TABLE api_keys (
        id          ${T} PRIMARY KEY,
        name        ${T} NOT NULL,
        key_hash    ${T} NOT NULL UNIQUE,
        role        ${T} NOT NULL,
        department  ${T} NOT NULL,
        created_at  ${T} NOT NULL,
        revoked_at  ${T}
      );
    `,
  },
  {
    version: 2,
    name: 'audit_log_and_review_inbox',
    // Append-only for every client of the database, as in SQLite: row triggers refuse UPDATE and
    // DELETE, a statement trigger TRUNCATE (which skips row triggers).
    sql: `
      CREATE TABLE audit_log (
        seq               integer PRIMARY KEY,
        at                ${T} NOT NULL,
        actor             ${T} NOT NULL,
        department        ${T} NOT NULL,
        subject           ${T} NOT NULL,
        event             ${T} NOT NULL,
        workflow_id       ${T},
        artifact_version  ${T},
        details           ${T} NOT NULL,
        dedupe_key        ${T} UNIQUE,
        prev_hash         ${T} NOT NULL,
        hash              ${T} NOT NULL
      );
      CREATE INDEX audit_log_subject ON audit_log (subject, seq);
      CREATE INDEX audit_log_workflow ON audit_log (workflow_id, seq);
      CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_log is append-only'; END
      $$;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

      CREATE TABLE review_tasks (
        id                  ${T} PRIMARY KEY,
        department          ${T} NOT NULL,
        review_type         ${T} NOT NULL,
        title               ${T} NOT NULL,
        artifact_uri        ${T} NOT NULL,
        artifact_version    ${T} NOT NULL,
        assignee            ${T} NOT NULL,
        escalation_contact  ${T} NOT NULL,
        due_at              ${T} NOT NULL,
        status              ${T} NOT NULL,
        escalation_level    integer NOT NULL,
        created_at          ${T} NOT NULL,
        updated_at          ${T} NOT NULL,
        closed_at           ${T}
      );
      CREATE INDEX review_tasks_inbox ON review_tasks (department, status, assignee);
    `,
  },
  {
    version: 3,
    name: 'pipelines_and_fingerprints',
    sql: `
      CREATE TABLE pipelines (
        id           ${T} PRIMARY KEY,
        department   ${T} NOT NULL,
        spec         ${T} NOT NULL,
        spec_hash    ${T} NOT NULL,
        dag_id       ${T} NOT NULL,
        file_name    ${T} NOT NULL,
        status       ${T} NOT NULL,
        deployed_at  ${T},
        last_error   ${T},
        created_at   ${T} NOT NULL,
        updated_at   ${T} NOT NULL
      );
      CREATE INDEX pipelines_department ON pipelines (department, id);

      CREATE TABLE fingerprints (
        pipeline_id       ${T} NOT NULL,
        partition_key     ${T} NOT NULL,
        source            ${T} NOT NULL,
        kind              ${T},
        identity          ${T},
        value             ${T},
        committed_run_id  ${T},
        committed_at      ${T},
        changed_at        ${T},
        pending_kind      ${T},
        pending_identity  ${T},
        pending_value     ${T},
        pending_run_id    ${T},
        pending_at        ${T},
        PRIMARY KEY (pipeline_id, partition_key, source)
      );

      CREATE TABLE partition_runs (
        pipeline_id    ${T} NOT NULL,
        partition_key  ${T} NOT NULL,
        run_id         ${T} NOT NULL,
        outcome        ${T} NOT NULL,
        reason         ${T} NOT NULL,
        at             ${T} NOT NULL,
        PRIMARY KEY (pipeline_id, partition_key)
      );
    `,
  },
  {
    version: 4,
    name: 'llm_token_usage',
    sql: `
      CREATE TABLE llm_token_usage (
        call_key           ${T} PRIMARY KEY,
        department         ${T} NOT NULL,
        model              ${T} NOT NULL,
        prompt_tokens      bigint NOT NULL,
        completion_tokens  bigint NOT NULL,
        total_tokens       bigint NOT NULL,
        recorded_at        ${T} NOT NULL
      );
      CREATE INDEX llm_token_usage_department ON llm_token_usage (department, recorded_at);
    `,
  },
  {
    version: 5,
    name: 'index_aliases',
    sql: `
      CREATE TABLE index_aliases (
        alias       ${T} PRIMARY KEY,
        version     ${T} NOT NULL,
        updated_at  ${T} NOT NULL
      );
      CREATE TABLE index_alias_history (
        seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        alias             ${T} NOT NULL,
        version           ${T},
        previous_version  ${T},
        reason            ${T} NOT NULL,
        actor             ${T} NOT NULL,
        at                ${T} NOT NULL
      );
      CREATE INDEX index_alias_history_alias ON index_alias_history (alias, seq);
      CREATE TABLE index_version_metrics (
        alias        ${T} NOT NULL,
        version      ${T} NOT NULL,
        metrics      ${T} NOT NULL,
        recorded_at  ${T} NOT NULL,
        PRIMARY KEY (alias, version)
      );
    `,
  },
  {
    version: 6,
    name: 'handoffs',
    sql: `
      CREATE TABLE handoffs (
        handoff_id     ${T} PRIMARY KEY,
        workflow_type  ${T} NOT NULL,
        department     ${T} NOT NULL,
        pipeline_id    ${T},
        partition      ${T},
        dag_id         ${T} NOT NULL,
        dag_run_id     ${T} NOT NULL,
        task_id        ${T} NOT NULL,
        map_index      integer NOT NULL,
        try_number     integer NOT NULL,
        run_id         ${T} NOT NULL,
        sealed_input   ${T} NOT NULL,
        started_by     ${T} NOT NULL,
        status         ${T} NOT NULL,
        reason         ${T},
        created_at     ${T} NOT NULL,
        updated_at     ${T} NOT NULL,
        closed_at      ${T}
      );
      CREATE INDEX handoffs_running ON handoffs (status, created_at);
    `,
  },
  {
    version: 7,
    name: 'idempotency_keys',
    sql: `
      CREATE TABLE idempotency_keys (
        key_id           ${T} NOT NULL,
        idempotency_key  ${T} NOT NULL,
        fingerprint      ${T} NOT NULL,
        state            ${T} NOT NULL,
        status           integer,
        content_type     ${T},
        body             ${T},
        created_at       ${T} NOT NULL,
        expires_at       ${T} NOT NULL,
        PRIMARY KEY (key_id, idempotency_key)
      );
      CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
    `,
  },
  {
    version: 8,
    name: 'api_key_lifecycle',
    sql: `
      ALTER TABLE api_keys ADD COLUMN expires_at ${T};
      ALTER TABLE api_keys ADD COLUMN last_used_at ${T};
      ALTER TABLE api_keys ADD COLUMN rotated_to ${T};
    `,
  },
  {
    version: 9,
    name: 'console_sessions',
    sql: `
      CREATE TABLE console_sessions (
        id_hash       ${T} PRIMARY KEY,
        key_id        ${T} NOT NULL REFERENCES api_keys (id),
        csrf_secret   ${T} NOT NULL,
        created_at    ${T} NOT NULL,
        last_seen_at  ${T} NOT NULL,
        expires_at    ${T} NOT NULL
      );
      CREATE TABLE console_form_uses (
        session_hash  ${T} NOT NULL REFERENCES console_sessions (id_hash) ON DELETE CASCADE,
        form_id       ${T} NOT NULL,
        used_at       ${T} NOT NULL,
        PRIMARY KEY (session_hash, form_id)
      );
    `,
  },
  {
    version: 10,
    name: 'webhooks',
    sql: `
      CREATE TABLE webhook_subscriptions (
        id           ${T} PRIMARY KEY,
        department   ${T} NOT NULL,
        url          ${T} NOT NULL,
        event_types  ${T} NOT NULL,
        description  ${T},
        secret       ${T} NOT NULL,
        created_at   ${T} NOT NULL,
        created_by   ${T} NOT NULL,
        deleted_at   ${T}
      );
      CREATE INDEX webhook_subscriptions_department ON webhook_subscriptions (department, created_at);
      CREATE TABLE webhook_deliveries (
        id                ${T} PRIMARY KEY,
        subscription_id   ${T} NOT NULL REFERENCES webhook_subscriptions (id),
        department        ${T} NOT NULL,
        event_id          ${T} NOT NULL,
        event_type        ${T} NOT NULL,
        payload           ${T} NOT NULL,
        status            ${T} NOT NULL,
        attempts          integer NOT NULL,
        last_status_code  integer,
        last_latency_ms   integer,
        next_attempt_at   ${T},
        created_at        ${T} NOT NULL,
        delivered_at      ${T},
        UNIQUE (subscription_id, event_id)
      );
      CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_at);
      CREATE TABLE webhook_delivery_attempts (
        seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id  ${T} NOT NULL REFERENCES webhook_deliveries (id),
        attempt      integer NOT NULL,
        at           ${T} NOT NULL,
        status_code  integer,
        latency_ms   integer NOT NULL,
        error        ${T}
      );
      CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, seq);
    `,
  },
  {
    version: 11,
    name: 'tenants',
    // As in SQLite: the spec is one JSON text parsed by its zod schema; the namespace is unique.
    sql: `
      CREATE TABLE tenants (
        department        ${T} PRIMARY KEY,
        namespace         ${T} NOT NULL UNIQUE,
        spec              ${T} NOT NULL,
        created_at        ${T} NOT NULL,
        updated_at        ${T} NOT NULL,
        updated_by        ${T} NOT NULL,
        cluster_state     ${T} NOT NULL,
        cluster_at        ${T},
        cluster_message   ${T}
      );
    `,
  },
  {
    version: 12,
    name: 'rate_limit_windows',
    // UNLOGGED: a counter update writes no WAL, so it needs no fsync (one happens per request);
    // a crash empties the table, which only forgets the current minute's counts.
    sql: `
      CREATE UNLOGGED TABLE rate_limit_windows (
        key           ${T} NOT NULL,
        window_ms     integer NOT NULL,
        window_start  bigint NOT NULL,
        hits          integer NOT NULL,
        PRIMARY KEY (key, window_ms, window_start)
      );
    `,
  },
  {
    version: 13,
    name: 'payload_key_fingerprints',
    sql: `
      CREATE TABLE payload_key_fingerprints (
        key_id         ${T} PRIMARY KEY,
        fingerprint    ${T} NOT NULL,
        registered_at  ${T} NOT NULL
      );
    `,
  },
  {
    version: 14,
    name: 'handoff_regions',
    // As in SQLite: the region whose namespace runs the hand-off; rows from before regions ran in local.
    sql: `
      ALTER TABLE handoffs ADD COLUMN region ${T} NOT NULL DEFAULT 'local';
    `,
  },
];
