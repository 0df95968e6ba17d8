/**
 * The audit log in PostgreSQL. An append takes a transaction-scoped advisory lock before reading
 * the chain head, so appends from every API and worker replica form one chain (the database
 * serialises them, not a process); the lock is released by COMMIT or ROLLBACK, so a replica that
 * dies mid-append holds nothing. Triggers refuse UPDATE, DELETE and TRUNCATE; `verify()` catches
 * what bypasses them.
 */
import type pg from 'pg';
import {
  auditEntryHash,
  canonicalJson,
  genesisHash,
  type AuditActor,
  type AuditEntry,
  type AuditEvent,
  type AuditFilter,
  type AuditLog,
  type AuditVerification,
  type NewAuditEntry,
} from '../audit-log.ts';
import { inTransaction, lockKeys, lockSpace } from './sql.ts';

interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  department: string;
  subject: string;
  event: string;
  workflow_id: string | null;
  artifact_version: string | null;
  details: string;
  dedupe_key: string | null;
  prev_hash: string;
  hash: string;
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    seq: Number(row.seq),
    at: row.at,
    actor: JSON.parse(row.actor) as AuditActor,
    department: row.department,
    subject: row.subject,
    // Written only by append from typed input.
    event: row.event as AuditEvent,
    workflowId: row.workflow_id,
    artifactVersion: row.artifact_version,
    details: JSON.parse(row.details) as Record<string, unknown>,
    dedupeKey: row.dedupe_key,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** Rows read per round trip by `verify()`, so a long log is checked in constant memory. */
const verifyBatch = 1000;

export class PostgresAuditLog implements AuditLog {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async append(entry: NewAuditEntry): Promise<AuditEntry> {
    return inTransaction(this.#pool, async (db) => {
      await db.query('SELECT pg_advisory_xact_lock($1, $2)', [lockSpace, lockKeys.auditChain]);
      if (entry.dedupeKey) {
        const existing = await db.query<AuditRow>('SELECT * FROM audit_log WHERE dedupe_key = $1', [entry.dedupeKey]);
        if (existing.rows[0]) return toEntry(existing.rows[0]);
      }
      const head = (await db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')).rows[0];
      // Round-trip details through JSON so the hash covers exactly what is stored and read back.
      const details = JSON.parse(canonicalJson(entry.details ?? {})) as Record<string, unknown>;
      const unhashed: Omit<AuditEntry, 'hash'> = {
        seq: Number(head?.seq ?? 0) + 1,
        at: this.#now().toISOString(),
        actor: entry.actor,
        department: entry.department,
        subject: entry.subject,
        event: entry.event,
        workflowId: entry.workflowId ?? null,
        artifactVersion: entry.artifactVersion ?? null,
        details,
        dedupeKey: entry.dedupeKey ?? null,
        prevHash: head?.hash ?? genesisHash,
      };
      const stored: AuditEntry = { ...unhashed, hash: auditEntryHash(unhashed) };
      await db.query(
        `INSERT INTO audit_log (seq, at, actor, department, subject, event, workflow_id, artifact_version, details, dedupe_key, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          stored.seq,
          stored.at,
          canonicalJson(stored.actor),
          stored.department,
          stored.subject,
          stored.event,
          stored.workflowId,
          stored.artifactVersion,
          canonicalJson(stored.details),
          stored.dedupeKey,
          stored.prevHash,
          stored.hash,
        ],
      );
      return stored;
    });
  }

  async list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    if (filter.subject !== undefined) where.push(`subject = ${param(filter.subject)}`);
    if (filter.workflowId !== undefined) where.push(`workflow_id = ${param(filter.workflowId)}`);
    if (filter.department !== undefined) where.push(`department = ${param(filter.department)}`);
    if (filter.afterSeq !== undefined) where.push(`seq > ${param(filter.afterSeq)}`);
    const limit = param(filter.limit ?? 500);
    const { rows } = await this.#pool.query<AuditRow>(
      `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ${limit}`,
      params,
    );
    return rows.map(toEntry);
  }

  async verify(): Promise<AuditVerification> {
    let prev = genesisHash;
    let expectedSeq = 1;
    let entries = 0;
    let after = 0;
    for (;;) {
      const { rows } = await this.#pool.query<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [after, verifyBatch]);
      for (const row of rows) {
        const seq = Number(row.seq);
        entries += 1;
        const broken = (reason: string): AuditVerification => ({ ok: false, entries, firstBrokenSeq: seq, reason });
        if (seq !== expectedSeq) return broken(`entry ${expectedSeq} is missing (next stored entry is ${seq})`);
        if (row.prev_hash !== prev) return broken(`entry ${seq} does not link to the hash of entry ${seq - 1}`);
        let entry: AuditEntry;
        try {
          entry = toEntry(row);
        } catch {
          return broken(`entry ${seq} is not readable (its actor or details are not JSON)`);
        }
        const { hash, ...unhashed } = entry;
        if (auditEntryHash(unhashed) !== hash) return broken(`entry ${seq} was changed after it was written (its hash does not match its content)`);
        prev = hash;
        expectedSeq += 1;
        after = seq;
      }
      if (rows.length < verifyBatch) return { ok: true, entries, headHash: prev };
    }
  }
}
