/** For commands whose result carries its own verdict (doctor, analyze gates, verify). */
export function setExitCode(code: number): void {
  if (code !== 0) process.exitCode = code;
}
