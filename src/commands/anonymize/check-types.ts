/** Result of `anonymize check`, shared by the engines and the report formats. */
export interface CheckProblem {
  kind: 'unclassified' | 'missing-table' | 'missing-column' | 'bad-rule';
  table: string;
  column?: string;
  type?: string;
  message: string;
  /** Suggested rule (YAML) for unclassified columns. */
  suggestion?: string;
  /** Likely personal data: email, phone, name, address, ip, ssn, birth, iban, card, token, password. */
  pii?: string;
}

export interface CheckResult {
  engine: 'postgres' | 'mongodb';
  target: string;
  ok: boolean;
  tables: number;
  columns: number;
  classified: number;
  problems: CheckProblem[];
  /** Rule upgrades a masked copy will apply (unique → permute, FK inheritance); warnings. */
  notes: string[];
}
