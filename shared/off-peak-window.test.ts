import { describe, expect, it } from 'vitest';
import { convertWallClock, insideWindow, isKnownTimeZone, minuteOfDayIn, minutesOf, windowStatus } from './off-peak-window.ts';

describe('off-peak windows in a time zone', () => {
  it('reads the wall clock of a zone, daylight saving included', () => {
    expect(minuteOfDayIn(new Date('2026-01-15T12:30:00Z'), 'Europe/Paris')).toBe(minutesOf('13:30'));
    expect(minuteOfDayIn(new Date('2026-07-15T12:30:00Z'), 'Europe/Paris')).toBe(minutesOf('14:30'));
    expect(isKnownTimeZone('America/New_York')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus')).toBe(false);
  });

  it('tells inside from outside, wrapping past midnight', () => {
    const night = { start: '22:00', end: '06:00' };
    expect(insideWindow(minutesOf('23:59'), night)).toBe(true);
    expect(insideWindow(minutesOf('05:59'), night)).toBe(true);
    expect(insideWindow(minutesOf('06:00'), night)).toBe(false);
    expect(insideWindow(minutesOf('21:59'), night)).toBe(false);
    // Start = end: the whole day (a tenant with no peak hours).
    for (const m of [0, 720, 1439]) expect(insideWindow(m, { start: '08:00', end: '08:00' })).toBe(true);
  });

  it('says when a closed window opens, in the zone’s own time', () => {
    const w = { start: '22:00', end: '06:00', timezone: 'Europe/Paris' };
    // 14:10 in Paris (UTC+2 in summer): opens at 22:00 Paris = 20:00 UTC.
    expect(windowStatus(w, new Date('2026-07-15T12:10:30Z'))).toEqual({ inside: false, opensAt: new Date('2026-07-15T20:00:00Z') });
    expect(windowStatus(w, new Date('2026-07-15T21:00:00Z'))).toEqual({ inside: true, closesAt: new Date('2026-07-16T04:00:00Z') });
  });

  it('counts a daylight-saving change between now and the opening', () => {
    // Paris goes from UTC+2 to UTC+1 at 03:00 on 25 Oct 2026: 22:00 on the 25th is 21:00 UTC.
    const w = { start: '22:00', end: '23:00', timezone: 'Europe/Paris' };
    expect(windowStatus(w, new Date('2026-10-24T21:30:00Z'))).toEqual({ inside: false, opensAt: new Date('2026-10-25T21:00:00Z') });
  });

  it('converts a wall-clock time between zones on a given day', () => {
    expect(convertWallClock(minutesOf('02:00'), 'UTC', 'Europe/Paris', new Date('2026-01-15T00:00:00Z'))).toBe(minutesOf('03:00'));
    expect(convertWallClock(minutesOf('02:00'), 'UTC', 'Europe/Paris', new Date('2026-07-15T00:00:00Z'))).toBe(minutesOf('04:00'));
    expect(convertWallClock(minutesOf('23:30'), 'America/New_York', 'UTC', new Date('2026-01-15T00:00:00Z'))).toBe(minutesOf('04:30'));
  });
});
