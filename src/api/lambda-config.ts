/** A function version as Lambda's GetFunction / ListFunctions describe one (FunctionConfiguration). */
import { functionArn } from '../core/lambda.js';
import type { VersionRecord } from '../store/store.js';

/** Lambda's LastModified: 2024-01-02T03:04:05.000+0000 */
function lastModified(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

/** `qualifier`: as the caller named it (a version or an alias), for the ARN; none for the live version */
export function functionConfiguration(v: VersionRecord, region: string, qualifier?: string) {
  const m = v.manifest;
  return {
    FunctionName: v.function,
    FunctionArn: `${functionArn(region, v.function)}${qualifier === undefined ? '' : `:${qualifier}`}`,
    // Agni's runtime is an image or `host`; Lambda's enum does not describe it, so no name from it is borrowed.
    Runtime: m.runtime,
    Handler: m.command.join(' '),
    Description: m.description ?? '',
    Timeout: Math.ceil(m.limits.timeoutMs / 1000),
    MemorySize: Math.round(m.limits.memoryBytes / 1024 / 1024),
    Version: String(v.version),
    LastModified: lastModified(v.createdAt),
    CodeSize: 0,
    PackageType: 'Image',
    State: 'Active',
    LastUpdateStatus: 'Successful',
  };
}
