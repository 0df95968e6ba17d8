/**
 * One replica's audit appends, as a process of its own (`npm run bench -- scale` starts one or
 * two): opens the store the way the API does — PostgreSQL from a URL, or the SQLite file — appends
 * with `inFlight` appends in flight for `seconds`, and prints `{"appends": n}`. Two of these on
 * one PostgreSQL database share its hash chain through the database alone, as two API replicas do.
 *
 *   node bench/audit-appender.ts <postgres-url | sqlite-file> <inFlight> <seconds>
 */
import { openPostgresStore } from '../shared/store/postgres-store.ts';
import { openSqliteStore } from '../shared/store/sqlite-store.ts';
import { appendRate } from './store.ts';

const [where, inFlight, seconds] = process.argv.slice(2);
if (!where || !inFlight || !seconds) {
  console.error('usage: node bench/audit-appender.ts <postgres-url | sqlite-file> <inFlight> <seconds>');
  process.exit(2);
}
const store = /^postgres(ql)?:\/\//.test(where) ? await openPostgresStore(where, { migrate: false }) : openSqliteStore(where);
try {
  const rate = await appendRate([store], Number(inFlight), Number(seconds));
  console.log(JSON.stringify({ appends: Math.round(rate * Number(seconds)), rate }));
} finally {
  await store.close();
}
