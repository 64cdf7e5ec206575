export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';

/** One line of the doctor's report. */
export interface DoctorCheck {
  /** Stable id, e.g. `connect.primary`, `tool.pg_dump`, `repository.probe`. */
  id: string;
  status: CheckStatus;
  message: string;
  hint?: string;
  /** For a failure: the exit code its kind of problem maps to (3 connect, 4 tool, 5 storage). */
  exitCode?: number;
  details?: Record<string, unknown>;
}

export interface DoctorTargetReport {
  name: string;
  engine: 'postgres' | 'mongodb';
  where: string;
  serverVersion?: string;
  checks: DoctorCheck[];
}

export interface DoctorRepositoryReport {
  name: string;
  type: string;
  location: string;
  checks: DoctorCheck[];
}

export interface DoctorReport {
  ok: boolean;
  /** The exit code of the most serious failure (0 when ok). */
  exitCode: number;
  targets: DoctorTargetReport[];
  repositories: DoctorRepositoryReport[];
  /** Machine-wide facts: compression implementation, dbops and node versions. */
  environment: DoctorCheck[];
}
