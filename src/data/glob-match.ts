/**
 * Redis's glob matcher (util.c stringmatchlen), ported line by line so KEYS and SCAN MATCH
 * accept exactly the patterns Redis accepts: `*`, `?`, `[abc]`, `[^a]`, `[a-z]` (reversed ranges
 * allowed), `\` escapes, an unterminated `[` matching to the end of the pattern.
 *
 * Both pattern and subject are binary strings (one byte per char, latin1). Reading one past the
 * end yields 0, as the C code reads the terminating NUL of an sds string. The recursion keeps
 * Redis's protections: nesting depth 1000 and "skip longer matches" so patterns like
 * "a*a*a*...b" stay linear-ish.
 */

function at(s: string, i: number, len: number): number {
  return i < len ? s.charCodeAt(i) : 0;
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

interface MatchState {
  skipLongerMatches: boolean;
}

function matchImpl(
  pattern: string, pStart: number, patternLen: number,
  str: string, sStart: number, stringLen: number,
  nocase: boolean, state: MatchState, nesting: number,
): boolean {
  if (nesting > 1000) return false;
  let p = pStart;
  let s = sStart;
  const pEnd = pStart + patternLen; // fixed end of the pattern (for the NUL emulation)
  const sEnd = sStart + stringLen;
  while (patternLen > 0 && stringLen > 0) {
    const pc = at(pattern, p, pEnd);
    switch (pc) {
      case 42: { // '*'
        while (patternLen > 0 && at(pattern, p + 1, pEnd) === 42) {
          p++;
          patternLen--;
        }
        if (patternLen === 1) return true;
        while (stringLen > 0) {
          if (matchImpl(pattern, p + 1, patternLen - 1, str, s, stringLen, nocase, state, nesting + 1)) return true;
          if (state.skipLongerMatches) return false;
          s++;
          stringLen--;
        }
        state.skipLongerMatches = true;
        return false;
      }
      case 63: // '?'
        s++;
        stringLen--;
        break;
      case 91: { // '['
        p++;
        patternLen--;
        const not = at(pattern, p, pEnd) === 94; // '^'
        if (not) {
          p++;
          patternLen--;
        }
        let match = false;
        const sc = at(str, s, sEnd);
        for (;;) {
          const c0 = at(pattern, p, pEnd);
          if (c0 === 92 && patternLen >= 2) { // '\'
            p++;
            patternLen--;
            if (at(pattern, p, pEnd) === sc) match = true;
          } else if (c0 === 93) { // ']'
            break;
          } else if (patternLen === 0) {
            p--;
            patternLen++;
            break;
          } else if (patternLen >= 3 && at(pattern, p + 1, pEnd) === 45) { // '-'
            let start = c0;
            let end = at(pattern, p + 2, pEnd);
            let c = sc;
            if (start > end) {
              const t = start;
              start = end;
              end = t;
            }
            if (nocase) {
              start = lower(start);
              end = lower(end);
              c = lower(c);
            }
            p += 2;
            patternLen -= 2;
            if (c >= start && c <= end) match = true;
          } else if (!nocase) {
            if (c0 === sc) match = true;
          } else if (lower(c0) === lower(sc)) {
            match = true;
          }
          p++;
          patternLen--;
        }
        if (not) match = !match;
        if (!match) return false;
        s++;
        stringLen--;
        break;
      }
      default: {
        if (pc === 92 && patternLen >= 2) { // '\' escapes the next char
          p++;
          patternLen--;
        }
        const a = at(pattern, p, pEnd);
        const b = at(str, s, sEnd);
        if (nocase ? lower(a) !== lower(b) : a !== b) return false;
        s++;
        stringLen--;
        break;
      }
    }
    p++;
    patternLen--;
    if (stringLen === 0) {
      while (at(pattern, p, pEnd) === 42) {
        p++;
        patternLen--;
      }
      break;
    }
  }
  return patternLen === 0 && stringLen === 0;
}

/** stringmatchlen(pattern, subject, nocase). */
export function globMatch(pattern: string, subject: string, nocase = false): boolean {
  return matchImpl(pattern, 0, pattern.length, subject, 0, subject.length, nocase, { skipLongerMatches: false }, 0);
}

/** True when the pattern matches everything (lets KEYS/SCAN skip matching). */
export function isMatchAll(pattern: string): boolean {
  return pattern === '*';
}
