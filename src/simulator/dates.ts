/*
 * Date phrases ("yesterday", "last week", "on 2024-07-15" …) turned into a UTC range.
 *
 * Pure: the caller passes `now`, so tests pin the calendar and the simulator answers the
 * same way in every time zone. Ranges are whole UTC days with an inclusive end
 * (23:59:59.999), which reads correctly whether a server treats `until` as inclusive or
 * exclusive.
 */

export interface DateRange {
  /** First instant in the range, or none for "before …". */
  since?: Date;
  /** Last instant in the range (inclusive), or none for "since …". */
  until?: Date;
  /** How an answer names the period: "yesterday", "on 2024-07-15", "in the last 3 days". */
  label: string;
  /** The words of the message that named the period, so they can be cut from a search query. */
  matched: string;
}

const DAY_MS = 86_400_000;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** A month's name or its usual abbreviation, never a longer word that starts like one ("marketing"). */
const MONTH =
  '(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\\.?(?![a-z])';
const monthIndex = (name: string) => MONTHS.indexOf(name.slice(0, 3));
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const NUMBER_WORDS: Record<string, number> = {
  one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  a: 1, an: 1,
};

const startOfDay = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
const endOfDay = (d: Date) => new Date(startOfDay(d).getTime() + DAY_MS - 1);
const addDays = (d: Date, n: number) => new Date(d.getTime() + n * DAY_MS);

/** `text` matched literally inside a RegExp. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `YYYY-MM-DD` of a UTC instant. */
export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function day(d: Date, label: string, matched: string): DateRange {
  return { since: startOfDay(d), until: endOfDay(d), label, matched };
}

function parseCount(word: string): number | undefined {
  const n = /^\d+$/.test(word) ? Number(word) : NUMBER_WORDS[word];
  return n !== undefined && n > 0 && n <= 3660 ? n : undefined;
}

/** A calendar date written as 2024-07-15, "July 15[, 2024]" or "15 July [2024]"; undefined if none. */
function parseCalendarDate(text: string, now: Date): { date: Date; matched: string } | undefined {
  const iso = /\b(\d{4})-(\d{2})-(\d{2})\b/.exec(text);
  if (iso) {
    const date = new Date(Date.UTC(Number(iso[1]), Number(iso[2]) - 1, Number(iso[3])));
    if (!Number.isNaN(date.getTime()) && isoDay(date) === iso[0]) return { date, matched: iso[0] };
  }
  const monthFirst = new RegExp(`\\b${MONTH}\\s+(\\d{1,2})(?:st|nd|rd|th)?(?:,?\\s+(\\d{4}))?\\b`).exec(text);
  const dayFirst = new RegExp(`\\b(\\d{1,2})(?:st|nd|rd|th)?\\s+(?:of\\s+)?${MONTH}(?:,?\\s+(\\d{4}))?\\b`).exec(text);
  const parts = monthFirst
    ? { m: monthFirst[1]!, d: monthFirst[2]!, y: monthFirst[3], matched: monthFirst[0] }
    : dayFirst
      ? { m: dayFirst[2]!, d: dayFirst[1]!, y: dayFirst[3], matched: dayFirst[0] }
      : undefined;
  if (!parts) return undefined;
  const m = monthIndex(parts.m);
  const d = Number(parts.d);
  if (d < 1 || d > 31) return undefined;
  let y = parts.y ? Number(parts.y) : now.getUTCFullYear();
  let date = new Date(Date.UTC(y, m, d));
  // "March 3" said in February means last March: people ask about what they stored, which is past.
  if (!parts.y && date.getTime() > now.getTime()) date = new Date(Date.UTC((y -= 1), m, d));
  if (date.getUTCDate() !== d) return undefined;
  return { date, matched: parts.matched };
}

/**
 * The period a message names, or undefined when it names none. Recognised (case-insensitive):
 * today, yesterday, the day before yesterday, N days ago, last/past week, this week,
 * last/past N days|weeks, this/last month, in <month> [year], this/last year, (last|on) monday…sunday,
 * on/since/before/after a date (2024-07-15, July 15, 15 July 2024), between/from DATE and/to DATE.
 */
