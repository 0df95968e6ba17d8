/**
 * Off-peak windows as wall-clock time in a time zone: a daily [start, end) of local time, where an
 * end before the start wraps past midnight. The pipeline lint (are a GPU pipeline's cron times
 * inside its department's window?), the API (refuse a GPU batch at peak time?) and the gpu.batch
 * workflow (how long to sleep until the window opens?) all ask these questions, so they are
 * answered once, here. Pure: `Intl` only, so workflow code may import it (the sandbox has ICU, and
 * the times it passes in are the workflow's deterministic clock).
 */

/** `HH:MM`, 00:00–23:59. */
export type ClockTime = string;

export interface ZonedWindow {
  start: ClockTime;
  end: ClockTime;
  /** IANA time zone, e.g. `Europe/Paris`. */
  timezone: string;
}

export const minutesOf = (hhmm: ClockTime): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
export const clockOf = (minutes: number): ClockTime =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** [start, end), wrapping past midnight when end < start. */
export function insideWindow(minuteOfDay: number, window: { start: ClockTime; end: ClockTime }): boolean {
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  return start < end ? minuteOfDay >= start && minuteOfDay < end : minuteOfDay >= start || minuteOfDay < end;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True for a time zone name this runtime knows (`UTC`, `Europe/Paris`, …). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    formatterOf(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock minute of the day (0–1439) of `instant` in `timeZone`. */
export function minuteOfDayIn(instant: Date, timeZone: string): number {
  const parts = formatterOf(timeZone).formatToParts(instant);
  const hour = Number(parts.find((p) => p.type === 'hour')?.value);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value);
  return hour * 60 + minute;
}

export type WindowStatus = { inside: true; closesAt: Date } | { inside: false; opensAt: Date };

/** Minutes from wall-clock minute `from` forward to `to`, 1–1440 (a full day when they are equal). */
const minutesForward = (from: number, to: number) => ((to - from + 1440 - 1) % 1440) + 1;

/**
 * The first instant after `now` at which the wall clock of `timeZone` reads `target`: counted in
 * minutes on today's offset, then corrected once by what the clock really reads there, so a
 * daylight-saving change in between moves the answer by its hour. (On the one night a year the
 * target time does not exist, the correction lands on the hour after it.)
 */
function nextWallClock(now: Date, target: number, timeZone: string): Date {
  const minuteStart = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const guess = new Date(minuteStart.getTime() + minutesForward(minuteOfDayIn(now, timeZone), target) * 60_000);
  const off = minuteOfDayIn(guess, timeZone) - target;
  const correction = off > 720 ? off - 1440 : off < -720 ? off + 1440 : off;
  const corrected = new Date(guess.getTime() - correction * 60_000);
  return corrected.getTime() > now.getTime() ? corrected : guess;
}

/** Whether `now` is inside the window, and when it next closes or opens. */
export function windowStatus(window: ZonedWindow, now: Date): WindowStatus {
  const minute = minuteOfDayIn(now, window.timezone);
  if (insideWindow(minute, window)) return { inside: true, closesAt: nextWallClock(now, minutesOf(window.end), window.timezone) };
  return { inside: false, opensAt: nextWallClock(now, minutesOf(window.start), window.timezone) };
}

/**
 * The wall-clock minute in `to` of wall-clock minute `minute` in `from`, on the day of `reference`
 * (offsets between zones change with daylight saving, so the answer depends on the date).
 */
export function convertWallClock(minute: number, from: string, to: string, reference: Date): number {
  if (from === to) return minute;
  // The instant of `minute` in `from` on that day: start at the reference's UTC midnight plus the
  // minute, then shift by how far `from`'s clock reads from it (twice, for a DST edge).
  const midnight = Date.UTC(reference.getUTCFullYear(), reference.getUTCMonth(), reference.getUTCDate());
  let instant = midnight + minute * 60_000;
  for (let i = 0; i < 2; i += 1) {
    let off = minuteOfDayIn(new Date(instant), from) - minute;
    if (off > 720) off -= 1440;
    if (off < -720) off += 1440;
    instant -= off * 60_000;
  }
  return minuteOfDayIn(new Date(instant), to);
}
