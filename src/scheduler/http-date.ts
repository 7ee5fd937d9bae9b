// HTTP-dates (RFC 9110 §5.6.7) read strictly, always as UTC: a webhook receiver's Retry-After and Date.

const monthNames = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
// The three forms of RFC 9110 §5.6.7, whole and nothing else (names in any case): Date.parse alone took "Mon 1",
// "Sunday foo 2025", 31 Feb, numeric offsets, and the asctime form in the local time zone.
const imfFixdate = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
const rfc850Date = /^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
const asctimeDate = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i;

/** An HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms), always UTC, as epoch ms; else null. */
export function httpDateMsOf(text: string, nowMs: number): number | null {
  let m = imfFixdate.exec(text);
  if (m !== null) return utcMsOf(Number(m[3]), m[2], Number(m[1]), m.slice(4));
  m = rfc850Date.exec(text);
  if (m !== null) {
    // A two-digit year more than 50 years ahead is the last such year in the past (RFC 9110 §5.6.7).
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = nowYear - (nowYear % 100) + Number(m[3]);
    if (year > nowYear + 50) year -= 100;
    else if (year <= nowYear - 50) year += 100;
    return utcMsOf(year, m[2], Number(m[1]), m.slice(4));
  }
  m = asctimeDate.exec(text);
  if (m !== null) return utcMsOf(Number(m[6]), m[1], Number(m[2]), m.slice(3, 6));
  return null;
}

/** Epoch ms of a calendar date and a time of day; null for a day the month lacks or an hour out of range. */
function utcMsOf(year: number, monthName: string | undefined, day: number, time: readonly (string | undefined)[]): number | null {
  const month = monthNames.indexOf(monthName?.toLowerCase() ?? '');
  const [hour, minute, second] = time.map(Number) as [number, number, number];
  // Second 60 is a leap second (RFC 9110 §5.6.7); it reads as the next minute's first.
  if (month < 0 || hour > 23 || minute > 59 || second > 60) return null;
  const midnight = new Date(0);
  midnight.setUTCFullYear(year, month, day); // not Date.UTC, which would read years 0-99 as 1900-1999
  if (midnight.getUTCFullYear() !== year || midnight.getUTCMonth() !== month || midnight.getUTCDate() !== day) return null;
  return midnight.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
}
