/**
 * How the Lambda Invoke API names a function: `NAME`, `NAME:QUALIFIER`, a partial ARN
 * `ACCOUNT:function:NAME[:QUALIFIER]` or a full ARN
 * `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, plus an optional `?Qualifier=`
 * that must agree with one in the name. Pure: strings in, a name and qualifier (or an error naming
 * the field) out.
 */
import { AgniError } from './errors.js';
import { NAME_RE } from './manifest.js';

/** Lambda's qualifier syntax: $LATEST, a version number or an alias name */
const QUALIFIER_RE = /^(\$LATEST|[a-zA-Z0-9_-]{1,128})$/;

export interface LambdaTarget {
  name: string;
  /** as written ($LATEST, a version number, an alias); undefined: the live version */
  qualifier?: string;
}

function bad(message: string, field: string): AgniError {
  return new AgniError('bad_request', message, {
    hint: 'name the function as NAME, NAME:QUALIFIER or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]',
    details: { field },
  });
}

function checkQualifier(q: string, field: string): string {
  if (!QUALIFIER_RE.test(q))
    throw bad(`${field}: ${JSON.stringify(q)}: expected $LATEST, a version number or an alias name`, field);
  return q;
}

/** The function a path's `{FunctionName}` and the `Qualifier` query name together. */
export function parseLambdaTarget(functionName: string, queryQualifier?: string): LambdaTarget {
  const parts = functionName.split(':');
  let rest: string[];
  if (parts[0] === 'arn') {
    // arn : partition : lambda : region : account : function : name [: qualifier]
    if (parts.length < 7 || parts.length > 8 || parts[2] !== 'lambda' || parts[5] !== 'function')
      throw bad(`FunctionName: ${JSON.stringify(functionName)} is not a Lambda function ARN`, 'FunctionName');
    rest = parts.slice(6);
  } else if (parts.length >= 3 && parts[1] === 'function') {
    if (parts.length > 4)
      throw bad(
        `FunctionName: ${JSON.stringify(functionName)} is not a partial function ARN`,
        'FunctionName',
      );
    rest = parts.slice(2);
  } else if (parts.length <= 2) {
    rest = parts;
  } else {
    throw bad(`FunctionName: ${JSON.stringify(functionName)} is not a function name or ARN`, 'FunctionName');
  }
  const name = rest[0] ?? '';
  if (!NAME_RE.test(name))
    throw bad(
      `FunctionName: ${JSON.stringify(name)} is not an Agni function name (lowercase letters, digits and dashes, at most 63)`,
      'FunctionName',
    );
  const inName = rest[1] === undefined ? undefined : checkQualifier(rest[1], 'FunctionName');
  const inQuery =
    queryQualifier === undefined || queryQualifier === ''
      ? undefined
      : checkQualifier(queryQualifier, 'Qualifier');
  if (inName !== undefined && inQuery !== undefined && inName !== inQuery)
    throw bad(
      `Qualifier: the qualifier in the function name (${inName}) does not match the Qualifier parameter (${inQuery})`,
      'Qualifier',
    );
  const qualifier = inName ?? inQuery;
  return qualifier === undefined ? { name } : { name, qualifier };
}
