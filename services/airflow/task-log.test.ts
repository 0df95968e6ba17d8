import { describe, expect, it } from 'vitest';
import { formatTaskLog } from './task-log.ts';

describe('formatTaskLog', () => {
  it('drops the source-details group and renders structured lines and exceptions', () => {
    const text = formatTaskLog({
      continuation_token: null,
      content: [
        { event: '::group::Log message source details' },
        { event: '/logs/attempt=1.log' },
        { event: '::endgroup::' },
        { event: 'Running command', timestamp: '2026-01-01T00:00:00Z', level: 'info' },
        {
          event: 'Task failed with exception',
          level: 'error',
          error_detail: [{ exc_type: 'ValueError', exc_value: 'boom', frames: [{ filename: 'dag.py', lineno: 3, name: 'run' }] }],
        },
        'plain line',
      ],
    });
    expect(text.split('\n')).toEqual([
      '2026-01-01T00:00:00Z INFO Running command',
      'ERROR Task failed with exception',
      'Traceback (most recent call last):',
      '  File "dag.py", line 3, in run',
      'ValueError: boom',
      'plain line',
    ]);
  });
});
