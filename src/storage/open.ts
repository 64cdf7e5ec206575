import type { RepositoryConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { LocalRepository } from './local.js';
import type { Repository } from './repository.js';

/**
 * Opens the repository described by `config`. The S3 backend (and with it the AWS SDK) is imported
 * only when an S3 repository is opened, so local-only runs start fast.
 */
export async function openRepository(
  name: string,
  config: RepositoryConfig,
  logger?: Logger,
): Promise<Repository> {
  switch (config.type) {
    case 'local':
      return new LocalRepository(name, config, { logger });
    case 's3': {
      const { S3Repository } = await import('./s3.js');
      return S3Repository.create(name, config, { logger });
    }
  }
}

/** Runs `fn` with the opened repository and closes it afterwards, also when `fn` throws. */
export async function withRepository<T>(
  name: string,
  config: RepositoryConfig,
  fn: (repository: Repository) => Promise<T>,
  logger?: Logger,
): Promise<T> {
  const repository = await openRepository(name, config, logger);
  try {
    return await fn(repository);
  } finally {
    await repository.close();
  }
}
