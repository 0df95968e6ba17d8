import { describe, expect, it } from 'vitest';
import { connectionOptions, describeTemporalError, temporalHealth } from './temporal-connection.ts';

const temporal = { address: 'localhost:7233', namespace: 'default', tls: false };

describe('connectionOptions', () => {
  it('is plain TCP for the embedded dev server', () => {
    expect(connectionOptions({ temporal })).toEqual({ address: 'localhost:7233', tls: false });
  });

  it('uses TLS when configured', () => {
    expect(connectionOptions({ temporal: { ...temporal, tls: true } }).tls).toBe(true);
  });

  it('turns TLS on whenever an API key is sent (Temporal Cloud)', () => {
    expect(connectionOptions({ temporal: { ...temporal, address: 'ns.acct.tmprl.cloud:7233', apiKey: 'k' } })).toEqual({
      address: 'ns.acct.tmprl.cloud:7233',
      tls: true,
      apiKey: 'k',
    });
  });
});

describe('describeTemporalError', () => {
  it('reduces a Rust core connect error to its cause', () => {
    const err = new Error(
      'tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", 127.0.0.1:7299, Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })))',
    );
    expect(describeTemporalError(err)).toBe('tcp connect error: Connection refused');
  });

  it('prefers gRPC details and keeps one line', () => {
    const err = Object.assign(new Error('14 UNAVAILABLE: x'), { details: 'No connection established\nmore' });
    expect(describeTemporalError(err)).toBe('No connection established');
  });
});

describe('temporalHealth', () => {
  it('reports a failing server without throwing', async () => {
    const connection = {
      withDeadline: <R>(_d: number | Date, fn: () => Promise<R>) => fn(),
      workflowService: {
        getSystemInfo: async () => ({ serverVersion: '1.32.0' }),
        describeNamespace: async () => {
          throw Object.assign(new Error('5 NOT_FOUND'), { details: 'Namespace tandem is not found.' });
        },
      },
    } as unknown as Parameters<typeof temporalHealth>[0];
    const health = await temporalHealth(connection, 'tandem');
    expect(health).toMatchObject({ ok: false, error: 'Namespace tandem is not found.' });
  });

  it('reports the server version when healthy', async () => {
    const connection = {
      withDeadline: <R>(_d: number | Date, fn: () => Promise<R>) => fn(),
      workflowService: { getSystemInfo: async () => ({ serverVersion: '1.32.0' }), describeNamespace: async () => ({}) },
    } as unknown as Parameters<typeof temporalHealth>[0];
    expect(await temporalHealth(connection, 'default')).toMatchObject({ ok: true, serverVersion: '1.32.0' });
  });
});
