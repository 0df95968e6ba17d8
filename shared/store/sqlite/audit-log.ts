/**
 * The audit log in SQLite. Appends take the write lock (BEGIN IMMEDIATE) before reading the chain
 * head, so the API and the worker appending at the same moment still form one chain. Triggers
 * refuse UPDATE and DELETE, so the log is append-only for every client of the file; `verify()`
 * catches what bypasses them (an edited file, dropped triggers).
 */
import type { DatabaseSync } from 'node:sqlite';
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

export class SqliteAuditLog implements AuditLog {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async append(entry: NewAuditEntry): Promise<AuditEntry> {
    const db = this.#db;
    db.exec('BEGIN IMMEDIATE');
    try {
      if (entry.dedupeKey) {
        const existing = db.prepare('SELECT * FROM audit_log WHERE dedupe_key = ?').get(entry.dedupeKey);
        if (existing) {
          db.exec('COMMIT');
          return toEntry(existing as unknown as AuditRow);
        }
      }
      const head = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
        | { seq: number; hash: string }
        | undefined;
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
      db.prepare(
        `INSERT INTO audit_log (seq, at, actor, department, subject, event, workflow_id, artifact_version, details, dedupe_key, prev_hash, hash)
         VALUES (:seq, :at, :actor, :department, :subject, :event, :workflowId, :artifactVersion, :details, :dedupeKey, :prevHash, :hash)`,
      ).run({
        seq: stored.seq,
        at: stored.at,
        actor: canonicalJson(stored.actor),
        department: stored.department,
        subject: stored.subject,
        event: stored.event,
        workflowId: stored.workflowId,
        artifactVersion: stored.artifactVersion,
        details: canonicalJson(stored.details),
        dedupeKey: stored.dedupeKey,
        prevHash: stored.prevHash,
        hash: stored.hash,
      });
      db.exec('COMMIT');
      return stored;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }

  async list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: filter.limit ?? 500 };
    if (filter.subject !== undefined) {
      where.push('subject = :subject');
      params.subject = filter.subject;
    }
    if (filter.workflowId !== undefined) {
      where.push('workflow_id = :workflowId');
      params.workflowId = filter.workflowId;
    }
    if (filter.department !== undefined) {
      where.push('department = :department');
      params.department = filter.department;
    }
    if (filter.afterSeq !== undefined) {
      where.push('seq > :afterSeq');
      params.afterSeq = filter.afterSeq;
    }
    const rows = this.#db
      .prepare(`SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT :limit`)
      .all(params);
    return rows.map((row) => toEntry(row as unknown as AuditRow));
  }

  async verify(): Promise<AuditVerification> {
    let prev = genesisHash;
    let expectedSeq = 1;
    let entries = 0;
    for (const raw of this.#db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate()) {
      const row = raw as unknown as AuditRow;
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
    }
    return { ok: true, entries, headHash: prev };
  }
}
