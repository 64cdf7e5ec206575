// Apart from run-tool.ts so that finding a tool does not load execa (~300 ms on a loaded machine).
/** What to install when a tool is missing. */
export function installHint(tool: string): string {
  if (/^(pg_|psql|initdb|postgres)/.test(tool)) {
    return 'install the PostgreSQL client tools: apt-get install postgresql-client (Debian/Ubuntu), brew install libpq (macOS), or set DBOPS_PG_BINDIR';
  }
  if (/^mongo/.test(tool)) {
    return 'install the MongoDB Database Tools (mongodb-database-tools) and put mongodump/mongorestore on PATH';
  }
  if (tool === 'zstd') return 'install zstd: apt-get install zstd (Debian/Ubuntu), brew install zstd (macOS)';
  return `install ${tool} and put it on PATH`;
}