export function parseDateRange(text: string, now: Date): DateRange | undefined {
  const t = text.toLowerCase();
  const today = startOfDay(now);

  let m: RegExpExecArray | null;
  // Before the "before DATE" rule, which would otherwise read this as "before yesterday".
  if ((m = /\b(?:the\s+)?day\s+before\s+yesterday\b/.exec(t))) return day(addDays(today, -2), 'the day before yesterday', m[0]);

  const between = /\b(?:between|from)\s+(.+?)\s+(?:and|to|until|till)\s+(.+?)(?=[?.!,;]|$)/.exec(t);
  if (between) {
    const a = parseCalendarDate(between[1]!, now);
    const b = parseCalendarDate(between[2]!, now);
    if (a && b) {
      return {
        since: startOfDay(a.date),
        until: endOfDay(b.date),
        label: `between ${isoDay(a.date)} and ${isoDay(b.date)}`,
        matched: between[0],
      };
    }
  }

  const bound = /\b(since|after|before|until|till)\s+/.exec(t);
  if (bound) {
    const rest = t.slice(bound.index + bound[0].length);
    const relative = parseDateRange(rest, now);
    const at = relative?.since ? { date: relative.since, matched: relative.matched } : parseCalendarDate(rest, now);
    if (at && rest.startsWith(at.matched.split(/\s/)[0] ?? '')) {
      const matched = bound[0] + at.matched;
      const named = relative && /^(?:yesterday|today)$/.test(relative.label) ? relative.label : isoDay(at.date);
      const label = `${bound[1]} ${named}`;
      switch (bound[1]) {
        case 'since':
          return { since: startOfDay(at.date), until: endOfDay(now), label, matched };
        case 'after':
          return { since: addDays(startOfDay(at.date), 1), until: endOfDay(now), label, matched };
        default:
          return { until: new Date(startOfDay(at.date).getTime() - 1), label, matched };
      }
    }
  }

  if ((m = /\byesterday\b/.exec(t))) return day(addDays(today, -1), 'yesterday', m[0]);
  if ((m = /\b(?:today|this\s+morning|this\s+afternoon|this\s+evening|tonight)\b/.exec(t))) return day(today, 'today', m[0]);
  if ((m = /\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|a|an)\s+(day|week)s?\s+ago\b/.exec(t))) {
    const n = parseCount(m[1]!);
    if (n !== undefined) {
      const days = m[2] === 'week' ? n * 7 : n;
      return day(addDays(today, -days), `${n} ${m[2]}${n === 1 ? '' : 's'} ago`, m[0]);
    }
  }
  if ((m = /\b(?:in\s+the\s+)?(?:last|past)\s+(\d+|two|three|four|five|six|seven|eight|nine|ten)\s+(day|week)s?\b/.exec(t))) {
    const n = parseCount(m[1]!);
    if (n !== undefined) {
      const days = m[2] === 'week' ? n * 7 : n;
      return { since: addDays(today, -(days - 1)), until: endOfDay(now), label: `in the last ${n} ${m[2]}s`, matched: m[0] };
    }
  }
  if ((m = /\b(?:last|past|previous)\s+week\b/.exec(t))) {
    return { since: addDays(today, -6), until: endOfDay(now), label: 'in the last week', matched: m[0] };
  }
  if ((m = /\bthis\s+week\b/.exec(t))) {
    const sinceMonday = (today.getUTCDay() + 6) % 7;
    return { since: addDays(today, -sinceMonday), until: endOfDay(now), label: 'this week', matched: m[0] };
  }
  if ((m = /\bthis\s+month\b/.exec(t))) {
    return { since: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), until: endOfDay(now), label: 'this month', matched: m[0] };
  }
  if ((m = /\b(?:last|previous)\s+month\b/.exec(t))) {
    const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    return { since: first, until: new Date(next.getTime() - 1), label: 'last month', matched: m[0] };
  }
  if ((m = new RegExp(`\\bin\\s+${MONTH}(?:\\s+(\\d{4}))?(?![\\w-])`).exec(t))) {
    const month = monthIndex(m[1]!);
    let year = m[2] ? Number(m[2]) : now.getUTCFullYear();
    // "in August" said in July means last August, as with "on August 1".
    if (!m[2] && month > now.getUTCMonth()) year -= 1;
    const first = new Date(Date.UTC(year, month, 1));
    const next = new Date(Date.UTC(year, month + 1, 1));
    const label = `in ${first.toLocaleString('en', { month: 'long', timeZone: 'UTC' })} ${year}`;
    return { since: first, until: new Date(Math.min(next.getTime(), endOfDay(now).getTime() + 1) - 1), label, matched: m[0] };
  }
  if ((m = /\bthis\s+year\b/.exec(t))) {
    return { since: new Date(Date.UTC(now.getUTCFullYear(), 0, 1)), until: endOfDay(now), label: 'this year', matched: m[0] };
  }
  if ((m = /\b(?:last|previous)\s+year\b/.exec(t))) {
    const y = now.getUTCFullYear() - 1;
    return { since: new Date(Date.UTC(y, 0, 1)), until: new Date(Date.UTC(y + 1, 0, 1) - 1), label: 'last year', matched: m[0] };
  }
  if ((m = /\b(last|on|this\s+past)\s+(sunday|monday|tuesday|wednesday|thursday|friday|saturday)\b/.exec(t))) {
    const wanted = WEEKDAYS.indexOf(m[2]!);
    let back = (today.getUTCDay() - wanted + 7) % 7;
    // "last Monday" said on a Monday means a week ago; "on Monday" said on a Monday means today.
    if (back === 0 && m[1] && m[1] !== 'on') back = 7;
    return day(addDays(today, -back), `on ${m[2]![0]!.toUpperCase()}${m[2]!.slice(1)} ${isoDay(addDays(today, -back))}`, m[0]);
  }
  const calendar = parseCalendarDate(t, now);
  if (calendar) {
    const on = new RegExp(`\\bon\\s+${escapeRegExp(calendar.matched)}`).exec(t);
    return day(calendar.date, `on ${isoDay(calendar.date)}`, on?.[0] ?? calendar.matched);
  }
  return undefined;
}
