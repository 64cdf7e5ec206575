import type { EncryptionConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { registerSecret } from '../../connections/redact.js';
import type { DecryptOptions, EncryptOptions } from '../../streams/encrypt.js';
import { loadIdentities } from '../../streams/encrypt.js';
import type { ReadPipelineOptions } from '../../streams/pipeline.js';

/** Environment variables read when the config says nothing. */
export const IDENTITY_ENV = 'DBOPS_AGE_IDENTITY';
export const DEFAULT_PASSPHRASE_ENV = 'DBOPS_PASSPHRASE';

function passphraseFrom(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const value = env[name];
  if (value) registerSecret(value);
  return value || undefined;
}

/**
 * How a new backup is encrypted. `wanted` is --encrypt (true) / --no-encrypt (false) / neither.
 * Without a flag, a backup is encrypted when the config has recipients or a passphrase and does not
 * say `enabled: false`.
 */
export function resolveEncryptOptions(
  config: EncryptionConfig | undefined,
  wanted: boolean | undefined,
  env: NodeJS.ProcessEnv = process.env,
): EncryptOptions | null {
  if (wanted === false) return null;
  const recipients = config?.recipients ?? [];
  const passphraseEnv = config?.passphraseEnv;
  const configured = recipients.length > 0 || passphraseEnv !== undefined;
  if (wanted === undefined && (!configured || config?.enabled === false)) return null;
  if (recipients.length > 0) return { recipients };
  if (passphraseEnv !== undefined) {
    const passphrase = passphraseFrom(passphraseEnv, env);
    if (!passphrase) {
      throw new ConfigError(`encryption.passphraseEnv names ${passphraseEnv}, which is empty or not set`, {
        hint: `export ${passphraseEnv}=… (or use age recipients), or pass --no-encrypt`,
      });
    }
    return { passphrase };
  }
  throw new ConfigError(
    '--encrypt needs encryption.recipients (age1… public keys) or encryption.passphraseEnv in the config',
  );
}

/** What can open encrypted backups: an identity file (--identity, config, $DBOPS_AGE_IDENTITY) and/or a passphrase. */
export async function resolveReadOptions(
  config: EncryptionConfig | undefined,
  identityFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReadPipelineOptions> {
  const out: ReadPipelineOptions = { preferZstdBinary: false };
  const file = identityFile ?? config?.identityFile ?? env[IDENTITY_ENV];
  if (file) out.identities = await loadIdentities(file);
  for (const id of out.identities ?? []) registerSecret(id);
  const passphrase = passphraseFrom(config?.passphraseEnv ?? DEFAULT_PASSPHRASE_ENV, env);
  if (passphrase) out.passphrase = passphrase;
  return out;
}

/** The current key material as rekey needs it. */
export function currentDecryptOptions(read: ReadPipelineOptions): DecryptOptions {
  if (read.identities?.length) return { identities: read.identities };
  if (read.passphrase) return { passphrase: read.passphrase };
  throw new ConfigError('rekey needs the current identity (or passphrase) to open the headers', {
    hint: `pass --identity FILE, set encryption.identityFile or ${IDENTITY_ENV}`,
  });
}
