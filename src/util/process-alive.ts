import { readFileSync } from 'node:fs';

/**
 * When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat), or null
 * where there is no such process or no /proc. With the pid it names one process for good:
 * a pid can be reused, a (pid, start time) pair cannot.
 */
export function processStartTime(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // field 2, the command name, is in parentheses and may itself hold spaces and parentheses
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const t = Number(fields[19]);
  return Number.isInteger(t) ? t : null;
}

/**
 * Whether a process with this pid exists (EPERM: it exists but belongs to someone else). Given
 * the start time recorded with the pid, a process that now holds the pid but started at
 * another time is a different one, and the answer is false; without /proc it cannot be told.
 */
export function processAlive(pid: number, startTime?: number | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (startTime === undefined || startTime === null) return true;
  const now = processStartTime(pid);
  if (now === null) return processStartTime(process.pid) === null; // no /proc here: trust the pid
  return now === startTime;
}
