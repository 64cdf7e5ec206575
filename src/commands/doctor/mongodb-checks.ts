import { withMongo } from '../../connections/mongodb/client.js';
import { redactUrl } from '../../connections/redact.js';
import type { ResolvedMongodbTarget } from '../../connections/target.js';
import { ExitCode } from '../../errors.js';
import { findMongoTool } from '../../tools/find-tool.js';
import { failureCheck } from './postgres-checks.js';
import type { DoctorTargetReport } from './types.js';

export async function checkMongoTarget(target: ResolvedMongodbTarget): Promise<DoctorTargetReport> {
  const report: DoctorTargetReport = {
    name: target.name,
    engine: 'mongodb',
    where: redactUrl(target.url),
    checks: [],
  };
  try {
    await withMongo(target, async (m) => {
      const admin = m.client.db('admin');
      const build = await admin.command({ buildInfo: 1 });
      const hello = await admin.command({ hello: 1 });
      report.serverVersion = String(build.version);
      report.checks.push({
        id: 'connect.primary',
        status: 'ok',
        message: `connected, MongoDB ${build.version}${hello.setName ? `, replica set ${hello.setName}` : ', standalone'}`,
        details: { replicaSet: hello.setName ?? null, isWritablePrimary: Boolean(hello.isWritablePrimary) },
      });
    });
  } catch (err) {
    report.checks.push(failureCheck('connect.primary', err, ExitCode.connection));
  }
  for (const tool of ['mongodump', 'mongorestore'] as const) {
    try {
      const found = await findMongoTool(tool);
      report.checks.push({
        id: `tool.${tool}`,
        status: 'ok',
        message: `${tool} ${found.version} (${found.path})`,
      });
    } catch (err) {
      report.checks.push(failureCheck(`tool.${tool}`, err, ExitCode.tool));
    }
  }
  return report;
}
